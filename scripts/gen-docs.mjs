#!/usr/bin/env node
// Writes docs/resources.md and docs/cli.md from the built code (run after `npm run build`).
// `--check` writes nothing and exits 1 when either is stale.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cliDocs, resourceDocs } from '../dist/cli/docs.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');
const outputs = { 'docs/resources.md': resourceDocs(), 'docs/cli.md': await cliDocs() };
const stale = Object.entries(outputs).filter(([f, text]) => !existsSync(join(root, f)) || readFileSync(join(root, f), 'utf8') !== text).map(([f]) => f);
if (check) {
  if (stale.length) {
    console.error(`stale: ${stale.join(', ')}; run \`npm run gen:docs\``);
    process.exit(1);
  }
} else {
  for (const f of stale) writeFileSync(join(root, f), outputs[f]);
  console.log(stale.length ? `wrote ${stale.join(', ')}` : 'docs are up to date');
}
