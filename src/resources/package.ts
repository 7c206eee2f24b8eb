// package: an apt package present (at a version, or the latest), absent or
// purged, and held or not. Every package resource of a host reads the same
// prefetched dpkg listing, and the engine merges the ready ones into one
// apt transaction (group 'apt'). The package lists are refreshed only when
// something is to be installed and they are over an hour old, so a no-op
// run never runs `apt-get update` (an apt source newer than the lists also
// calls for one).

import { HostError } from '../core/diagnostics.js';
import type { ApplyContext, Change, ResourceType } from '../core/resource.js';
import type { PackageSpec } from '../generated/index.js';
import {
  APT_STATE_SCRIPT,
  candidateScript,
  lockTimeout,
  parseAptState,
  parseCandidate,
  transactionError,
  transactionScript,
  type AptState,
  type AptTransaction,
  type DpkgPackage,
} from './lib/apt.js';

/** Package lists older than this are refreshed before an install (Ansible's cache_valid_time). */
export const MAX_LISTS_AGE_S = 3600;

interface PackageFacts {
  apt: AptState;
  /** Only for ensure: latest. */
  candidate?: string;
}

const isInstalled = (p?: DpkgPackage) => p?.state === 'installed';
/** Something of the package is on disk (files, or only its configuration). */
const isPresent = (p?: DpkgPackage) => !!p && p.state !== 'not-installed';

function describe(p?: DpkgPackage): string {
  if (!p || !isPresent(p)) return 'absent';
  if (p.state === 'config-files') return 'config files only';
  if (p.state === 'partial') return `${p.version} (${p.detail})`;
  return p.version;
}

function ago(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} days`;
}

/** Why the package lists must be refreshed before an install, or undefined when they are fresh. */
function listsStale(st: AptState): string | undefined {
  if (st.listsUpdated === undefined) return 'no package lists';
  if (st.sourcesChanged !== undefined && st.sourcesChanged > st.listsUpdated) return 'apt sources changed since the last refresh';
  const age = Math.max(0, st.now - st.listsUpdated);
  return age > MAX_LISTS_AGE_S ? `refreshed ${ago(age)} ago` : undefined;
}

/** The change to the package itself (path "installed"), or undefined when it is as the spec says. */
function installedChange(spec: PackageSpec, f: PackageFacts): Change | undefined {
  const p = f.apt.packages.get(spec.name);
  const before = describe(p);
  const ensure = spec.ensure ?? 'present';
  if (ensure === 'absent') return isInstalled(p) || p?.state === 'partial' ? { path: 'installed', action: 'delete', before, after: 'absent' } : undefined;
  if (ensure === 'purged') return isPresent(p) ? { path: 'installed', action: 'delete', before, after: 'purged' } : undefined;
  let after: string;
  if (ensure === 'latest') {
    if (f.candidate === undefined) {
      if (isInstalled(p)) return undefined;
      if (!listsStale(f.apt)) {
        throw new HostError(`apt has no installable version of ${spec.name}`, `check the package name and the host's apt sources (apt-cache policy ${spec.name})`);
      }
    } else if (isInstalled(p) && p?.version === f.candidate) return undefined;
    after = f.candidate ?? 'latest';
  } else if (spec.version !== undefined) {
    if (isInstalled(p) && p?.version === spec.version) return undefined;
    after = spec.version;
  } else {
    if (isInstalled(p)) return undefined;
    after = 'installed';
  }
  return { path: 'installed', action: isInstalled(p) || p?.state === 'partial' ? 'update' : 'create', before, after };
}

export function planPackage(spec: PackageSpec, f: PackageFacts): Change[] {
  const changes: Change[] = [];
  const installed = installedChange(spec, f);
  if (installed) changes.push(installed);
  const held = !!f.apt.packages.get(spec.name)?.held;
  if (spec.held !== undefined && spec.held !== held) changes.push({ path: 'held', action: 'update', before: held, after: spec.held });
  // Refresh only for an install, never for a no-op or a removal.
  const stale = listsStale(f.apt);
  if (installed && installed.action !== 'delete' && stale) changes.push({ path: 'apt-index', action: 'run', before: stale, after: 'apt-get update' });
  return changes;
}

/** What the planned changes of several package resources amount to as one apt transaction. */
export function aptTransaction(items: { spec: PackageSpec; changes: Change[]; facts: Partial<PackageFacts> }[]): AptTransaction {
  const t: AptTransaction = { refresh: false, unhold: [], install: [], remove: [], purge: [], changeHeld: false, hold: [] };
  for (const { spec, changes, facts } of items) {
    const { name } = spec;
    const installed = changes.find((c) => c.path === 'installed');
    const held = changes.find((c) => c.path === 'held');
    // A hold the spec keeps (held: true, or not managed) survives the change: apt resets it.
    const keepsHold = !!facts.apt?.packages.get(name)?.held && spec.held !== false;
    if (changes.some((c) => c.path === 'apt-index')) t.refresh = true;
    if (held?.after === false) t.unhold.push(name);
    if (installed) {
      if (keepsHold) t.changeHeld = true;
      if (spec.ensure === 'absent') t.remove.push(name);
      else if (spec.ensure === 'purged') t.purge.push(name);
      else t.install.push(spec.version !== undefined ? `${name}=${spec.version}` : name);
    }
    const installs = !!installed && installed.action !== 'delete';
    if (held?.after === true || (installs && keepsHold)) t.hold.push(name);
  }
  return t;
}

function summary(t: AptTransaction): string {
  const parts = [
    t.install.length ? `installing ${t.install.join(', ')}` : '',
    t.remove.length ? `removing ${t.remove.join(', ')}` : '',
    t.purge.length ? `purging ${t.purge.join(', ')}` : '',
    t.hold.length ? `holding ${t.hold.join(', ')}` : '',
    t.unhold.length ? `unholding ${t.unhold.join(', ')}` : '',
  ];
  return parts.filter(Boolean).join('; ');
}

async function applyPackages(items: { spec: PackageSpec; changes: Change[]; facts: Partial<PackageFacts> }[], ctx: ApplyContext): Promise<void> {
  const t = aptTransaction(items);
  const timeout = lockTimeout();
  const res = await ctx.exec({ script: transactionScript(t, timeout) });
  if (res.cutOff) throw new HostError(`${summary(t)}: ${res.cutOff}`, 'run again: the next run waits for it, and finishes whatever dpkg left half done');
  if (res.code !== 0) {
    const err = transactionError(res.code, res.stderr, timeout);
    throw new HostError(`${summary(t)}: ${err.message}`, err.hint);
  }
}

export const pkg: ResourceType<PackageSpec, PackageFacts> = {
  kind: 'package',
  id: (spec) => `package:${spec.name}`,

  facts: (spec) => ({
    // One key for every package resource: the dpkg listing is read once per host.
    apt: { key: 'apt:state', script: APT_STATE_SCRIPT, parse: parseAptState },
    ...(spec.ensure === 'latest' ? { candidate: { key: `apt:candidate:${spec.name}`, script: candidateScript(spec.name), parse: parseCandidate } } : {}),
  }),

  plan: (spec, facts) => planPackage(spec, facts),

  group: 'apt',
  together: 'one apt transaction',
  applyGroup: applyPackages,
  apply: (spec, changes, facts, ctx) => applyPackages([{ spec, changes, facts }], ctx),
};
