// The state tree: top.yaml maps roles to state files; state files include
// others and declare resources. Loading is per tree; compiling is per host.

import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { InputError, type Where } from '../core/diagnostics.js';
import type { TopFile } from '../generated/index.js';
import { assertSchema } from './schemas.js';
import { formatPath, readYaml, type YamlFile } from './yaml-file.js';
import { loadTreeVars } from './tree-vars.js';
import type { Vars } from './template.js';

export interface RawEntry {
  stateName: string;
  src: YamlFile;
  rawId: string;
  body: Record<string, unknown>;
}

export interface StateTree {
  dir: string;
  /** Undefined only for a tree loaded without its top file (apply). */
  top?: YamlFile;
  roles: Record<string, string[]>;
  /**
   * Entries of a list of state names (includes first, each file once), in
   * declaration order. `named` says where the names come from when not from
   * the top file, e.g. "apply" for `converge apply NAME...`. The list is
   * shared by every caller asking for the same names: never change it.
   */
  entries(stateNames: string[], named?: string): RawEntry[];
  /** State names a host with these roles gets from the top file. */
  statesFor(roles: string[]): string[];
  /** Defaults for every host's vars, from vars.yaml beside top.yaml (see tree-vars.ts). */
  vars: Vars;
  /**
   * Loads every state the top file names, also for roles no targeted host
   * has (validate). Other commands load only the states of the hosts they
   * compile: `show lb` works while another role's state is being written.
   */
  loadAll(): void;
}

export interface TreeOptions {
  /**
   * Whether the top file is used (highstate, show, validate) or not (apply
   * STATE..., which names its states): then top.yaml need not exist and its
   * roles are not checked against the inventory's.
   */
  useTop?: boolean;
}

type Origin = { src: YamlFile; path: (string | number)[] } | { cli: string };

export function loadStateTree(dir: string, knownRoles: string[], opts: TreeOptions = {}): StateTree {
  const topPath = join(dir, 'top.yaml');
  const useTop = opts.useTop ?? true;
  if (!useTop && !existsSync(topPath)) return stateTree(dir, undefined, {});
  if (!existsSync(topPath)) {
    throw new InputError({
      message: `no top file: the states directory ${relative(process.cwd(), dir) || '.'} has no top.yaml`,
      where: { file: relative(process.cwd(), topPath) },
      hint: 'create top.yaml there (roles: { all: [base] } maps roles to state files), or point "states:" in the inventory (or --states) at your states directory',
    });
  }
  const top = readYaml(topPath, relative(process.cwd(), topPath));
  assertSchema('top.schema.json', top.value, top);
  const roles = (top.value as TopFile).roles;
  for (const role of Object.keys(roles)) {
    if (useTop && role !== 'all' && !knownRoles.includes(role)) {
      throw new InputError({
        message: `top file maps unknown role "${role}"`,
        where: { file: top.file, line: top.lineOf(['roles', role]), path: `roles.${role}` },
        hint: `declare the role in the inventory's roles: (known: ${knownRoles.join(', ')}) or remove it here`,
      });
    }
  }
  return stateTree(dir, top, roles);
}

