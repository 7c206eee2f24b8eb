// The dependency graph of one host's resources: explicit requisites plus
// implicit edges (parent directory, owner, package before service). The
// order is stable: among resources that are ready, declaration order wins.

import { InputError } from '../core/diagnostics.js';
import { REQUISITES, REQUISITES_IN, type Requisite, type Resource } from '../state/compile.js';

export type EdgeKind = Requisite | 'implicit';
const EDGE_KINDS: readonly EdgeKind[] = [...REQUISITES, 'implicit'];

export interface Edge {
  /** Runs first. */
  from: Resource;
  /** Runs after `from`. */
  to: Resource;
  kind: EdgeKind;
}

export interface Graph {
  /** Resources in apply order. */
  order: Resource[];
  edges: Edge[];
  upstream(r: Resource): Edge[];
  downstream(r: Resource): Edge[];
  /**
   * upstream(r)[k] read in place, for k below upstreamCount(r): the engine
   * reads every resource's upstream on every host, which as arrays of Edge
   * objects was its largest allocation (about a tenth of the simulator's).
   */
  upstreamCount(r: Resource): number;
  upstreamFrom(r: Resource, k: number): Resource;
  upstreamKind(r: Resource, k: number): EdgeKind;
}

/** `dropped`: ids a `when` left out on this host; a requisite naming one is met (compile.ts). */
export function buildGraph(resources: Resource[], dropped: ReadonlySet<string> = new Set()): Graph {
  const byId = new Map<string, Resource>();
  const index = new Map<Resource, number>();
  for (let i = 0; i < resources.length; i++) {
    const r = resources[i];
    byId.set(r.id, r);
    byId.set(r.naturalId, r);
    index.set(r, i);
  }
  // Edges as numbers (from, to, kind: three per edge), made into Edge objects only when asked for (HostGraph).
  const edges: number[] = [];
  // An edge is known by a number (from, to, kind), not a string: every host's graph is built in one go.
  const seen = new Set<number>();
  const add = (from: Resource, to: Resource, kind: EdgeKind) => {
    const f = index.get(from)!;
    const t = index.get(to)!;
    const k = EDGE_KINDS.indexOf(kind);
    const key = (f * resources.length + t) * EDGE_KINDS.length + k;
    if (from === to || seen.has(key)) return;
    seen.add(key);
    edges.push(f, t, k);
  };
  const target = (r: Resource, kind: Requisite | (typeof REQUISITES_IN)[number], i: number): Resource | undefined => {
    const name = r.requisites[kind][i];
    const t = byId.get(name);
    if (t || dropped.has(name)) return t;
    throw new InputError({
      message: `${kind} names "${name}", which is not a resource of this host`,
      where: r.at(kind, i),
      hint: `name a state id or kind:name (such as package:nginx) of a state this host gets: is "${name}" misspelt, or is its state in another role than this host's (top file)?`,
    });
  };
  for (const r of resources) {
    for (const kind of REQUISITES) {
      for (let i = 0; i < r.requisites[kind].length; i++) {
        const t = target(r, kind, i);
        if (!t) continue;
        if (kind === 'before') add(r, t, 'before');
        else add(t, r, kind);
      }
    }
    // watch_in: [nginx] on r is nginx's watch: [r].
    for (const kind of REQUISITES_IN) {
      const base = kind.slice(0, -3) as Requisite;
      for (let i = 0; i < r.requisites[kind].length; i++) {
        const t = target(r, kind, i);
        if (!t) continue;
        if (base === 'watch' && !t.type.onWatch) {
          throw new InputError({ message: `watch_in names ${t.id}, a ${t.kind}, which cannot react to changes`, where: r.at(kind, i), hint: 'name a service or a command, or use require_in (order only)' });
        }
        add(r, t, base);
      }
    }
    if (r.requisites.watch.length && !r.type.onWatch) {
      throw new InputError({ message: `a ${r.kind} cannot react to watched changes`, where: r.at('watch'), hint: 'use require (order only) or onchanges; watch is for services and commands' });
    }
    for (const nid of r.type.implicitAfter?.(r.spec) ?? []) {
      const t = byId.get(nid);
      if (t) add(t, r, 'implicit');
    }
  }
  return new HostGraph(resources, Int32Array.from(edges), index);
}

/** The same graph (edges and their lookups, read through the prototype) in another order, e.g. the fleet's order of one host's resources. */
export function withOrder(g: Graph, order: Resource[]): Graph {
  return Object.assign(Object.create(g) as Graph, { order });
}

const NO_EDGES: Edge[] = Object.freeze([]) as unknown as Edge[];

/**
 * Every host's graph lives for the whole run, so it keeps its edges as
 * numbers in typed arrays (grouped by each end: the edges into resource i
 * are up[upFirst[i]..upFirst[i+1]]), not an object per edge and a map of
 * arrays per end (at 1000 hosts x 100 resources, the heap after compile
 * went from 46 to 36 MB). Edge objects are made when asked for, and let go
 * by the caller; the engine's per-resource paths read edges in place
 * (upstreamCount, upstreamFrom, upstreamKind) and make none.
 * A class, not closures returned by buildGraph: those would share its scope
 * and keep its lookup maps (by id, the edges seen).
 */
