// What every command starts from: the inventory, the state tree and the
// targeted hosts, all checked before any host is touched.

import { loadInventory, type Host, type Inventory, type LoadOptions } from '../inventory/inventory.js';
import { selectHosts } from '../inventory/target.js';
import { loadStateTree, type StateTree, type TreeOptions } from '../state/states.js';
import { InputError } from '../core/diagnostics.js';
import { processRedactor } from '../core/sensitive.js';

export interface CommonArgs {
  inventory: string;
  target?: string;
  states?: string;
}

export interface Context {
  inventory: Inventory;
  tree: StateTree;
  hosts: Host[];
}

export function loadContext(args: CommonArgs, opts: LoadOptions & TreeOptions = {}): Context {
  const inventory = loadInventory(args.inventory, processRedactor, opts);
  const tree = loadStateTree(args.states ?? inventory.statesDir, inventory.roles, opts);
  return { inventory, tree, hosts: selectHosts(inventory.hosts, inventory.roles, args.target, inventory.file) };
}

export function oneHost(ctx: Context, name: string): Host {
  const host = ctx.inventory.hosts.find((h) => h.name === name);
  if (!host) throw new InputError({ message: `no host "${name}" in the inventory`, where: { file: ctx.inventory.file }, hint: `hosts: ${ctx.inventory.hosts.map((h) => h.name).join(', ')}` });
  return host;
}
