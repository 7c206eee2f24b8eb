// The prose docs describe the code, so they are checked against it:
//  - every converge command and --flag they mention exists in the yargs
//    definitions (the same help text docs/cli.md is made from), for that
//    command when the line names one; flags of `npm run demo` exist in
//    scripts/demo.mjs;
//  - every example file they show under a path comment (`# states/web.yaml`,
//    `# inventory.yaml`, `{# states/x.j2 #}`) is written into a tree per doc,
//    and that tree must pass `converge validate` and the editor schemas.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { cliDocs } from '../../src/cli/docs.js';
import { COMMANDS } from '../../src/cli/main.js';
import { SCHEMAS_DIR } from '../../src/state/schemas.js';
import { runCli } from './run-cli.js';
import { writeTree } from './tree.js';

const ROOT = join(SCHEMAS_DIR, '..');
// Prose docs only: resources.md and cli.md are generated from the code (and quote other tools' flags in schema descriptions).
const GENERATED = ['resources.md', 'cli.md'];
const DOCS = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md') && !GENERATED.includes(f)).map((f) => `docs/${f}`)];
const read = (f: string) => readFileSync(join(ROOT, f), 'utf8');
const FLAG = /(?<![\w-])--[a-z][a-z-]*/g;

/** Other programs whose flags the docs may show: a command line or code span starting with one is not converge's. */
const OTHER_TOOLS = /^(\$ )?(sudo )?(ansible|ansible-playbook|salt|salt-call|salt-ssh|apt-get|apt|dpkg|flock|ssh|ssh-keygen|ssh-keyscan|docker|git|curl|bash|sh|systemctl|npm (ci|install|test|link)|node|alias|cat|sed|grep|echo|mkdir|cd|export|sudo -i|tmux|chromium)\b/;