class HostGraph implements Graph {
  readonly order: Resource[];
  private readonly upFirst: Int32Array;
  private readonly up: Int32Array;
  private readonly downFirst: Int32Array;
  private readonly down: Int32Array;
  constructor(
    /** In declaration order: an edge's ends are indexes in it. */
    private readonly resources: Resource[],
    /** From, to and kind (an index in EDGE_KINDS) of each edge, in the order they were found. */
    private readonly ends: Int32Array,
    private readonly index: Map<Resource, number>,
  ) {
    [this.upFirst, this.up] = edgesBy(ends, resources.length, 1);
    [this.downFirst, this.down] = edgesBy(ends, resources.length, 0);
    this.order = stableTopoSort(this);
  }
  get edges(): Edge[] {
    const out: Edge[] = [];
    for (let e = 0; e < this.ends.length / 3; e++) out.push(this.edge(e));
    return out;
  }
  upstream(r: Resource): Edge[] {
    return this.around(r, this.upFirst, this.up);
  }
  downstream(r: Resource): Edge[] {
    return this.around(r, this.downFirst, this.down);
  }
  upstreamCount(r: Resource): number {
    const i = this.index.get(r);
    return i === undefined ? 0 : this.upFirst[i + 1] - this.upFirst[i];
  }
  upstreamFrom(r: Resource, k: number): Resource {
    return this.resources[this.ends[this.upEdge(r, k) * 3]];
  }
  upstreamKind(r: Resource, k: number): EdgeKind {
    return EDGE_KINDS[this.ends[this.upEdge(r, k) * 3 + 2]];
  }
  /** The successors' indexes of resource i, for the sort. */
  eachNext(i: number, f: (j: number) => void): void {
    for (let k = this.downFirst[i]; k < this.downFirst[i + 1]; k++) f(this.ends[this.down[k] * 3 + 1]);
  }
  upCount(i: number): number {
    return this.upFirst[i + 1] - this.upFirst[i];
  }
  get size(): number {
    return this.resources.length;
  }
  at(i: number): Resource {
    return this.resources[i];
  }
  private around(r: Resource, first: Int32Array, list: Int32Array): Edge[] {
    const i = this.index.get(r);
    if (i === undefined || first[i] === first[i + 1]) return NO_EDGES;
    const out: Edge[] = [];
    for (let k = first[i]; k < first[i + 1]; k++) out.push(this.edge(list[k]));
    return out;
  }
  /** The number of r's kth upstream edge (in the order upstream(r) lists them). */
  private upEdge(r: Resource, k: number): number {
    return this.up[this.upFirst[this.index.get(r)!] + k];
  }
  private edge(e: number): Edge {
    return { from: this.resources[this.ends[e * 3]], to: this.resources[this.ends[e * 3 + 1]], kind: EDGE_KINDS[this.ends[e * 3 + 2]] };
  }
}

/**
 * Edge numbers grouped by one end (0: from, 1: to), in the order the edges
 * were found (CSR: those of resource i are list[first[i]..first[i+1]]).
 */
function edgesBy(ends: Int32Array, n: number, end: 0 | 1): [Int32Array, Int32Array] {
  const count = ends.length / 3;
  const first = new Int32Array(n + 1);
  for (let e = 0; e < count; e++) first[ends[e * 3 + end] + 1]++;
  for (let i = 0; i < n; i++) first[i + 1] += first[i];
  const list = new Int32Array(count);
  const fill = first.slice(0, n);
  for (let e = 0; e < count; e++) list[fill[ends[e * 3 + end]]++] = e;
  return [first, list];
}

/** Kahn's algorithm; among ready resources the earliest declared goes first (a min-heap on declaration index). */
function stableTopoSort(g: HostGraph): Resource[] {
  const n = g.size;
  const indegree = new Int32Array(n);
  for (let i = 0; i < n; i++) indegree[i] = g.upCount(i);
  const heap = new MinHeap();
  for (let i = 0; i < n; i++) if (indegree[i] === 0) heap.push(i);
  const order: Resource[] = [];
  const ready = (j: number) => {
    if (--indegree[j] === 0) heap.push(j);
  };
  while (heap.size) {
    const i = heap.pop();
    order.push(g.at(i));
    g.eachNext(i, ready);
  }
  if (order.length < n) {
    const remaining: Resource[] = [];
    for (let i = 0; i < n; i++) if (indegree[i] > 0) remaining.push(g.at(i));
    throw cycleError(remaining, g.edges);
  }
  return order;
}

/** Not `[a[i], a[j]] = [a[j], a[i]]`: unless optimized, that makes an array (and an iterator) per swap, in every host's graph. */
function swap(a: number[], i: number, j: number): void {
  const t = a[i];
  a[i] = a[j];
  a[j] = t;
}

