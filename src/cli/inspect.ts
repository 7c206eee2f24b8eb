// validate, show and graph: everything converge knows without connecting.

import { stringify } from 'yaml';
import { toDot } from '../graph/graph.js';
import { prepareHosts } from '../engine/run.js';
import { loadContext, oneHost, type CommonArgs } from './context.js';

export function validateCommand(args: CommonArgs): number {
  const ctx = loadContext(args);
  const prepared = prepareHosts(ctx.inventory, ctx.tree, ctx.hosts);
  const n = prepared.reduce((s, p) => s + p.graph.order.length, 0);
  process.stdout.write(`valid: ${ctx.inventory.file}, ${ctx.tree.dir}/top.yaml and the states of ${prepared.length} host(s) (${n} resources)\n`);
  return 0;
}

export function showCommand(args: CommonArgs & { host: string }): number {
  const ctx = loadContext({ ...args, target: undefined });
  const [p] = prepareHosts(ctx.inventory, ctx.tree, [oneHost(ctx, args.host)]);
  const list = p.graph.order.map((r) => ({
    id: r.id,
    resource: r.naturalId,
    from: `${r.where.file}:${r.where.line}`,
    after: p.graph.upstream(r).map((e) => `${e.from.id} (${e.kind})`),
    [r.kind]: r.spec,
  }));
  process.stdout.write(ctx.inventory.redactor.redact(stringify(list, { lineWidth: 0 })));
  return 0;
}

export function graphCommand(args: CommonArgs & { host: string }): number {
  const ctx = loadContext({ ...args, target: undefined });
  const [p] = prepareHosts(ctx.inventory, ctx.tree, [oneHost(ctx, args.host)]);
  process.stdout.write(toDot(args.host, p.graph));
  return 0;
}
