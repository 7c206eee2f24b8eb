// The machine set-up shared by `npm run demo`, `npm test` and .ci/run
// (scripts/setup.mjs): its decisions, from what was probed, on a machine
// without Docker. The real install is exercised by .ci/run on a fresh machine.

import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without type declarations
import { plan } from '../../scripts/setup.mjs';

const KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';
const NOTHING = { dockerd: false, debootstrap: false, 'ssh-keygen': false, flock: true, [KEYRING]: true, chromium: false, tmux: false };
const fresh = { root: true, aptBased: true, commands: NOTHING, dockerUp: false, images: { bookworm: false, trixie: false } };
const ready = { root: true, aptBased: true, commands: Object.fromEntries(Object.keys(NOTHING).map((k) => [k, true])), dockerUp: true, images: { bookworm: true, trixie: true } };
const opts = (purpose: string, extra = {}) => ({ purpose, releases: purpose === 'demo' ? ['bookworm'] : ['bookworm', 'trixie'], check: false, selfCommand: `node scripts/setup.mjs --for ${purpose}`, ...extra });
const kinds = (p: { steps: { kind: string }[] }) => p.steps.map((s) => s.kind);

describe('setup decisions', () => {
  it('as root on a fresh Debian machine without Docker: installs the engine and tools, starts dockerd, builds the image', () => {
    const p = plan(fresh, opts('demo'));
    expect(p.blocked).toBeUndefined();
    expect(kinds(p)).toEqual(['apt-update', 'apt-install', 'start-dockerd', 'build-image']);
    expect(p.steps[1].packages).toEqual(['docker.io', 'debootstrap', 'openssh-client']);
    expect(p.steps[3].release).toBe('bookworm');
    // One line each, saying what it does.
    for (const s of p.steps) expect(s.say).toMatch(/^\S.{5,}$/);
  });

  it('on Ubuntu also installs Debian\'s archive keyring, which debootstrap needs for the Debian base', () => {
    const p = plan({ ...fresh, commands: { ...NOTHING, [KEYRING]: false } }, opts('demo'));
    expect(p.steps[1].packages).toEqual(['docker.io', 'debootstrap', 'openssh-client', 'debian-archive-keyring']);
  });

  it('for the tests and CI also installs Chromium and tmux and builds both releases', () => {
    const p = plan(fresh, opts('ci'));
    expect(p.steps[1].packages).toEqual(['docker.io', 'debootstrap', 'openssh-client', 'chromium', 'tmux']);
    expect(p.steps.filter((s: { kind: string }) => s.kind === 'build-image').map((s: { release: string }) => s.release)).toEqual(['bookworm', 'trixie']);
  });

  it('as another user prints the single command that does it, and does nothing', () => {
    const p = plan({ ...fresh, root: false }, opts('demo'));
    expect(p.steps).toEqual([]);
    expect(p.blocked.command).toBe('sudo node scripts/setup.mjs --for demo');
    expect(p.blocked.why).toContain('docker.io');
  });

  it('Docker installed but dockerd down: only starts it (and builds what is missing)', () => {
    const p = plan({ ...ready, dockerUp: false, images: { bookworm: true, trixie: false } }, opts('test'));
    expect(kinds(p)).toEqual(['start-dockerd', 'build-image']);
  });

  it('a ready machine: nothing to do, also without root (the docker group is enough)', () => {
    expect(plan({ ...ready, root: false }, opts('ci')).steps).toEqual([]);
  });

  it('a user whom the running dockerd refuses: names the docker group, not a sudo set-up that would change nothing', () => {
    const p = plan({ ...ready, root: false, user: 'ann', dockerUp: false, dockerDenied: true }, opts('demo'));
    expect(p.steps).toEqual([]);
    expect(p.blocked).toEqual({ why: 'dockerd is running but ann may not use it: join the docker group (and log in again)', command: 'sudo usermod -aG docker ann' });
    expect(plan({ ...ready, root: false, user: 'ann', dockerUp: false, dockerDenied: true }, opts('test', { check: true })).blocked.command).toBe('sudo usermod -aG docker ann');
  });

  it('a user in the docker group builds a test image from an existing base, but a missing base (debootstrap) needs root', () => {
    const user = { ...ready, root: false, images: { bookworm: false, trixie: false } };
    expect(kinds(plan({ ...user, bases: { bookworm: true } }, opts('demo')))).toEqual(['build-image']);
    const p = plan({ ...user, bases: { bookworm: true, trixie: false } }, opts('test'));
    expect(p.steps).toEqual([]);
    expect(p.blocked).toEqual({ why: 'the Debian base image of trixie (debootstrap) must be set up as root', command: 'sudo node scripts/setup.mjs --for test' });
    // npm test as that user stops before any test instead of failing in global setup's debootstrap.
    expect(plan({ ...user, bases: { bookworm: true, trixie: false } }, opts('test', { check: true })).blocked.why).toBe('this machine lacks the Debian base image of trixie (debootstrap)');
  });

  it('not Debian or Ubuntu: says what to install instead of guessing a package manager', () => {
    const p = plan({ ...fresh, aptBased: false }, opts('demo'));
    expect(p.blocked.why).toMatch(/not a Debian or Ubuntu machine: install docker\.io/);
  });

  it('--check (npm test) names what is missing and the command, installing nothing; missing images are not a blocker', () => {
    const p = plan({ ...fresh, root: false }, opts('test', { check: true }));
    expect(p.steps).toEqual([]);
    expect(p.blocked.why).toBe('this machine lacks packages docker.io, debootstrap, openssh-client, chromium, tmux and a running dockerd this user can reach (root, or a member of the docker group) and the Debian base image of bookworm and trixie (debootstrap)');
    expect(p.blocked.command).toBe('sudo node scripts/setup.mjs --for test');
    expect(plan({ ...ready, images: { bookworm: false, trixie: false } }, opts('test', { check: true })).blocked).toBeUndefined();
  });
});
