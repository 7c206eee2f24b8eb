// Resource types built from other types' resources: cron is a file in
// /etc/cron.d, timezone a symlink and a file, locale two lines. Their facts,
// plans and applies are the parts' own, so atomic writes, diffs and
// owner/mode handling exist once.

import type { ApplyContext, Change, FactQueries, Facts, PlanContext, ResourceType } from '../../core/resource.js';

export interface Part {
  /** Unique within the resource: names the part's facts. */
  name: string;
  type: ResourceType;
  spec: unknown;
  /** Shown before the part's change paths (e.g. "/etc/timezone content"); none shows them as they are. */
  label?: string;
}

export function partFacts(parts: Part[], ctx: PlanContext): FactQueries {
  const out: FactQueries = {};
  for (const p of parts) for (const [k, q] of Object.entries(p.type.facts(p.spec, ctx))) out[`${p.name}.${k}`] = q;
  return out;
}

function factsOf(part: Part, facts: Facts): Facts {
  const prefix = `${part.name}.`;
  return Object.fromEntries(Object.entries(facts).flatMap(([k, v]) => (k.startsWith(prefix) ? [[k.slice(prefix.length), v]] : [])));
}

export function planParts(parts: Part[], facts: Facts, ctx: PlanContext): Change[] {
  return parts.flatMap((p) => p.type.plan(p.spec, factsOf(p, facts), ctx).map((c) => (p.label ? { ...c, path: `${p.label} ${c.path}` } : c)));
}

/** Applies each part whose plan is not empty (plans are pure: exactly what planParts reported). Returns the parts applied. */
export async function applyParts(parts: Part[], facts: Facts, ctx: ApplyContext): Promise<Part[]> {
  const applied: Part[] = [];
  for (const p of parts) {
    const f = factsOf(p, facts);
    const changes = p.type.plan(p.spec, f, ctx);
    if (!changes.length) continue;
    await p.type.apply(p.spec, changes, f, ctx);
    applied.push(p);
  }
  return applied;
}
