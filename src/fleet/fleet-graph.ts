// Cross-host requisites: a resource may require, watch or name in
// onchanges a resource of another host (`{ host: db-1, id: app-db-role }`),
// or of every other host of a role (`{ role: db_primary, id: ... }`). The
// fleet graph resolves those names against the other hosts' compiled
// graphs, refuses a cycle that runs across hosts (naming both places), and
// gives each host an order consistent with the whole fleet's: every host
// runs its own pipeline side by side with the others, in that order, so no
// two hosts ever wait on each other in a circle (the earliest resource not
// yet done, fleet-wide, always has everything it waits for).

import { InputError, type Diagnostic } from '../core/diagnostics.js';
import { withOrder, type Graph } from '../graph/graph.js';
import type { Host, Inventory } from '../inventory/inventory.js';
import type { RemoteRequisite, Resource } from '../state/compile.js';

/** A resource of one host. */
export interface FleetNode {
  host: string;
  resource: Resource;
}

/** `to` (on its host) waits for `from` (on another). */
export interface RemoteEdge {
  kind: RemoteRequisite['kind'];
  /**
   * The resource waited for: its state id, and the resource itself when its
   * host is compiled in this run (not when the host could not be read: then
   * it is waited for by name, and that host's failure is the outcome).
   */
  from: { host: string; id: string; resource?: Resource };
  to: FleetNode;
  /** The requisite as written, for messages. */
  requisite: RemoteRequisite;
}

export interface FleetMember {
  host: Host;
  graph: Graph;
  /** Ids a `when` left out on that host: a requisite naming one is met. */
  dropped: ReadonlySet<string>;
}

export interface FleetGraph {
  edges: RemoteEdge[];
  /** The remote resources that the resource of this id, on host, waits for. */
  upstream(host: string, id: string): RemoteEdge[];
  /** The host's graph with its order made consistent with the fleet's. */
  graph(host: string): Graph;
  /** Hosts in the order their first awaited resource comes in the fleet's order; hosts nobody waits on last. */
  hostOrder: string[];
}

/**
 * The hosts the members' remote requisites name (by name, or every host of a
 * role) that are not among `present`, to be compiled too; undefined when no
 * requisite names another host. Unknown names are input errors.
 */
export function namedHostsBesides(members: FleetMember[], inventory: Inventory, present: Iterable<string>): Host[] | undefined {
  const named = new Set<string>();
  for (const m of members) for (const r of m.graph.order) for (const req of r.remote) for (const h of hostsOf(req, r, inventory)) named.add(h);
  if (!named.size) return undefined;
  const have = new Set([...present, ...members.map((m) => m.host.name)]);
  return inventory.hosts.filter((h) => named.has(h.name) && !have.has(h.name));
}

function hostsOf(req: RemoteRequisite, r: Resource, inventory: Inventory): string[] {
  const where = () => r.at(req.kind, req.index);
  if (req.host !== undefined) {
    if (!inventory.hosts.some((h) => h.name === req.host)) {
      throw new InputError({ message: `${req.kind} names host "${req.host}", which is not in the inventory`, where: where(), hint: `hosts: ${inventory.hosts.map((h) => h.name).join(', ')}` });
    }
    return [req.host];
  }
  // The host itself too, when it has the role (or is the host named, as a var may name it): a plain requisite then.
  const hosts = inventory.hosts.filter((h) => h.roles.includes(req.role!)).map((h) => h.name);
  if (!inventory.hosts.some((h) => h.roles.includes(req.role!))) {
    throw new InputError({ message: `${req.kind} names role "${req.role}", which no host of the inventory has`, where: where(), hint: 'is the role misspelt? roles are given in the inventory' });
  }
  return hosts;
}