/** Command lines and code spans of a markdown text, with the line they are on. */
function snippets(text: string): { code: string; line: number }[] {
  const out: { code: string; line: number }[] = [];
  let fence: string | undefined;
  text.split('\n').forEach((l, i) => {
    const f = /^(```|~~~)(\S*)/.exec(l);
    if (f) {
      fence = fence ? undefined : f[2] || 'text';
      return;
    }
    if (fence) {
      // Shell blocks: one command per line (comments after # dropped); other blocks have no commands.
      if (['sh', 'bash', 'shell', 'console', 'text'].includes(fence)) out.push({ code: l.replace(/\s+#\s.*$/, '').trim(), line: i + 1 });
      return;
    }
    for (const m of l.matchAll(/`([^`]+)`/g)) out.push({ code: m[1].trim(), line: i + 1 });
  });
  return out;
}

describe('prose docs name only what the code has', () => {
  const options = new Map<string, Set<string>>();
  const all = new Set<string>();
  let demoFlags: Set<string>;
  beforeAll(async () => {
    // Each command's section of the generated CLI reference lists its options.
    const ref = await cliDocs();
    for (const c of COMMANDS) {
      const section = ref.split(`## converge ${c}\n`)[1].split('\n## ')[0];
      const flags = new Set(section.match(FLAG) ?? []);
      options.set(c, flags);
      flags.forEach((f) => all.add(f));
    }
    demoFlags = new Set([...read('scripts/demo.mjs').matchAll(/args\.(?:includes|indexOf)\('(--[a-z-]+)'\)/g)].map((m) => m[1]));
  });

  it.each(DOCS)('%s: commands and flags exist', (doc) => {
    const problems: string[] = [];
    for (const { code, line } of snippets(read(doc))) {
      const where = `${doc}:${line}: \`${code}\``;
      const cmd = /(?:^|\s|\()(?:npx )?converge\s+([a-z][\w-]*)/.exec(code);
      if (cmd && !COMMANDS.includes(cmd[1])) problems.push(`${where}: no command "converge ${cmd[1]}"`);
      const flags = code.match(FLAG) ?? [];
      if (!flags.length) continue;
      if (/npm run demo/.test(code)) {
        for (const f of flags.filter((f) => code.indexOf(f) > code.indexOf(' -- '))) if (!demoFlags.has(f)) problems.push(`${where}: scripts/demo.mjs has no ${f}`);
      } else if (cmd && COMMANDS.includes(cmd[1])) {
        for (const f of flags) if (!options.get(cmd[1])!.has(f)) problems.push(`${where}: converge ${cmd[1]} has no ${f}`);
      } else if (!OTHER_TOOLS.test(code)) {
        for (const f of flags) if (!all.has(f) && !demoFlags.has(f)) problems.push(`${where}: neither converge nor the demo has ${f}`);
      }
    }
    expect(problems).toEqual([]);
  });
});

/** Example files of a doc: fenced blocks whose first line is a path comment. */
function exampleFiles(text: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const m of text.matchAll(/^```[a-z0-9]*\n(?:# |\{# )((?:states\/)?[\w/.-]+\.(?:yaml|j2))(?: #\})?\n([\s\S]*?)^```$/gm)) {
    const [, name, body] = m;
    if (files[name] !== undefined) throw new Error(`${name} is shown twice; show it once, or under another name`);
    files[name] = body;
  }
  return files;
}

describe('example files in the docs are valid converge input', () => {
  const docs = DOCS.filter((d) => Object.keys(exampleFiles(read(d))).some((f) => f === 'inventory.yaml'));

  it('the docs with examples are found', () => {
    expect(docs).toEqual(expect.arrayContaining(['docs/getting-started.md', 'docs/state-language.md', 'docs/migrating-from-salt.md']));
  });

  it.each(docs)('%s: its example tree validates, as converge and as an editor sees it', async (doc) => {
    const files = exampleFiles(read(doc));
    const dir = writeTree(files);
    // Secrets the example reads from the environment get a stand-in value.
    const names = [...files['inventory.yaml'].matchAll(/\{ env: (\w+) \}/g)].map((m) => m[1]).filter((n) => process.env[n] === undefined);
    names.forEach((n) => (process.env[n] = 'stand-in secret'));
    try {
      const r = await runCli(['validate', '-i', join(dir, 'inventory.yaml')]);
      expect(r.stderr, `${doc}: ${Object.keys(files).join(', ')}`).toBe('');
      expect(r.code).toBe(0);
      // Every example state is in the top file's reach, or validate would not have checked it.
      const shown = new Set<string>();
      for (const host of Object.keys(parse(files['inventory.yaml']).hosts)) {
        const s = await runCli(['show', host, '-i', join(dir, 'inventory.yaml')]);
        for (const m of s.stdout.matchAll(/^ {2}from: \S*?(states\/[\w/.-]+\.yaml):\d+$/gm)) shown.add(m[1]);
      }
      const states = Object.keys(files).filter((f) => f.endsWith('.yaml') && f.startsWith('states/') && f !== 'states/top.yaml');
      expect(states.filter((f) => !shown.has(f)), `${doc}: example states no host gets`).toEqual([]);
    } finally {
      names.forEach((n) => delete process.env[n]);
    }
    const ajv = new Ajv({ allErrors: true, strict: false });
    for (const f of readdirSync(join(SCHEMAS_DIR, 'resources'))) ajv.addSchema(JSON.parse(readFileSync(join(SCHEMAS_DIR, 'resources', f), 'utf8')), `resources/${f}`);
    for (const [name, text] of Object.entries(files).filter(([n]) => n.endsWith('.yaml'))) {
      const schema = name === 'inventory.yaml' ? 'inventory' : name === 'states/top.yaml' ? 'top' : 'state';
      const validate = ajv.compile(JSON.parse(readFileSync(join(SCHEMAS_DIR, `${schema}.schema.json`), 'utf8')));
      expect(validate(parse(text)), `${doc}: ${name}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
  });
});
