// Writes a throwaway inventory + state tree for unit tests of loading,
// compiling and graphing (no host is contacted).

import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { loadInventory } from '../../src/inventory/inventory.js';
import { loadStateTree } from '../../src/state/states.js';
import { prepareHosts } from '../../src/engine/run.js';

export function writeTree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'converge-unit-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

export const INVENTORY = `
states: states
vars: { project: myproj }
roles: { web: { vars: { port: 8000 } } }
hosts:
  web-1: { address: 127.0.0.1, roles: [web] }
`;

/** Load and compile every host of a tree; returns the prepared hosts. */
export function prepare(files: Record<string, string>) {
  const dir = writeTree({ 'inventory.yaml': INVENTORY, ...files });
  const inv = loadInventory(join(dir, 'inventory.yaml'));
  const tree = loadStateTree(join(dir, 'states'), inv.roles);
  return prepareHosts(inv, tree, inv.hosts);
}

/** The InputError message of a failing prepare(). */
export function prepareError(files: Record<string, string>): string {
  try {
    prepare(files);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected an input error');
}
