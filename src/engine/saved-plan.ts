// Saved plans (as Terraform's): `--check --out PLAN` writes, per host, what
// each resource would change and two hashes per resource: its declared spec
// and the facts it was planned from. Applying the plan (`converge apply-plan
// PLAN`) compiles the states again and reads the facts again, and a host goes
// ahead only when both hashes of every resource are the same: plan() is pure,
// so the changes are then exactly the ones reviewed. Otherwise that host is
// refused, naming what changed. The file holds hashes, paths and actions,
// never a value, so it can be attached to a review.

import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { InputError } from '../core/diagnostics.js';
import type { ChangeAction, Facts } from '../core/resource.js';
import type { Resource } from '../state/compile.js';
import { canonicalJson, fingerprint, type RunOrigin } from './applied-record.js';

const VERSION = 1;

export interface PlannedResource {
  naturalId: string;
  /** Fingerprint of the declared spec (applied-record.ts). */
  spec: string;
  /** Hash of the facts the plan was made from. */
  facts: string;
  /** What would change: paths and actions only. */
  changes: { path: string; action: ChangeAction }[];
}

/** One host as planned: every resource (unchanged ones too: their facts must not have moved either). */
export type HostPlan = Record<string, PlannedResource>;

export interface SavedPlan {
  version: number;
  createdAt: string;
  origin: RunOrigin;
  hosts: Record<string, HostPlan>;
}

export const factsHash = (facts: Facts): string => createHash('sha256').update(canonicalJson(facts)).digest('hex').slice(0, 32);

/** A host's plan: what a check planned for each resource, as hashes. */
export function hostPlan(planned: { resource: Resource; facts: Facts; changes: { path: string; action: ChangeAction }[] }[]): HostPlan {
  return Object.fromEntries(
    planned.map(({ resource: r, facts, changes }) => [r.id, { naturalId: r.naturalId, spec: fingerprint(r), facts: factsHash(facts), changes: changes.map((c) => ({ path: c.path, action: c.action })) }]),
  );
}

/** Why a host's state differs from its saved plan, or undefined when it is the same. */
export function specDifferences(saved: HostPlan, resources: Resource[]): string | undefined {
  const now = new Map(resources.map((r) => [r.id, r]));
  const why: string[] = [];
  for (const [id, p] of Object.entries(saved)) {
    const r = now.get(id);
    if (!r) why.push(`${id} is no longer declared`);
    else if (fingerprint(r) !== p.spec) why.push(`${id} (${r.naturalId}) changed in the states`);
  }
  for (const id of now.keys()) if (!(id in saved)) why.push(`${id} is newly declared`);
  return why.length ? `the states changed since the plan: ${why.join('; ')}` : undefined;
}

/** Why the host's facts differ from those the plan was made from, or undefined. */
export function factDifferences(saved: HostPlan, planned: { resource: Resource; facts: Facts }[]): string | undefined {
  const why = planned.filter(({ resource: r, facts }) => saved[r.id] && saved[r.id].facts !== factsHash(facts)).map(({ resource: r }) => `${r.id} (${r.naturalId})`);
  return why.length ? `the host changed since the plan: ${why.join(', ')}` : undefined;
}

export function writePlan(file: string, plan: SavedPlan): void {
  writeFileSync(file, JSON.stringify(plan, null, 1) + '\n');
}

/** A saved plan from disk, refused when unreadable or older than maxAgeSeconds. */
export function readPlan(file: string, maxAgeSeconds: number, now = Date.now()): SavedPlan {
  let plan: SavedPlan;
  try {
    plan = JSON.parse(readFileSync(file, 'utf8')) as SavedPlan;
  } catch (e) {
    throw new InputError({ message: `cannot read the saved plan: ${(e as Error).message}`, where: { file }, hint: 'make one with `converge highstate --check --out FILE`' });
  }
  if (plan?.version !== VERSION || typeof plan.hosts !== 'object' || typeof plan.createdAt !== 'string') {
    throw new InputError({ message: 'not a converge saved plan (or one of another version)', where: { file }, hint: 'make one with `converge highstate --check --out FILE`' });
  }
  const age = (now - Date.parse(plan.createdAt)) / 1000;
  if (!(age <= maxAgeSeconds)) {
    throw new InputError({
      message: `the plan was made ${Number.isFinite(age) ? `${Math.round(age / 60)} min` : 'at an unknown time'} ago (${plan.createdAt}), more than the ${Math.round(maxAgeSeconds / 60)} min allowed`,
      where: { file },
      hint: 'check again and review the new plan, or pass --max-age SECONDS to accept an older one',
    });
  }
  return plan;
}
