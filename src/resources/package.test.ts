// package: fact parsers on output captured from a Debian 12 container
// (test/fixtures/package/), plans from fixtures, and the one apt
// transaction that a group of package resources turns into.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import type { ApplyContext, Change, Command } from '../core/resource.js';
import type { PackageSpec } from '../generated/index.js';
import { lockTimeout, parseAptState, parseCandidate, parseDpkgStatus, transactionError, transactionScript, type AptState } from './lib/apt.js';
import { aptTransaction, pkg, planPackage } from './package.js';
import { factFixture, readFixture } from '../../test/support/fixtures.js';

// dpkg-*.json: the apt:state query's output; policy-*.json: apt-cache policy for latest (test/fixtures/package/README.md).
const ctx = { host: { name: 'h', sshPort: 22, loginUser: 'root' }, sensitive: false, statesDir: '/s' };
/** The apt state of a fixture, refused when it was captured from another script than the code sends now. */
const aptFixture = (name: string) => factFixture(pkg.facts({ name: 'any' }, ctx).apt, 'package', name);
/** The candidate apt-cache policy gave for `spec.name` (ensure: latest). */
const candidateFixture = (spec: PackageSpec, name: string) => {
  const q = pkg.facts({ ...spec, ensure: 'latest' }, ctx).candidate;
  if (!q) throw new Error('package: no candidate query for ensure: latest');
  return factFixture(q, 'package', name);
};
const SCHEMA = JSON.parse(readFileSync(join(import.meta.dirname, '../../schemas/resources/package.schema.json'), 'utf8'));

function state(file: string, nowShift = 0): AptState {
  const st = aptFixture(file);
  return { ...st, now: st.now + nowShift };
}

describe('package facts', () => {
  it('parses the dpkg listing: versions, holds and every status', () => {
    const st = aptFixture('dpkg-states');
    const get = (n: string) => st.packages.get(n);
    expect(get('hello')).toEqual({ version: '2.10-3', held: false, state: 'installed' });
    expect(get('tree')).toEqual({ version: '2.1.0-1', held: true, state: 'installed' });
    expect(get('figlet')).toEqual({ version: '', held: true, state: 'not-installed' });
    expect(get('logrotate')).toEqual({ version: '3.21.0-1', held: false, state: 'config-files' });
    expect(get('sl')).toEqual({ version: '5.02-1+b1', held: false, state: 'partial', detail: 'unpacked' });
    expect(get('hello-traditional')).toEqual({ version: '', held: false, state: 'not-installed' });
    expect(get('whois')).toBeUndefined();
    expect(st.packages.size).toBe(452);
    expect(st.now).toBe(1795808365);
    // The newest *_Packages file, and sources older than it.
    expect(st.listsUpdated).toBe(1795806757);
    expect(st.sourcesChanged).toBe(1795806750);
  });

  it('counts the stamp converge leaves after apt-get update, sources changed since, and nothing without list files', () => {
    const after = aptFixture('dpkg-after-update');
    expect(after.listsUpdated).toBe(1795808386);
    expect(after.packages.get('tree')).toEqual({ version: '2.1.0-1', held: true, state: 'installed' });
    expect(aptFixture('dpkg-sources-changed').sourcesChanged).toBe(1795808390);
    expect(aptFixture('dpkg-no-lists').listsUpdated).toBeUndefined();
    expect(parseAptState('@now\t100\n@stamp\t90\n').listsUpdated).toBeUndefined();
  });

  it('reads dpkg status abbreviations, and keeps the most installed entry of a name listed per architecture', () => {
    expect(parseDpkgStatus('1', 'iF ')).toMatchObject({ state: 'partial', detail: 'half-configured' });
    expect(parseDpkgStatus('1', 'iHR')).toMatchObject({ state: 'partial', detail: 'reinstall required' });
    expect(parseDpkgStatus('1', 'iW ')).toMatchObject({ state: 'installed' });
    expect(parseDpkgStatus('1', 'hi ')).toMatchObject({ state: 'installed', held: true });
    const st = parseAptState('libc6\t2.36-9\tii \nlibc6\t2.36-9\tun \nzlib1g\t\tun \nzlib1g\t1:1.2.13\thi \n@now\t1\n');
    expect(st.packages.get('libc6')).toMatchObject({ state: 'installed', version: '2.36-9' });
    expect(st.packages.get('zlib1g')).toMatchObject({ state: 'installed', version: '1:1.2.13', held: true });
  });

  it('parses the candidate from apt-cache policy', () => {
    expect(candidateFixture({ name: 'tzdata' }, 'policy-tzdata')).toBe('2026f-0+deb12u1');
    expect(candidateFixture({ name: 'hello' }, 'policy-hello')).toBe('2.10-3');
    expect(candidateFixture({ name: 'figlet' }, 'policy-figlet')).toBe('2.2.5-3+b1');
    expect(candidateFixture({ name: 'no-such-package' }, 'policy-no-such-package')).toBeUndefined();
    expect(parseCandidate('x:\n  Installed: (none)\n  Candidate: (none)\n')).toBeUndefined();
  });

  it('shares one prefetch between all package resources; only latest asks apt for a candidate', () => {
    const ctx = { host: { name: 'h', sshPort: 22, loginUser: 'root' }, sensitive: false, statesDir: '/s' };
    const a = pkg.facts({ name: 'hello' }, ctx);
    const b = pkg.facts({ name: 'tree', ensure: 'latest' }, ctx);
    expect(Object.keys(a)).toEqual(['apt']);
    expect(a.apt.key).toBe(b.apt.key);
    expect(a.apt.script).toBe(b.apt.script);
    expect(b.candidate?.key).toBe('apt:candidate:tree');
    expect(b.candidate?.script).toBe('apt-cache policy tree');
  });
});

