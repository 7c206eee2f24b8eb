// converge init: a starter inventory, top file and one state, each with the
// yaml-language-server $schema line in place, plus VS Code settings that map
// the schemas to the files, so an editor completes and validates them. The
// schemas are copied into the tree (schemas/), so the paths hold when the
// tree moves or converge is installed elsewhere; `converge init --force`
// refreshes them after an upgrade.

import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { InputError } from '../core/diagnostics.js';
import { SCHEMAS_DIR } from '../state/schemas.js';

export function initCommand(args: { dir: string; force: boolean }): number {
  const dir = resolve(args.dir);
  const SCHEMAS = ['inventory.schema.json', 'top.schema.json', 'state.schema.json'];
  const local = join(dir, 'schemas');
  const schema = (from: string, name: string) => relative(join(dir, from), join(local, name));
  const files: Record<string, string> = {
    'inventory.yaml': `# yaml-language-server: $schema=${schema('.', 'inventory.schema.json')}
# Your fleet: how to reach each host, its roles, and vars (fleet < role < host).
states: states
defaults:
  user: root                # or a user with passwordless sudo
  key: ~/.ssh/id_ed25519    # without it, ssh-agent is used
vars:
  project: myproj
# secrets:                  # never printed, logged or put in an argument list
#   db_password: { env: MYPROJ_DB_PASSWORD }
roles:
  web: {}
hosts:
  web-1: { address: 192.0.2.10, roles: [web] }
`,
    'states/top.yaml': `# yaml-language-server: $schema=${schema('states', 'top.schema.json')}
# Which state files each role gets; "all" applies to every host.
roles:
  all: [base]
  web: []
`,
    'states/base.yaml': `# yaml-language-server: $schema=${schema('states', 'state.schema.json')}
resources:
  motd:
    file:
      path: /etc/motd
      content: "{{ host.name }} is managed by converge ({{ project }})\\n"
      mode: "0644"
  tools:
    package: { name: tree }
`,
    '.vscode/settings.json': JSON.stringify(
      {
        'yaml.schemas': {
          [schema('.', 'inventory.schema.json')]: ['inventory*.yaml', 'inventories/*.yaml'],
          [schema('.', 'top.schema.json')]: ['states/top.yaml'],
          [schema('.', 'state.schema.json')]: ['states/**/*.yaml', '!states/top.yaml'],
        },
      },
      null,
      2,
    ) + '\n',
  };
  const clash = [...Object.keys(files), ...SCHEMAS.map((f) => `schemas/${f}`)].filter((f) => existsSync(join(dir, f)));
  if (clash.length && !args.force) {
    throw new InputError({ message: `would overwrite ${clash.join(', ')}`, where: { file: dir }, hint: 'run init in an empty directory, or pass --force' });
  }
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  mkdirSync(local, { recursive: true });
  for (const f of SCHEMAS) copyFileSync(join(SCHEMAS_DIR, f), join(local, f));
  process.stdout.write(`wrote ${Object.keys(files).join(', ')} and schemas/ (the editor schemas) in ${dir}\nnext: edit inventory.yaml, then \`converge validate -i inventory.yaml\` and \`converge highstate -i inventory.yaml --check\`\n`);
  return 0;
}
