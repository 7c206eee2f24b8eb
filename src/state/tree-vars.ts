// states/vars.yaml: defaults the state tree ships for every host (below the
// inventory's fleet, role and host vars), e.g. the per-release table that
// maps host.os.codename to PostgreSQL and Python versions, paths and package
// names. Optional: a tree without it has no defaults.

import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { InputError } from '../core/diagnostics.js';
import type { Vars } from './template.js';
import { readYaml } from './yaml-file.js';

export function loadTreeVars(dir: string): Vars {
  const path = join(dir, 'vars.yaml');
  if (!existsSync(path)) return {};
  const f = readYaml(path, relative(process.cwd(), path));
  const v = f.value as { vars?: unknown } | null;
  if (!v || typeof v !== 'object' || Array.isArray(v) || Object.keys(v).some((k) => k !== 'vars') || typeof v.vars !== 'object' || Array.isArray(v.vars) || !v.vars) {
    throw new InputError({ message: 'the states vars file must be a mapping with one key, vars:', where: { file: f.file, line: 1 }, hint: 'e.g. vars: { releases: { bookworm: { postgresql: { version: 15 } } } }' });
  }
  return v.vars as Vars;
}
