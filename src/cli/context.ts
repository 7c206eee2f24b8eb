// What every command starts from: the inventory, the state tree and the
// targeted hosts, all checked before any host is touched.

import { loadInventory, type Host, type Inventory, type LoadOptions } from '../inventory/inventory.js';
import { selectHosts } from '../inventory/target.js';
import { loadStateTree, type StateTree, type TreeOptions } from '../state/states.js';
import { InputError } from '../core/diagnostics.js';
import { processRedactor } from '../core/sensitive.js';
import { resolve } from 'node:path';
import { parseYaml, readYaml } from '../state/yaml-file.js';

export interface CommonArgs {
  inventory: string;
  target?: string;
  states?: string;
  /** --user: the login user of every host. */
  user?: string;
  /** --extra-vars: KEY=VALUE or @FILE, over every other var. */
  extraVars?: string[];
}

export interface Context {
  inventory: Inventory;
  tree: StateTree;
  hosts: Host[];
}

export function loadContext(args: CommonArgs, opts: LoadOptions & TreeOptions = {}): Context {
  const inventory = loadInventory(args.inventory, processRedactor, { ...opts, user: args.user, extraVars: parseExtraVars(args.extraVars ?? []) });
  const tree = loadStateTree(args.states ?? inventory.statesDir, inventory.roles, opts);
  return { inventory, tree, hosts: selectHosts(inventory.hosts, inventory.roles, args.target, inventory.file) };
}

/** -e KEY=VALUE (VALUE as YAML: -e port=8080 is a number) or -e @vars.yaml, later ones winning. */
export function parseExtraVars(items: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const item of items) {
    if (item.startsWith('@')) {
      const f = readYaml(resolve(item.slice(1)), item.slice(1));
      if (!f.value || typeof f.value !== 'object' || Array.isArray(f.value)) throw new InputError({ message: 'an extra-vars file must be a mapping of var names to values', where: { file: f.file }, hint: 'e.g. project_env: staging' });
      Object.assign(out, f.value);
      continue;
    }
    const eq = item.indexOf('=');
    if (eq <= 0) throw new InputError({ message: `"${item}" is not KEY=VALUE or @FILE`, where: { path: '--extra-vars' }, hint: 'e.g. -e ssh_permit_root_login=prohibit-password or -e @vars.yaml' });
    out[item.slice(0, eq)] = parseYaml(item.slice(eq + 1), '--extra-vars').value ?? '';
  }
  return out;
}

export function oneHost(ctx: Context, name: string): Host {
  const host = ctx.inventory.hosts.find((h) => h.name === name);
  if (!host) throw new InputError({ message: `no host "${name}" in the inventory`, where: { file: ctx.inventory.file }, hint: `hosts: ${ctx.inventory.hosts.map((h) => h.name).join(', ')}` });
  return host;
}
