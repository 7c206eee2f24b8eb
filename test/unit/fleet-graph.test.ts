// Cross-host requisites: the fleet graph (names resolved, one order for the
// fleet, cycles across hosts refused with both places), and hosts running
// side by side on the local transport, each waiting for what it names on
// the other: a change fires a watch there, a failure skips with the reason,
// outside --target a resource not in sync holds up what waits for it.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/diagnostics.js';
import type { ResourceType } from '../../src/core/resource.js';
import { HostRun } from '../../src/engine/host-run.js';
import { buildFleetGraph, fleetDot, fleetMermaid, type FleetMember } from '../../src/fleet/fleet-graph.js';
import { FleetOutcomes, outsideOutcome, remoteRequisites } from '../../src/fleet/fleet-run.js';
import { buildGraph } from '../../src/graph/graph.js';
import type { Host, Inventory } from '../../src/inventory/inventory.js';
import type { RemoteRequisite, Resource } from '../../src/state/compile.js';
import { LocalTransport } from '../../src/transport/local.js';

interface Toy {
  name: string;
  value?: string;
  broken?: boolean;
}

/** A file per resource in dir; `calls` records applies and reactions in the order they happen, fleet-wide. */
function toyType(dir: string, calls: string[], host: string): ResourceType<Toy> {
  const path = (s: Toy) => join(dir, s.name);
  return {
    kind: 'toy',
    id: (s) => `toy:${s.name}`,
    facts: (s) => ({ value: { key: `toy:${s.name}`, script: `cat ${path(s)} 2>/dev/null || true`, parse: (o) => o } }),
    plan: (s, f) => (s.value === undefined || f.value === s.value ? [] : [{ path: 'value', action: 'update', before: f.value, after: s.value }]),
    async apply(s, _c, _f, ctx) {
      calls.push(`${host}: apply ${s.name}`);
      await ctx.run({ script: s.broken ? 'exit 3' : `printf %s '${s.value}' > ${path(s)}` }, `writing ${s.name}`);
    },
    async onWatch(s) {
      calls.push(`${host}: react ${s.name}`);
      return 'restarted';
    },
    watchVerb: () => 'restart',
  };
}

const NONE = { require: [], watch: [], onchanges: [], before: [], require_in: [], watch_in: [], onchanges_in: [] };

function resource(type: ResourceType<Toy>, host: string, id: string, spec: Toy, remote: Omit<RemoteRequisite, 'index'>[] = [], local: Partial<Resource['requisites']> = {}): Resource {
  const at = (...path: (string | number)[]) => ({ file: `states/${host}.yaml`, line: 10 + (typeof path[1] === 'number' ? path[1] : 0), path: ['resources', id, ...path].join('.'), host });
  return { id, kind: 'toy', type, spec, naturalId: `toy:${spec.name}`, requisites: { ...NONE, ...local }, remote: remote.map((r, index) => ({ ...r, index })), where: at(), at, sensitive: false };
}

const hostNamed = (name: string, roles: string[] = []): Host => ({ name, address: name, port: 22, user: 'root', knownHostsFile: '/dev/null', transport: 'local', roles, vars: {} });
const inventoryOf = (hosts: Host[]) => ({ hosts }) as unknown as Inventory;
const member = (host: Host, rs: Resource[], dropped: string[] = []): FleetMember => ({ host, graph: buildGraph(rs), dropped: new Set(dropped) });
const ids = (rs: Resource[]) => rs.map((r) => r.id);

