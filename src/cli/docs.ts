// Reference docs made from the code, so they cannot drift from it:
// docs/resources.md from the resource schemas (with their examples) and
// docs/cli.md from the yargs definitions. `npm run gen:docs` writes them;
// a unit test fails when they are stale.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { SCHEMAS_DIR } from '../state/schemas.js';
import { buildCli, COMMANDS } from './main.js';

interface PropSchema {
  $ref?: string;
  properties?: Record<string, PropSchema>;
  required?: string[];
  type?: string | string[];
  enum?: unknown[];
  description?: string;
  default?: unknown;
  items?: PropSchema;
  pattern?: string;
  oneOf?: PropSchema[];
}

function typeOf(p: PropSchema): string {
  if (p.enum) return p.enum.map((v) => JSON.stringify(v)).join(' | ');
  if (p.oneOf) return p.oneOf.map(typeOf).join(' or ');
  if (p.type === 'array') return `list of ${p.items ? typeOf(p.items) : 'values'}`;
  return Array.isArray(p.type) ? p.type.join(' or ') : (p.type ?? 'any');
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** Follow a local "#/definitions/x" reference. */
function deref(p: PropSchema, root: { definitions?: Record<string, PropSchema> }): PropSchema {
  return p.$ref?.startsWith('#/definitions/') ? (root.definitions?.[p.$ref.slice('#/definitions/'.length)] ?? p) : p;
}

/** One table row per field, nested objects and lists of objects as name.sub and name[].sub. */
function fieldRows(s: PropSchema, prefix: string, root: { definitions?: Record<string, PropSchema> }): string[] {
  const rows: string[] = [];
  for (const [name, raw] of Object.entries(s.properties ?? {})) {
    const p = deref(raw, root);
    const items = p.items ? deref(p.items, root) : undefined;
    rows.push(`| \`${prefix}${name}\` | ${cell(items?.properties ? 'list of objects' : p.properties ? 'object' : typeOf(p))} | ${s.required?.includes(name) ? 'yes' : ''} | ${p.default === undefined ? '' : `\`${JSON.stringify(p.default)}\``} | ${cell(p.description ?? '')} |`);
    if (p.properties) rows.push(...fieldRows(p, `${prefix}${name}.`, root));
    if (items?.properties) rows.push(...fieldRows(items, `${prefix}${name}[].`, root));
  }
  return rows;
}

export function resourceDocs(): string {
  const kinds = readdirSync(join(SCHEMAS_DIR, 'resources')).filter((f) => f.endsWith('.schema.json')).sort();
  const out = [
    '# Resource reference',
    '',
    '<!-- GENERATED from schemas/resources by `npm run gen:docs`: do not edit. -->',
    '',
    'Every entry of a state file holds exactly one of these resource types, plus requisites (`require`, `watch`, `onchanges`, `before`, and `require_in`, `watch_in`, `onchanges_in` declared on the other side), `for_each`, `when` and `rolling` (see docs/state-language.md#rolling-changes-behind-a-load-balancer). Editors complete and check them through `schemas/state.schema.json`.',
    '',
    kinds.map((f) => `[${f.replace('.schema.json', '')}](#${f.replace('.schema.json', '').replace(/_/g, '_')})`).join(' · '),
  ];
  for (const f of kinds) {
    const kind = f.replace('.schema.json', '');
    const s = JSON.parse(readFileSync(join(SCHEMAS_DIR, 'resources', f), 'utf8')) as PropSchema & { examples?: unknown[]; definitions?: Record<string, PropSchema> };
    out.push('', `## ${kind}`, '', s.description ?? '', '', '| field | type | required | default | description |', '|---|---|---|---|---|');
    out.push(...fieldRows(s, '', s));
    for (const [i, ex] of (s.examples ?? []).entries()) {
      out.push('', '```yaml', stringify({ resources: { [`example-${kind.replace(/_/g, '-')}${i ? `-${i + 1}` : ''}`]: { [kind]: ex } } }, { lineWidth: 0 }).trimEnd(), '```');
    }
  }
  return out.join('\n') + '\n';
}

function helpOf(args: string[]): Promise<string> {
  const { cli } = buildCli([]);
  cli.wrap(100);
  return new Promise((resolve) => cli.parse(args, {}, (_err: unknown, _argv: unknown, output: string) => resolve(output)));
}

export async function cliDocs(): Promise<string> {
  const saved = process.env.CONVERGE_INVENTORY;
  delete process.env.CONVERGE_INVENTORY;
  try {
    const out = ['# CLI reference', '', '<!-- GENERATED from the yargs definitions by `npm run gen:docs`: do not edit. -->', '', '```', (await helpOf(['--help'])).trimEnd(), '```'];
    for (const c of COMMANDS) out.push('', `## converge ${c}`, '', '```', (await helpOf([c, '--help'])).trimEnd(), '```');
    out.push(
      '',
      '## Exit codes',
      '',
      '| code | meaning |',
      '|---|---|',
      '| 0 | converged, or `--check` found nothing to change (of the `--fail-on` classes) |',
      '| 1 | a host failed or was unreachable, or the input is invalid |',
      '| 2 | `--check` found something that would change (with `--fail-on drift`: only hand changes on hosts; see [drift.md](drift.md)) |',
      '| 130 | interrupted (Ctrl-C or SIGTERM): the summary says what was not applied |',
      '',
      '## Environment',
      '',
      '| variable | meaning |',
      '|---|---|',
      '| `CONVERGE_INVENTORY` | the inventory file when `--inventory` is not given (default `inventories/demo.yaml`) |',
      '| `NO_COLOR` | plain output, no colours |',
      '',
      '## Bootstrapping a fleet',
      '',
      'A first run logs in as the user a fresh host has (root, or a cloud image\'s `admin`) before the developer accounts exist; later runs log in as a developer with passwordless sudo. No second inventory is needed: `converge highstate -i inventory.yaml --user root -e ssh_permit_root_login=prohibit-password` overrides the login and any var for that run (`-e KEY=VALUE`, the value read as YAML, or `-e @vars.yaml`; they win over every other var).',
    );
    return out.join('\n') + '\n';
  } finally {
    if (saved !== undefined) process.env.CONVERGE_INVENTORY = saved;
  }
}