function stateTree(dir: string, top: YamlFile | undefined, roles: Record<string, string[]>): StateTree {
  const cache = new Map<string, YamlFile>();
  /** Where a state name is written: a list item in a YAML file, or the command line. */
  const at = (from: Origin): Where => ('src' in from ? { file: from.src.file, line: from.src.lineOf(from.path), path: formatPath(from.path) } : { path: from.cli });
  const load = (name: string, from: Origin): YamlFile => {
    let f = cache.get(name);
    if (f) return f;
    const path = join(dir, `${name}.yaml`);
    if (!existsSync(path)) {
      throw new InputError({
        message: `state "${name}" not found (looked for ${relative(process.cwd(), path)})`,
        where: at(from),
        hint: 'state names are paths relative to the states directory, without .yaml (states/web/nginx.yaml is web/nginx)',
      });
    }
    f = readYaml(path, relative(process.cwd(), path));
    assertStateShape(f);
    cache.set(name, f);
    return f;
  };

  const loadAll = () => {
    const errors: InputError[] = [];
    for (const [role, names] of Object.entries(roles)) {
      names.forEach((n, i) => {
        try {
          load(n, { src: top!, path: ['roles', role, i] });
        } catch (e) {
          if (!(e instanceof InputError)) throw e;
          errors.push(e);
        }
      });
    }
    if (errors.length) throw new InputError(errors.flatMap((e) => e.diagnostics));
  };

  // Hosts with the same roles get the same list, entries included: every
  // compiled resource keeps its entry for the whole run.
  const listed = new Map<string, RawEntry[]>();
  const entries = (stateNames: string[], named?: string): RawEntry[] => {
    const key = JSON.stringify([stateNames, named ?? null]);
    let list = listed.get(key);
    if (!list) listed.set(key, (list = listEntries(stateNames, named)));
    return list;
  };
  const listEntries = (stateNames: string[], named?: string): RawEntry[] => {
    const out: RawEntry[] = [];
    const seen = new Set<string>();
    const visit = (name: string, from: Origin, stack: string[]) => {
      if (seen.has(name)) return;
      if (stack.includes(name)) {
        throw new InputError({ message: `include cycle: ${[...stack, name].join(' -> ')}`, where: at(from), hint: 'remove one of the includes' });
      }
      const src = load(name, from);
      const doc = (src.value ?? {}) as { include?: string[]; resources?: Record<string, Record<string, unknown>> };
      (doc.include ?? []).forEach((inc, i) => visit(inc, { src, path: ['include', i] }, [...stack, name]));
      seen.add(name);
      for (const [rawId, body] of Object.entries(doc.resources ?? {})) out.push({ stateName: name, src, rawId, body: body ?? {} });
    };
    stateNames.forEach((n) => visit(n, named ? { cli: `${named} ${n}` } : topOrigin(n), []));
    return out;
  };

  /** Where the top file names a state (the first role that lists it). */
  const topOrigin = (name: string): Origin => {
    for (const [role, names] of Object.entries(roles)) {
      const i = names.indexOf(name);
      if (i >= 0) return { src: top!, path: ['roles', role, i] };
    }
    return { src: top!, path: ['roles'] };
  };
  const statesFor = (hostRoles: string[]): string[] => [...new Set([...(roles.all ?? []), ...hostRoles.flatMap((r) => roles[r] ?? [])])];
  return { dir, top, roles, entries, statesFor, loadAll, vars: loadTreeVars(dir) };
}

/**
 * The file's outer shape (include, resources). Resource bodies are checked
 * per host after rendering, since "{{ list_var }}" becomes a list only then.
 */
function assertStateShape(src: YamlFile): void {
  const v = src.value ?? {};
  const where = (path: (string | number)[]) => ({ file: src.file, line: src.lineOf(path), path: path.join('.') });
  if (typeof v !== 'object' || Array.isArray(v)) throw new InputError({ message: 'a state file must be a mapping with include: and resources:', where: where([]), hint: 'see schemas/state.schema.json' });
  for (const key of Object.keys(v)) {
    if (key !== 'include' && key !== 'resources') throw new InputError({ message: `unknown top-level field "${key}"`, where: where([key]), hint: 'a state file has only include: and resources:' });
  }
  const doc = v as { include?: unknown; resources?: unknown };
  if (doc.include !== undefined && (!Array.isArray(doc.include) || doc.include.some((i) => typeof i !== 'string'))) {
    throw new InputError({ message: 'include must be a list of state names', where: where(['include']), hint: 'e.g. include: [base/users]' });
  }
  if (doc.resources !== undefined && (typeof doc.resources !== 'object' || doc.resources === null || Array.isArray(doc.resources))) {
    throw new InputError({ message: 'resources must be a mapping of id to resource', where: where(['resources']), hint: 'e.g. resources:\n    motd:\n      file: { path: /etc/motd, content: "hi" }' });
  }
}
