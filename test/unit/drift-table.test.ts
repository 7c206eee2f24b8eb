// Every registered resource type has a row in the drift table
// (test/support/drift-table.ts), which the container tests run: a type
// without one fails here. And the table is well formed: each row's
// resource is of its type, ids are unique per host, each fleet's rows make
// one state.

import { describe, expect, it } from 'vitest';
import { resourceTypes } from '../../src/resources/index.js';
import { stateResources } from '../support/drift-harness.js';
import { driftTable, rowsOf } from '../support/drift-table.js';

describe('the drift table', () => {
  it('has a row for every registered resource type', () => {
    const covered = new Set(driftTable.map((r) => r.type));
    expect(Object.keys(resourceTypes).filter((t) => !covered.has(t))).toEqual([]);
    expect(driftTable.map((r) => r.type).filter((t) => !(t in resourceTypes))).toEqual([]);
  });

  it('covers the types that no container test drifted by hand before', () => {
    const covered = new Set(driftTable.map((r) => r.type));
    for (const t of ['directory', 'group', 'locale', 'unattended_upgrades', 'virtualenv', 'pg_conf', 'pg_database', 'pg_hba', 'pg_replica']) expect(covered.has(t), t).toBe(true);
  });

  it('rows are well formed: a resource of their type, a drift, a witness, at least one expected change; ids unique per host', () => {
    const seen = new Set<string>();
    for (const row of driftTable) {
      expect(Object.keys(row.resource).filter((k) => k in resourceTypes), row.type).toEqual([row.type]);
      expect(row.drift.trim(), row.type).not.toBe('');
      expect(row.witness.trim(), row.type).not.toBe('');
      expect(row.changes.length, row.type).toBeGreaterThan(0);
      const key = `${row.host} ${row.id}`;
      expect(seen.has(key), key).toBe(false);
      seen.add(key);
    }
  });

  it("each fleet's rows make one state, and a state id two rows need is the same resource in both", () => {
    for (const fleet of ['bookworm', 'postgres'] as const) expect(() => stateResources(rowsOf(fleet))).not.toThrow();
    const conflicting = [driftTable[0], { ...driftTable[1], needs: { srv: { directory: { path: '/elsewhere' } } } }];
    expect(() => stateResources(conflicting)).toThrow(/state id srv/);
  });
});
