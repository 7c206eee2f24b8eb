// converge init: a starter inventory, top file and one state, each with the
// yaml-language-server $schema line in place, plus VS Code settings that map
// the schemas to the files, so an editor completes and validates them.

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { InputError } from '../core/diagnostics.js';
import { SCHEMAS_DIR } from '../state/schemas.js';

export function initCommand(args: { dir: string; force: boolean }): number {
  const dir = resolve(args.dir);
  const schema = (from: string, name: string) => relative(join(dir, from), join(SCHEMAS_DIR, name));
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
          [relative(dir, join(SCHEMAS_DIR, 'inventory.schema.json'))]: ['inventory*.yaml', 'inventories/*.yaml'],
          [relative(dir, join(SCHEMAS_DIR, 'top.schema.json'))]: ['states/top.yaml'],
          [relative(dir, join(SCHEMAS_DIR, 'state.schema.json'))]: ['states/**/*.yaml', '!states/top.yaml'],
        },
      },
      null,
      2,
    ) + '\n',
  };
  const clash = Object.keys(files).filter((f) => existsSync(join(dir, f)));
  if (clash.length && !args.force) {
    throw new InputError({ message: `would overwrite ${clash.join(', ')}`, where: { file: dir }, hint: 'run init in an empty directory, or pass --force' });
  }
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  process.stdout.write(`wrote ${Object.keys(files).join(', ')} in ${dir}\nnext: edit inventory.yaml, then \`converge validate -i inventory.yaml\` and \`converge highstate -i inventory.yaml --check\`\n`);
  return 0;
}