describe('fleet graph', () => {
  const t = toyType('/nowhere', [], 'x');
  const [a, b] = [hostNamed('a', ['db']), hostNamed('b', ['web'])];

  it('orders each host so that no two hosts wait on each other in a circle', () => {
    // a declares r1 (waits for b's r2) before r4 (which b's r3 waits for), b
    // declares r3 before r2: run in declaration order, a would wait at r1 for
    // r2 while b waits at r3 for r4. In the fleet's order a runs r4 first.
    const ga = [resource(t, 'a', 'r1', { name: 'r1' }, [{ kind: 'require', host: 'b', id: 'r2' }]), resource(t, 'a', 'r4', { name: 'r4' })];
    const gb = [resource(t, 'b', 'r3', { name: 'r3' }, [{ kind: 'require', host: 'a', id: 'r4' }]), resource(t, 'b', 'r2', { name: 'r2' })];
    const g = buildFleetGraph([member(a, ga), member(b, gb)], inventoryOf([a, b]));
    expect(ids(g.graph('a').order)).toEqual(['r4', 'r1']);
    expect(ids(g.graph('b').order)).toEqual(['r3', 'r2']);
    expect(g.upstream('a', 'r1').map((e) => `${e.kind} ${e.from.host}:${e.from.id}`)).toEqual(['require b:r2']);
  });

  it('resolves a role to every other host of it, and kind:name ids to the state id', () => {
    const c = hostNamed('c', ['web']);
    const web = (h: string) => [resource(t, h, 'code', { name: 'code' })];
    const db = [resource(t, 'a', 'migrate', { name: 'migrate' }, [{ kind: 'onchanges', role: 'web', id: 'toy:code' }])];
    const g = buildFleetGraph([member(a, db), member(b, web('b')), member(c, web('c'))], inventoryOf([a, b, c]));
    expect(g.upstream('a', 'migrate').map((e) => `${e.from.host}:${e.from.id}`)).toEqual(['b:code', 'c:code']);
    // Hosts others wait on start first.
    expect(g.hostOrder).toEqual(['b', 'c', 'a']);
  });

  it('draws the requisites across hosts between the resources they join, each host a cluster', () => {
    const ga = [resource(t, 'a', 'migrate', { name: 'migrate' }, [{ kind: 'require', host: 'b', id: 'role' }, { kind: 'watch', host: 'b', id: 'conf' }])];
    const gb = [resource(t, 'b', 'role', { name: 'role' }), resource(t, 'b', 'conf', { name: 'conf' }), resource(t, 'b', 'other', { name: 'other' })];
    const { edges } = buildFleetGraph([member(a, ga), member(b, gb)], inventoryOf([a, b]));
    const dot = fleetDot(edges);
    expect(dot).toContain('subgraph "cluster_b" {\n    label="b";\n    "b/role" [label="role"];\n    "b/conf" [label="conf"];\n  }');
    expect(dot).toContain('"b/role" -> "a/migrate";\n  "b/conf" -> "a/migrate" [label="watch"];');
    expect(dot).not.toContain('other');
    expect(fleetMermaid(edges)).toContain('  n0 --> n2\n  n1 -- watch --> n2\n');
  });

  it('refuses a cycle across hosts, naming both places', () => {
    const ga = [resource(t, 'a', 'x', { name: 'x' }, [{ kind: 'require', host: 'b', id: 'y' }])];
    const gb = [resource(t, 'b', 'y', { name: 'y' }, [{ kind: 'watch', host: 'a', id: 'x' }])];
    const err = (() => {
      try {
        buildFleetGraph([member(a, ga), member(b, gb)], inventoryOf([a, b]));
      } catch (e) {
        return e as InputError;
      }
    })();
    expect(err).toBeInstanceOf(InputError);
    expect(err!.diagnostics.map((d) => `${d.where.file}:${d.where.line}`)).toEqual(['states/a.yaml:10', 'states/b.yaml:10']);
    expect(err!.message).toContain("a's x waits for b's y, and b's y waits for a's x");
  });

  it('names what is wrong in a requisite: an unknown host, a role nobody has, an id the host lacks; a dropped id is met', () => {
    const bad = (remote: Omit<RemoteRequisite, 'index'>, dropped: string[] = []) => () =>
      buildFleetGraph([member(a, [resource(t, 'a', 'x', { name: 'x' }, [remote])]), member(b, [resource(t, 'b', 'y', { name: 'y' })], dropped)], inventoryOf([a, b]));
    expect(bad({ kind: 'require', host: 'nope', id: 'y' })).toThrow(/^states\/a\.yaml:10: resources\.x\.require\.0: require names host "nope", which is not in the inventory \(host a\)\n\s*hint: hosts: a, b/);
    expect(bad({ kind: 'require', role: 'cache', id: 'y' })).toThrow('require names role "cache", which no host of the inventory has');
    expect(bad({ kind: 'require', host: 'b', id: 'z' })).toThrow('require names "z" on b, which is not a resource of that host');
    expect(bad({ kind: 'require', host: 'b', id: 'z' }, ['z'])().edges).toEqual([]);
  });
});

