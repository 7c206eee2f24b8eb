// The fleet: hosts, how to reach them, roles, and merged vars
// (fleet < role, in the host's role order < host: host wins).

import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { InputError } from '../core/diagnostics.js';
import type { Inventory as InventoryDoc } from '../generated/index.js';
import { Redactor } from '../core/sensitive.js';
import { assertSchema } from '../state/schemas.js';
import { readYaml } from '../state/yaml-file.js';

export type Vars = Record<string, unknown>;

export interface Host {
  name: string;
  address: string;
  port: number;
  user: string;
  keyFile?: string;
  knownHostsFile: string;
  transport: 'ssh' | 'local';
  roles: string[];
  vars: Vars;
}

export interface Inventory {
  file: string;
  statesDir: string;
  hosts: Host[];
  roles: string[];
  /** Knows every secret value of the inventory, for redacting output. */
  redactor: Redactor;
  /**
   * Secrets this environment cannot supply, each standing in as a placeholder
   * value: only with `secrets: 'placeholders'` (validate); otherwise a missing
   * secret is an error.
   */
  missingSecrets: MissingSecret[];
}

export interface MissingSecret {
  name: string;
  /** Why it is missing, e.g. "environment variable MYPROJ_DB_PASSWORD is not set". */
  why: string;
  hint: string;
  where: { file: string; line?: number; path: string };
}

export interface LoadOptions {
  /**
   * 'required' (default): a secret this environment cannot supply is an
   * error. 'placeholders': it gets a placeholder value and is listed in
   * missingSecrets, so CI can validate a tree without production secrets.
   */
  secrets?: 'required' | 'placeholders';
  /** The login user of every host (--user), over the inventory's. */
  user?: string;
  /** Vars over every other (--extra-vars). */
  extraVars?: Vars;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge of plain objects; later wins, lists are replaced whole. */
export function mergeVars(...layers: (Vars | undefined)[]): Vars {
  const out: Vars = {};
  for (const layer of layers) {
    if (!layer) continue;
    for (const [k, v] of Object.entries(layer)) out[k] = isObject(v) && isObject(out[k]) ? mergeVars(out[k] as Vars, v) : v;
  }
  return out;
}

function readSecrets(doc: InventoryDoc, file: string, lineOf: (p: (string | number)[]) => number | undefined, redactor: Redactor, opts: LoadOptions, missing: MissingSecret[]): Vars {
  const out: Vars = {};
  for (const [name, src] of Object.entries(doc.secrets ?? {})) {
    const where = { file, line: lineOf(['secrets', name]), path: `secrets.${name}` };
    const absent = (why: string, hint: string): string => {
      if (opts.secrets !== 'placeholders') throw new InputError({ message: why, where, hint });
      missing.push({ name, why, hint, where });
      // Looks like a value (templates, filters and schemas treat it as one), and is redacted like one.
      return `placeholder-for-secret-${name}`;
    };
    let value: string | undefined;
    if (src.env !== undefined) {
      value = process.env[src.env] ?? src.default ?? absent(`environment variable ${src.env} is not set`, `export ${src.env} before running converge`);
    } else if (src.file !== undefined) {
      const path = resolve(dirname(file), src.file);
      value = existsSync(path) ? readFileSync(path, 'utf8').replace(/\r?\n$/, '') : absent(`secret file ${path} does not exist`, 'create it (and keep it out of git) or change the path');
    } else value = src.value;
    redactor.add(value);
    out[name] = value;
  }
  return out;
}

/** `redactor` learns every secret value (the CLI passes the one all its output goes through). */
export function loadInventory(file: string, redactor = new Redactor(), opts: LoadOptions = {}): Inventory {
  if (!existsSync(file)) {
    throw new InputError({
      message: 'inventory file not found',
      where: { file },
      hint: 'pass --inventory FILE (or set CONVERGE_INVENTORY); `converge init DIR` writes a starter inventory and state tree',
    });
  }
  const src = readYaml(file);
  assertSchema('inventory.schema.json', src.value, src);
  const doc = src.value as InventoryDoc;
  const base = dirname(resolve(file));
  const rel = (p: string) => (p.startsWith('~/') ? join(homedir(), p.slice(2)) : isAbsolute(p) ? p : join(base, p));
  const missingSecrets: MissingSecret[] = [];
  const secrets = readSecrets(doc, file, src.lineOf, redactor, opts, missingSecrets);
  const defaults = doc.defaults ?? {};
  const roleNames = Object.keys(doc.roles ?? {});
  const hosts: Host[] = [];
  for (const [name, h] of Object.entries(doc.hosts)) {
    const roles = h.roles ?? [];
    for (const [i, r] of roles.entries()) {
      if (!roleNames.includes(r)) {
        throw new InputError({
          message: `unknown role "${r}"`,
          where: { file, line: src.lineOf(['hosts', name, 'roles', i]), path: `hosts.${name}.roles[${i}]` },
          hint: `declare it under roles: (known roles: ${roleNames.join(', ') || 'none'})`,
        });
      }
    }
    const key = h.key ?? defaults.key;
    hosts.push({
      name,
      address: h.address,
      port: h.port ?? defaults.port ?? 22,
      user: opts.user ?? h.user ?? defaults.user ?? 'root',
      keyFile: key ? rel(key) : undefined,
      knownHostsFile: rel(h.known_hosts ?? defaults.known_hosts ?? join(homedir(), '.ssh/known_hosts')),
      transport: h.transport ?? defaults.transport ?? 'ssh',
      roles,
      vars: mergeVars(doc.vars, secrets, ...roles.map((r) => doc.roles?.[r]?.vars), h.vars, opts.extraVars),
    });
  }
  return { file, statesDir: rel(doc.states ?? '../states'), hosts, roles: roleNames, redactor, missingSecrets };
}