/** members: the hosts of this run and the hosts they name (unreadable ones left out: edges to them wait by name). */
export function buildFleetGraph(members: FleetMember[], inventory: Inventory): FleetGraph {
  const byHost = new Map(members.map((m) => [m.host.name, m]));
  const lookup = new Map<string, Map<string, Resource>>();
  for (const m of members) {
    const ids = new Map<string, Resource>();
    for (const r of m.graph.order) ids.set(r.id, r).set(r.naturalId, r);
    lookup.set(m.host.name, ids);
  }
  const edges: RemoteEdge[] = [];
  const diagnostics: Diagnostic[] = [];
  for (const m of members) {
    for (const r of m.graph.order) {
      for (const req of r.remote) {
        for (const host of hostsOf(req, r, inventory)) {
          const other = byHost.get(host);
          const to = { host: m.host.name, resource: r };
          const from = lookup.get(host)?.get(req.id);
          if (!other) edges.push({ kind: req.kind, from: { host, id: req.id }, to, requisite: req });
          else if (from) edges.push({ kind: req.kind, from: { host, id: from.id, resource: from }, to, requisite: req });
          else if (!other.dropped.has(req.id)) {
            diagnostics.push({
              message: `${req.kind} names "${req.id}" on ${host}, which is not a resource of that host`,
              where: r.at(req.kind, req.index),
              hint: `name a state id or kind:name id of a state ${host} gets (converge show ${host} lists them)`,
            });
          }
        }
      }
    }
  }
  if (diagnostics.length) throw new InputError(diagnostics);
  const order = fleetOrder(members, edges);
  const graphs = new Map<string, Graph>();
  for (const m of members) graphs.set(m.host.name, withOrder(m.graph, order.get(m.host.name)!));
  const up = new Map<string, RemoteEdge[]>();
  const key = (host: string, id: string) => `${host}\0${id}`;
  for (const e of edges) {
    const k = key(e.to.host, e.to.resource.id);
    up.set(k, [...(up.get(k) ?? []), e]);
  }
  return {
    edges,
    upstream: (host, id) => up.get(key(host, id)) ?? [],
    graph: (host) => graphs.get(host)!,
    hostOrder: hostOrder(members, edges, order),
  };
}

/**
 * One order for every resource of the fleet (each host's own edges and the
 * remote ones), stable: among ready resources, the one earliest in its own
 * host's order goes first. Each host's order is this one, restricted to it.
 */
function fleetOrder(members: FleetMember[], edges: RemoteEdge[]): Map<string, Resource[]> {
  const nodes: FleetNode[] = [];
  const index = new Map<Resource, number>();
  const rank: number[] = [];
  for (const m of members) {
    m.graph.order.forEach((resource, i) => {
      index.set(resource, nodes.length);
      nodes.push({ host: m.host.name, resource });
      rank.push(i);
    });
  }
  const next: number[][] = nodes.map(() => []);
  const indegree = new Array<number>(nodes.length).fill(0);
  const link = (a: number, b: number) => {
    next[a].push(b);
    indegree[b]++;
  };
  for (const m of members) for (const e of m.graph.edges) link(index.get(e.from)!, index.get(e.to)!);
  for (const e of edges) if (e.from.resource) link(index.get(e.from.resource)!, index.get(e.to.resource)!);
  // Ready nodes by (rank in their host, position): a plain sorted insert, fleets' graphs are small.
  const ready: number[] = [];
  const push = (i: number) => {
    let lo = 0;
    while (lo < ready.length && (rank[ready[lo]] < rank[i] || (rank[ready[lo]] === rank[i] && ready[lo] < i))) lo++;
    ready.splice(lo, 0, i);
  };
  nodes.forEach((_, i) => indegree[i] === 0 && push(i));
  const out = new Map<string, Resource[]>(members.map((m) => [m.host.name, []]));
  let placed = 0;
  while (ready.length) {
    const i = ready.shift()!;
    out.get(nodes[i].host)!.push(nodes[i].resource);
    placed++;
    for (const j of next[i]) if (--indegree[j] === 0) push(j);
  }
  if (placed < nodes.length) throw cycleAcrossHosts(edges.filter((e) => e.from.resource && indegree[index.get(e.to.resource)!] > 0 && indegree[index.get(e.from.resource)!] > 0));
  return out;
}

