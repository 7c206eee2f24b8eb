// validate, show and graph: everything converge knows without connecting.

import { join, relative } from 'node:path';
import { stringify } from 'yaml';
import { toDot, toMermaid, why, type Graph, type Statuses } from '../graph/graph.js';
import { instance } from '@viz-js/viz';
import { InputError } from '../core/diagnostics.js';
import { prepareHosts, runHost, type PreparedHost } from '../engine/run.js';
import { buildFleetGraph, fleetDot, fleetMermaid, namedHostsBesides, type FleetGraph } from '../fleet/fleet-graph.js';
import { FactsCache } from '../engine/facts-cache.js';
import { rolledResources } from '../fleet/rollout.js';
import type { Host } from '../inventory/inventory.js';
import { loadContext, oneHost, type CommonArgs } from './context.js';

/**
 * Validate runs where production secrets are not (a pull request's CI): a
 * secret this environment cannot supply stands in as a placeholder, so every
 * template, schema and requisite that uses it is still checked, and is listed
 * as a note. So does a file that lookup('file') reads and a setup step
 * makes (the demo's test key). show, highstate, apply and --check still need
 * every secret and file.
 */
/** What converge knows without connecting: the facts the last run (or `converge facts`) kept. */
const keptFacts = () => {
  const cache = new FactsCache();
  return (h: Host) => cache.get(h);
};

export function validateCommand(args: CommonArgs): number {
  const ctx = loadContext(args, { secrets: 'placeholders' });
  // Every error of the tree and of every host, not the first.
  const attempt = <T>(f: () => T): T | InputError => {
    try {
      return f();
    } catch (e) {
      if (e instanceof InputError) return e;
      throw e;
    }
  };
  const loaded = attempt(() => ctx.tree.loadAll());
  // Files read by lookup('file') that are not there (one a setup step makes): placeholders, listed as notes.
  const missingFiles = new Set<string>();
  const prepared = attempt(() => prepareHosts(ctx.inventory, ctx.tree, ctx.hosts, undefined, keptFacts(), missingFiles));
  // Requisites on other hosts: names resolved on those hosts (compiled too when not targeted), no cycle across hosts.
  const fleet = prepared instanceof InputError ? undefined : attempt(() => fleetGraphOf(ctx, prepared, missingFiles));
  const rolled = prepared instanceof InputError ? undefined : attempt(() => rolledResources(prepared, ctx.inventory));
  const errors = [loaded, prepared, fleet, rolled].filter((r): r is InputError => r instanceof InputError);
  if (errors.length || prepared instanceof InputError || fleet instanceof InputError) throw new InputError(errors.flatMap((e) => e.diagnostics));
  const n = prepared.reduce((s, p) => s + p.graph.order.length, 0);
  const across = fleet?.edges.length ? `, ${fleet.edges.length} requisite(s) naming a host or role` : '';
  process.stdout.write(`valid: ${ctx.inventory.file}, ${ctx.tree.top!.file} and the states of ${prepared.length} host(s) (${n} resources${across})\n`);
  for (const m of ctx.inventory.missingSecrets) {
    process.stdout.write(`note: secret ${m.name} (${m.where.file}:${m.where.line ?? '?'}): ${m.why} here; validated with a placeholder. show, highstate and --check need it: ${m.hint}\n`);
  }
  for (const path of [...missingFiles].sort()) {
    const full = relative(process.cwd(), join(ctx.tree.dir, path));
    process.stdout.write(`note: lookup('file', '${path}'): ${full} does not exist here; validated with a placeholder. show, highstate and --check need it: create it (or the setup step that makes it) before running converge\n`);
  }
  return 0;
}

/** The fleet graph of the prepared hosts and the hosts they name; undefined when none names another host. */
function fleetGraphOf(ctx: ReturnType<typeof loadContext>, prepared: PreparedHost[], missingFiles?: Set<string>): FleetGraph | undefined {
  const besides = namedHostsBesides(prepared, ctx.inventory, []);
  if (!besides) return undefined;
  return buildFleetGraph([...prepared, ...prepareHosts(ctx.inventory, ctx.tree, besides, undefined, keptFacts(), missingFiles)], ctx.inventory);
}

