// An exclusive directory's plan must know which of its entries the host's
// other resources declare (resource types' managedPaths): this hands it
// their names at compile, so plan() stays pure and per resource.

import { dirname, basename } from 'node:path';
import type { Resource } from './compile.js';

/** The host's resources, each exclusive directory given the names of its declared entries. */
export function withDeclaredEntries(resources: Resource[]): Resource[] {
  if (!resources.some((r) => r.kind === 'directory' && r.spec.exclusive)) return resources;
  const byDir = new Map<string, Set<string>>();
  for (const r of resources) {
    for (const p of r.type.managedPaths?.(r.spec) ?? []) {
      const dir = dirname(p.replace(/\/+$/, ''));
      if (!byDir.has(dir)) byDir.set(dir, new Set());
      byDir.get(dir)!.add(basename(p));
    }
  }
  return resources.map((r) => {
    if (r.kind !== 'directory' || !r.spec.exclusive) return r;
    const managed = [...(byDir.get(r.spec.path.replace(/\/+$/, '')) ?? [])].sort();
    // A view of r with its own spec: compiled resources may be shared by hosts with the same vars.
    return Object.create(r, { spec: { value: { ...r.spec, managed }, enumerable: true } }) as Resource;
  });
}