class MinHeap {
  private readonly a: number[] = [];
  get size(): number {
    return this.a.length;
  }
  push(v: number): void {
    const a = this.a;
    a.push(v);
    for (let i = a.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (a[p] <= a[i]) break;
      swap(a, p, i);
      i = p;
    }
  }
  pop(): number {
    const a = this.a;
    const top = a[0];
    const last = a.pop()!;
    if (a.length) {
      a[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l] < a[m]) m = l;
        if (r < a.length && a[r] < a[m]) m = r;
        if (m === i) break;
        swap(a, m, i);
        i = m;
      }
    }
    return top;
  }
}

function cycleError(remaining: Resource[], edges: Edge[]): InputError {
  const set = new Set(remaining);
  const next = new Map<Resource, Edge[]>();
  for (const e of edges) if (set.has(e.from) && set.has(e.to)) next.set(e.from, [...(next.get(e.from) ?? []), e]);
  // Walk until a node repeats: the part from its first visit is the cycle.
  const path: Edge[] = [];
  const visitedAt = new Map<Resource, number>();
  let cur = remaining[0];
  while (!visitedAt.has(cur)) {
    visitedAt.set(cur, path.length);
    const e = next.get(cur)![0];
    path.push(e);
    cur = e.to;
  }
  const cycle = path.slice(visitedAt.get(cur));
  const text = cycle.map((e) => `${e.from.id} -(${e.kind})-> `).join('') + cycle[0].from.id;
  return new InputError({
    message: `dependency cycle: ${text}`,
    where: cycle[0].from.where,
    hint: 'remove or reverse one of these requisites',
  });
}

/** Fill colours of resources by status, after a check. */
const STATUS_COLOR: Record<string, string> = { unchanged: '#e8f5e9', changed: '#fff3e0', 'would-change': '#e3f2fd', failed: '#ffebee', skipped: '#f3e5f5' };

export type Statuses = Map<string, string>;

export function toDot(hostName: string, graph: Graph, statuses?: Statuses): string {
  const q = (s: string) => JSON.stringify(s);
  const lines = [`digraph ${q(hostName)} {`, '  rankdir=LR;', '  node [shape=box, fontname="monospace", style=filled, fillcolor="white"];'];
  for (const r of graph.order) {
    const st = statuses?.get(r.id);
    lines.push(`  ${q(r.id)} [label=${q(`${r.id}\n${r.naturalId}${st ? `\n(${st})` : ''}`)}${st ? `, fillcolor=${q(STATUS_COLOR[st] ?? 'white')}` : ''}];`);
  }
  const style: Record<EdgeKind, string> = {
    require: '',
    before: ' [label="before"]',
    watch: ' [style=bold, color="blue", label="watch"]',
    onchanges: ' [style=dashed, color="darkgreen", label="onchanges"]',
    implicit: ' [style=dotted, color="gray"]',
  };
  for (const e of graph.edges) lines.push(`  ${q(e.from.id)} -> ${q(e.to.id)}${style[e.kind]};`);
  lines.push('}');
  return lines.join('\n') + '\n';
}

export function toMermaid(graph: Graph, statuses?: Statuses): string {
  const ids = new Map(graph.order.map((r, i) => [r, `r${i}`]));
  const lines = ['flowchart LR'];
  for (const r of graph.order) lines.push(`  ${ids.get(r)}["${r.id}<br/>${r.naturalId}"]${statuses?.get(r.id) ? `:::${statuses.get(r.id)!.replace('-', '_')}` : ''}`);
  const arrow: Record<EdgeKind, string> = { require: '-->', before: '-- before -->', watch: '== watch ==>', onchanges: '-. onchanges .->', implicit: '-.->' };
  for (const e of graph.edges) lines.push(`  ${ids.get(e.from)} ${arrow[e.kind]} ${ids.get(e.to)}`);
  if (statuses) for (const [st, color] of Object.entries(STATUS_COLOR)) lines.push(`  classDef ${st.replace('-', '_')} fill:${color}`);
  return lines.join('\n') + '\n';
}

/** The chain of edges that orders `a` before `b` (shortest), or undefined when none does. */
export function why(graph: Graph, a: Resource, b: Resource): Edge[] | undefined {
  const prev = new Map<Resource, Edge>();
  const queue = [a];
  const seen = new Set([a]);
  while (queue.length) {
    const cur = queue.shift()!;
    if (cur === b) break;
    for (const e of graph.downstream(cur)) {
      if (seen.has(e.to)) continue;
      seen.add(e.to);
      prev.set(e.to, e);
      queue.push(e.to);
    }
  }
  if (!prev.has(b)) return undefined;
  const chain: Edge[] = [];
  for (let cur = b; cur !== a; cur = prev.get(cur)!.from) chain.unshift(prev.get(cur)!);
  return chain;
}