export function showCommand(args: CommonArgs & { host: string }): number {
  const ctx = loadContext({ ...args, target: undefined });
  const [p] = prepareHosts(ctx.inventory, ctx.tree, [oneHost(ctx, args.host)], undefined, keptFacts());
  const list = p.graph.order.map((r) => ({
    id: r.id,
    resource: r.naturalId,
    from: `${r.where.file}:${r.where.line}`,
    after: [...p.graph.upstream(r).map((e) => `${e.from.id} (${e.kind})`), ...r.remote.map((q) => `${q.id} on ${q.host ?? `every host of role ${q.role}`} (${q.kind})`)],
    [r.kind]: r.spec,
    ...(r.rolling ? { rolling: r.rolling } : {}),
  }));
  process.stdout.write(ctx.inventory.redactor.redact(stringify(list, { lineWidth: 0 })));
  return 0;
}

export interface GraphArgs extends CommonArgs {
  host?: string;
  fleet: boolean;
  format: 'dot' | 'svg' | 'mermaid';
  why?: string[];
  check: boolean;
  acceptNewHostKeys: boolean;
}

export async function graphCommand(args: GraphArgs): Promise<number> {
  if (args.fleet) return fleetGraphCommand(args);
  if (!args.host) throw new InputError({ message: 'graph needs a host, or --fleet', where: { path: 'graph' }, hint: 'e.g. converge graph web-1, or converge graph --fleet' });
  const ctx = loadContext({ ...args, target: undefined });
  const [p] = prepareHosts(ctx.inventory, ctx.tree, [oneHost(ctx, args.host)], undefined, keptFacts());
  if (args.why) return whyCommand(args.host, p.graph, args.why);
  let statuses: Statuses | undefined;
  if (args.check) {
    const r = await runHost(p, { check: true, forks: 1, statesDir: ctx.tree.dir, acceptNewHostKeys: args.acceptNewHostKeys, signal: new AbortController().signal });
    if (r.error) throw new InputError({ message: `cannot check ${args.host} to colour the graph: ${r.error.message}`, where: { host: args.host }, hint: r.error.hint ?? 'run without --check' });
    statuses = new Map(r.resources.map((x) => [x.id, x.status]));
  }
  if (args.format === 'mermaid') process.stdout.write(toMermaid(p.graph, statuses));
  else if (args.format === 'svg') process.stdout.write((await instance()).renderString(toDot(args.host, p.graph, statuses), { format: 'svg' }));
  else process.stdout.write(toDot(args.host, p.graph, statuses));
  return 0;
}

/** The requisites between the targeted hosts (and those they name), drawn between the resources they join. */
async function fleetGraphCommand(args: GraphArgs): Promise<number> {
  const ctx = loadContext(args);
  const fleet = fleetGraphOf(ctx, prepareHosts(ctx.inventory, ctx.tree, ctx.hosts, undefined, keptFacts()));
  const edges = fleet?.edges ?? [];
  if (args.format === 'mermaid') process.stdout.write(fleetMermaid(edges));
  else if (args.format === 'svg') process.stdout.write((await instance()).renderString(fleetDot(edges), { format: 'svg' }));
  else process.stdout.write(fleetDot(edges));
  return 0;
}

function whyCommand(host: string, graph: Graph, names: string[]): number {
  const find = (name: string) => {
    const r = graph.order.find((x) => x.id === name || x.naturalId === name);
    if (!r) throw new InputError({ message: `no resource "${name}" on this host`, where: { host, path: '--why' }, hint: `use a state id or kind:name that \`converge show ${host}\` lists` });
    return r;
  };
  const [a, b] = names.map(find);
  const chain = why(graph, a, b);
  if (!chain) {
    process.stdout.write(`nothing orders ${a.id} before ${b.id}${why(graph, b, a) ? ` (but ${b.id} comes before ${a.id}: try --why ${b.id} ${a.id})` : ''}\n`);
    return 0;
  }
  process.stdout.write(chain.map((e) => `${e.from.id} -(${e.kind})-> ${e.to.id}\n`).join(''));
  return 0;
}