describe('hosts waiting on each other', { timeout: 60_000 }, () => {
  const [a, b] = [hostNamed('a'), hostNamed('b')];

  /** Runs both hosts side by side, each in its own directory and state directory; bOutside: b is read in check mode, as outside --target. */
  async function runBoth(mk: (ta: ResourceType<Toy>, tb: ResourceType<Toy>) => { a: Resource[]; b: Resource[] }, dirs: { a: string; b: string }, bOutside = false) {
    const calls: string[] = [];
    const { a: ra, b: rb } = mk(toyType(dirs.a, calls, 'a'), toyType(dirs.b, calls, 'b'));
    const graph = buildFleetGraph([member(a, ra), member(b, rb)], inventoryOf([a, b]));
    const outcomes = new FleetOutcomes();
    const runOne = async (h: Host, check: boolean, map?: Parameters<typeof remoteRequisites>[3]) => {
      // converge's state directory on the host: kept from run to run, as on a real host.
      const state = join(dirs[h.name as 'a' | 'b'], '.converge');
      const transport = new LocalTransport(h.name);
      const run = new HostRun(h, graph.graph(h.name), transport, { check, statesDir: '/', stateDir: state, signal: new AbortController().signal, remote: remoteRequisites(graph, outcomes, h.name, map) });
      const results = await run.run();
      outcomes.settleHost(h.name, { status: 'failed', reason: `${h.name} ended` });
      return { byId: Object.fromEntries(results.map((r) => [r.id, r])), execs: transport.execCount };
    };
    const [resA, resB] = await Promise.all([runOne(a, false), runOne(b, bOutside, bOutside ? (o) => outsideOutcome('b', o) : undefined)]);
    return { calls, a: resA.byId, b: resB.byId, execs: [resA.execs, resB.execs] };
  }
  const dirs = () => ({ a: mkdtempSync(join(tmpdir(), 'converge-fleet-a-')), b: mkdtempSync(join(tmpdir(), 'converge-fleet-b-')) });

  it('waits for the other host, then reacts to its change; the next run changes nothing and reacts to nothing', async () => {
    const d = dirs();
    const mk = (ta: ResourceType<Toy>, tb: ResourceType<Toy>) => ({
      a: [resource(ta, 'a', 'app', { name: 'app' }, [{ kind: 'watch', host: 'b', id: 'role' }])],
      b: [resource(tb, 'b', 'db', { name: 'db', value: '1' }), resource(tb, 'b', 'role', { name: 'role', value: 'app' }, [], { require: ['db'] })],
    });
    const first = await runBoth(mk, d);
    expect(first.calls).toEqual(['b: apply db', 'b: apply role', 'a: react app']);
    expect(first.a.app).toMatchObject({ status: 'changed', notified: ['restarted (role on b changed)'] });
    const second = await runBoth(mk, d);
    expect(second.calls).toEqual([]);
    // A converged fleet costs each host its one fact exec, waiting or waited for.
    expect(second.execs).toEqual([1, 1]);
    expect(second.a.app.status).toBe('unchanged');
  });

  it('skips what waits for a failed resource on another host, with the reason, and applies the rest', async () => {
    const d = dirs();
    const r = await runBoth(
      (ta, tb) => ({
        a: [resource(ta, 'a', 'migrate', { name: 'migrate', value: 'v2' }, [{ kind: 'require', host: 'b', id: 'role' }]), resource(ta, 'a', 'other', { name: 'other', value: 'x' })],
        b: [resource(tb, 'b', 'role', { name: 'role', value: 'app', broken: true })],
      }),
      d,
    );
    expect(r.b.role.status).toBe('failed');
    expect(r.a.migrate).toMatchObject({ status: 'skipped', reason: expect.stringMatching(/^requisite role on b failed: writing role failed \(exit 3\)/) });
    expect(r.a.other.status).toBe('changed');
  });

  it('outside --target, the other host is read, never changed: a resource there not in sync skips what waits for it', async () => {
    const d = dirs();
    const mk = (ta: ResourceType<Toy>, tb: ResourceType<Toy>) => ({
      a: [resource(ta, 'a', 'migrate', { name: 'migrate', value: 'v2' }, [{ kind: 'require', host: 'b', id: 'role' }])],
      b: [resource(tb, 'b', 'role', { name: 'role', value: 'app' })],
    });
    const r = await runBoth(mk, d, true);
    expect(r.b.role.status).toBe('would-change');
    expect(r.calls).toEqual([]);
    expect(r.a.migrate).toMatchObject({ status: 'skipped', reason: expect.stringContaining('not in sync on b, which is outside --target (read, not changed)') });
    // In sync there, it is waited for and the run goes on.
    writeFileSync(join(d.b, 'role'), 'app');
    const again = await runBoth(mk, d, true);
    expect(again.a.migrate.status).toBe('changed');
  });

  it('a host that ended without reaching the resource (unreachable, failed early) releases its waiters with the reason', async () => {
    const outcomes = new FleetOutcomes();
    const waiting = outcomes.wait('db-1', 'role');
    outcomes.settleHost('db-1', { status: 'failed', reason: 'db-1 unreachable: connection refused' });
    expect(await waiting).toEqual({ status: 'failed', reason: 'db-1 unreachable: connection refused' });
    outcomes.settle('db-1', 'role', { status: 'changed' });
    expect(await outcomes.wait('db-1', 'other')).toMatchObject({ status: 'failed' });
  });
});
