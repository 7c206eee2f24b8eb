// Fact fixtures: { command, output } captured from a real container, so
// parsers are tested against what hosts really print (pyinfra's model).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const FIXTURES = join(import.meta.dirname, '../fixtures');

export function fixture(kind: string, name: string): { command: string; output: string } {
  return JSON.parse(readFileSync(join(FIXTURES, kind, `${name}.json`), 'utf8'));
}

export const planCtx = (sensitive = false) => ({ host: { name: 'h', sshPort: 22, loginUser: 'root' }, statesDir: '/states', sensitive });