interface PlanCase {
  name: string;
  spec: PackageSpec;
  facts: string;
  nowShift?: number;
  candidate?: string;
  changes?: Change[];
  error?: string;
}

describe('package plans (test/fixtures/package/plans.json)', () => {
  const { cases } = readFixture<{ cases: PlanCase[] }>('package', 'plans');
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const facts = { apt: state(c.facts, c.nowShift), candidate: c.candidate ? candidateFixture(c.spec, c.candidate) : undefined };
    if (c.error) expect(() => planPackage(c.spec, facts)).toThrow(c.error);
    else expect(planPackage(c.spec, facts)).toEqual(c.changes);
  });

  it('covers every ensure value, a version, holds, and stale, fresh and missing lists', () => {
    const specs = cases.map((c) => c.spec);
    for (const e of ['present', 'absent', 'purged', 'latest']) expect(specs.some((s) => (s.ensure ?? 'present') === e)).toBe(true);
    expect(specs.some((s) => s.version)).toBe(true);
    expect(specs.some((s) => s.held === true) && specs.some((s) => s.held === false)).toBe(true);
    // No case with an empty plan ever refreshes the lists.
    for (const c of cases) if (!c.changes?.some((x) => x.path === 'installed')) expect(c.changes?.some((x) => x.path === 'apt-index') ?? false).toBe(false);
  });
});

describe('package schema', () => {
  const validate = new Ajv({ strict: false }).compile(SCHEMA);
  it('accepts its examples and refuses contradictions', () => {
    for (const ex of SCHEMA.examples) expect(validate(ex)).toBe(true);
    expect(validate({ name: 'nginx', ensure: 'latest', version: '1.2' })).toBe(false);
    expect(validate({ name: 'nginx', ensure: 'absent', held: true })).toBe(false);
    expect(validate({ name: 'nginx', ensure: 'absent', held: false })).toBe(true);
    expect(validate({ name: 'nginx', version: '1:1.22.1-9' })).toBe(true);
    expect(validate({ name: 'nginx', version: '1.2; rm -rf /' })).toBe(false);
  });
});