function cycleAcrossHosts(stuck: RemoteEdge[]): InputError {
  const named = (n: { host: string; resource?: Resource }) => `${n.host}'s ${n.resource!.id}`;
  const chain = stuck.map((e) => `${named(e.to)} waits for ${named(e.from)}`).join(', and ');
  return new InputError(
    stuck.map((e) => ({
      message: `requisites make a cycle across hosts: ${chain} (through each host's own requisites)`,
      where: e.to.resource.at(e.requisite.kind, e.requisite.index),
      hint: 'one of these requisites must go: a resource cannot wait, even through other resources, for something that waits for it',
    })),
  );
}

/** Each host a cluster of the resources joined by requisites across hosts, and those requisites (DOT). */
export function fleetDot(edges: RemoteEdge[]): string {
  const q = (s: string) => JSON.stringify(s);
  const byHost = endpoints(edges);
  const lines = ['digraph fleet {', '  rankdir=LR;', '  node [shape=box, fontname="monospace"];'];
  for (const [host, ids] of byHost) {
    lines.push(`  subgraph ${q(`cluster_${host}`)} {`, `    label=${q(host)};`);
    for (const id of ids) lines.push(`    ${q(`${host}/${id}`)} [label=${q(id)}];`);
    lines.push('  }');
  }
  for (const e of edges) lines.push(`  ${q(`${e.from.host}/${e.from.id}`)} -> ${q(`${e.to.host}/${e.to.resource.id}`)}${e.kind === 'require' ? '' : ` [label=${q(e.kind)}]`};`);
  lines.push('}');
  return lines.join('\n') + '\n';
}

/** fleetDot as a Mermaid flowchart (one subgraph per host). */
export function fleetMermaid(edges: RemoteEdge[]): string {
  const ids = new Map<string, string>();
  const node = (host: string, id: string) => ids.get(`${host}/${id}`) ?? ids.set(`${host}/${id}`, `n${ids.size}`).get(`${host}/${id}`)!;
  const lines = ['flowchart LR'];
  for (const [i, [host, rs]] of [...endpoints(edges)].entries()) {
    lines.push(`  subgraph h${i}["${host}"]`);
    for (const id of rs) lines.push(`    ${node(host, id)}["${id}"]`);
    lines.push('  end');
  }
  for (const e of edges) lines.push(`  ${node(e.from.host, e.from.id)} ${e.kind === 'require' ? '-->' : `-- ${e.kind} -->`} ${node(e.to.host, e.to.resource.id)}`);
  return lines.join('\n') + '\n';
}

/** The resources each host has at either end of a requisite across hosts. */
function endpoints(edges: RemoteEdge[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const add = (host: string, id: string) => (out.get(host) ?? out.set(host, new Set()).get(host)!).add(id);
  for (const e of edges) {
    add(e.from.host, e.from.id);
    add(e.to.host, e.to.resource.id);
  }
  return out;
}

/** Hosts others wait on first, by where their first awaited resource comes; the rest after, as they were. */
function hostOrder(members: FleetMember[], edges: RemoteEdge[], order: Map<string, Resource[]>): string[] {
  const firstAwaited = new Map<string, number>();
  for (const e of edges) {
    if (!e.from.resource) continue;
    const pos = order.get(e.from.host)!.indexOf(e.from.resource);
    firstAwaited.set(e.from.host, Math.min(firstAwaited.get(e.from.host) ?? Infinity, pos));
  }
  const names = members.map((m) => m.host.name);
  return [...names].sort((a, b) => (firstAwaited.get(a) ?? Infinity) - (firstAwaited.get(b) ?? Infinity) || names.indexOf(a) - names.indexOf(b));
}