/** Plan each spec against the captured facts, as the engine would, and merge them. */
function merged(specs: PackageSpec[], nowShift = 0) {
  const apt = state('dpkg-states', nowShift);
  return aptTransaction(specs.map((spec) => ({ spec, changes: planPackage(spec, { apt }), facts: { apt } })));
}

describe('package transaction', () => {
  it('merges installs, removals and holds of several resources into one apt-get install', () => {
    const t = merged([{ name: 'whois' }, { name: 'hello', ensure: 'absent' }, { name: 'tzdata', version: '2026f-0+deb12u1' }, { name: 'sl', held: true }], 14400);
    expect(t).toEqual({
      refresh: true,
      unhold: [],
      install: ['whois', 'tzdata=2026f-0+deb12u1', 'sl'],
      remove: ['hello'],
      purge: [],
      changeHeld: false,
      hold: ['sl'],
    });
    const script = transactionScript(t, 300);
    const installs = script.split('\n').filter((l) => l.startsWith('locked aptget'));
    expect(installs).toEqual([
      'locked aptget -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold --allow-downgrades install whois tzdata=2026f-0+deb12u1 sl hello-',
    ]);
    // apt-get update once, before; the hold after the install (a hold first would block it).
    const steps = script.split('\n').filter((l) => l.startsWith('locked '));
    expect(steps).toEqual(['locked apt-get -q update', installs[0], 'locked apt-mark hold sl']);
    expect(script).toContain('export DEBIAN_FRONTEND=noninteractive');
    expect(script).toContain('deadline=$(( $(date +%s) + 300 ))');
    expect(script).not.toContain('--no-install-recommends');
    // What a killed dpkg left in its journal is finished first (apt refuses to run until it is).
    expect(script).toContain('if [ -n "$(ls -A /var/lib/dpkg/updates 2>/dev/null)" ]; then locked dpkg --configure -a; fi');
    expect(script.indexOf('dpkg --configure -a')).toBeLessThan(script.indexOf('locked apt-get -q update'));
  });

  it('keeps a hold across a change the spec asks for, and releases one before installing when asked', () => {
    // figlet is held but not installed: apt needs the override, and resets the hold.
    expect(merged([{ name: 'figlet' }])).toMatchObject({ install: ['figlet'], changeHeld: true, hold: ['figlet'] });
    expect(merged([{ name: 'figlet', held: true }])).toMatchObject({ install: ['figlet'], changeHeld: true, hold: ['figlet'] });
    // Removing a held package: override, no hold on what is gone.
    expect(merged([{ name: 'tree', ensure: 'absent' }])).toMatchObject({ remove: ['tree'], changeHeld: true, hold: [] });
    // held: false: unhold first, so no override.
    const t = merged([{ name: 'tree', held: false, version: '2.1.0-2' }]);
    expect(t).toMatchObject({ unhold: ['tree'], install: ['tree=2.1.0-2'], changeHeld: false, hold: [] });
    const steps = transactionScript(t, 5).split('\n').filter((l) => l.startsWith('locked '));
    expect(steps[0]).toBe('locked apt-mark unhold tree');
    expect(steps[1]).toMatch(/ install tree=2\.1\.0-2$/);
    expect(transactionScript(merged([{ name: 'figlet' }]), 5)).toContain('--allow-change-held-packages install figlet');
  });

  it('purges with --purge in the same call, and needs a second call only for removals next to purges', () => {
    const purgeOnly = transactionScript(merged([{ name: 'logrotate', ensure: 'purged' }, { name: 'whois' }]), 5);
    expect(purgeOnly.split('\n').filter((l) => l.startsWith('locked aptget'))).toEqual([
      'locked aptget -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold --purge install whois logrotate-',
    ]);
    const both = transactionScript(merged([{ name: 'logrotate', ensure: 'purged' }, { name: 'hello', ensure: 'absent' }]), 5);
    expect(both.split('\n').filter((l) => l.startsWith('locked aptget')).map((l) => l.replace(/^.*confold /, ''))).toEqual(['--purge install logrotate-', 'remove hello']);
  });

  it('changes only holds without apt-get, and never refreshes for them', () => {
    const t = merged([{ name: 'hello', held: true }, { name: 'tree', held: false }], 14400);
    expect(t).toMatchObject({ refresh: false, install: [], hold: ['hello'], unhold: ['tree'] });
    const steps = transactionScript(t, 5).split('\n').filter((l) => l.startsWith('locked '));
    expect(steps).toEqual(['locked apt-mark unhold tree', 'locked apt-mark hold hello']);
  });

  it('apply runs the same transaction as applyGroup with one item', async () => {
    const scripts: string[] = [];
    const ctx = { exec: async (c: Command) => (scripts.push(c.script), { code: 0, stdout: '', stderr: '' }) } as unknown as ApplyContext;
    const apt = state('dpkg-states');
    const spec: PackageSpec = { name: 'whois', held: true };
    const changes = planPackage(spec, { apt });
    await pkg.apply(spec, changes, { apt }, ctx);
    await pkg.applyGroup!([{ spec, changes, facts: { apt } }], ctx);
    expect(scripts).toHaveLength(2);
    expect(scripts[0]).toBe(scripts[1]);
  });

  it('names the dpkg lock, its holder and the wait when the lock times out', async () => {
    const lock = transactionError(75, 'converge-dpkg-lock: /var/lib/dpkg/lock-frontend held by process 1629 (dpkg)\n', 5);
    expect(lock.message).toBe('gave up after waiting 5s for the dpkg lock: /var/lib/dpkg/lock-frontend held by process 1629 (dpkg)');
    expect(lock.hint).toMatch(/CONVERGE_DPKG_LOCK_TIMEOUT/);
    const other = transactionError(100, 'Reading package lists...\nE: Unable to locate package nope\n', 5);
    expect(other.message).toBe('apt transaction failed (exit 100): E: Unable to locate package nope');
    const ctx = { exec: async () => ({ code: 75, stdout: '', stderr: 'converge-dpkg-lock: /var/lib/dpkg/lock held by process 7 (apt-get)\n' }) } as unknown as ApplyContext;
    const apt = state('dpkg-states');
    await expect(pkg.applyGroup!([{ spec: { name: 'whois' }, changes: planPackage({ name: 'whois' }, { apt }), facts: { apt } }], ctx)).rejects.toThrow(
      /^installing whois: gave up after waiting 300s for the dpkg lock: \/var\/lib\/dpkg\/lock held by process 7 \(apt-get\)$/,
    );
  });

  it('says so when the transaction was cut off (connection lost), not just "exit 255"', async () => {
    const ctx = { exec: async () => ({ code: 255, stdout: '', stderr: '', cutOff: 'the SSH connection was lost; the command may still be running on the host' }) } as unknown as ApplyContext;
    const apt = state('dpkg-states');
    await expect(pkg.applyGroup!([{ spec: { name: 'whois' }, changes: planPackage({ name: 'whois' }, { apt }), facts: { apt } }], ctx)).rejects.toThrow(
      /^installing whois: the SSH connection was lost; the command may still be running on the host$/,
    );
  });

  it('reads the lock timeout from CONVERGE_DPKG_LOCK_TIMEOUT', () => {
    expect(lockTimeout({})).toBe(300);
    expect(lockTimeout({ CONVERGE_DPKG_LOCK_TIMEOUT: '5' })).toBe(5);
    expect(() => lockTimeout({ CONVERGE_DPKG_LOCK_TIMEOUT: '5m' })).toThrow(/whole number of seconds/);
  });
});
