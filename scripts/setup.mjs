#!/usr/bin/env node
// Sets up this machine for the demo, the tests or CI, the same way for all
// three (`npm run demo`, `npm test`'s pretest and .ci/run call it), so they
// cannot drift apart:
//
//   node scripts/setup.mjs [--for demo|test|ci] [--release bookworm|trixie]... [--check | --plan] [--dockerd-pidfile FILE]
//
// On Debian or Ubuntu, as root, it installs what is missing from the
// distribution's packages (Docker engine, debootstrap, ssh-keygen, flock;
// for the tests also Chromium and tmux), starts dockerd when it is not
// running, and builds the test image of each release, saying in one line each
// what it does. As another user it prints the one command that does it.
// --check only says what is missing (exit 1 when something is), installing
// nothing: `npm test` runs it first so a newcomer learns what the tests need
// before any test runs. --plan prints what it would do here (or what stops
// it), one line each, and does nothing.
//
// The decisions are a pure function of what was probed (plan()), tested in
// test/unit/setup.test.ts; main() probes, plans and carries the plan out.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

/**
 * The command (or file) each package provides: a package is needed when it is
 * missing. debootstrap verifies the Debian base with Debian's archive keyring,
 * which Ubuntu lacks by default.
 */
const PACKAGES = {
  demo: { dockerd: 'docker.io', debootstrap: 'debootstrap', 'ssh-keygen': 'openssh-client', flock: 'util-linux', [KEYRING]: 'debian-archive-keyring' },
  // The report test opens the HTML report in headless Chromium; the progress test drives a terminal under tmux.
  test: { chromium: 'chromium', tmux: 'tmux' },
};

/** Packages to install for a purpose, given which commands exist. */
function missingPackages(purpose, commands) {
  const wanted = { ...PACKAGES.demo, ...(purpose === 'demo' ? {} : PACKAGES.test) };
  return [...new Set(Object.entries(wanted).filter(([cmd]) => !commands[cmd]).map(([, pkg]) => pkg))];
}

/**
 * What to do, from what was probed:
 *   probe = { root, user, aptBased, commands: { name: bool }, dockerUp, dockerDenied,
 *             images: { release: bool }, bases: { release: bool } }
 *   (dockerDenied: dockerd answers, but not to this user; bases: the
 *   release's Debian base image exists, so building its test image needs no
 *   debootstrap, hence no root)
 *   opts  = { purpose: 'demo'|'test'|'ci', releases: [...], check, selfCommand }
 * Returns { steps: [{ say, kind, ... }], blocked?: { why, command } }.
 */
export function plan(probe, opts) {
  const steps = [];
  const packages = missingPackages(opts.purpose, probe.commands);
  const needs = [];
  if (packages.length) needs.push(`packages ${packages.join(', ')}`);
  if (!probe.dockerUp) needs.push(probe.root ? 'a running dockerd' : 'a running dockerd this user can reach (root, or a member of the docker group)');
  const images = opts.releases.filter((r) => !probe.images[r]);
  // Running sudo setup would not help a user the running dockerd refuses.
  if (!probe.root && probe.dockerDenied) {
    return { steps, blocked: { why: `dockerd is running but ${probe.user} may not use it: join the docker group (and log in again)`, command: `sudo usermod -aG docker ${probe.user}` } };
  }
  // A user may build a test image with Docker, but its Debian base is made by debootstrap, as root.
  const bases = probe.root ? [] : images.filter((r) => !probe.bases?.[r]);
  if (bases.length) needs.push(`the Debian base image of ${bases.join(' and ')} (debootstrap)`);
  if (opts.check) {
    // The tests build missing images themselves (global setup): only the machine's own set-up
    // (and, for a user, a base image only root can make) is a blocker.
    if (!needs.length) return { steps };
    return { steps, blocked: { why: `this machine lacks ${needs.join(' and ')}`, command: `${probe.root ? '' : 'sudo '}${opts.selfCommand}` } };
  }
  if (needs.length && !probe.root) {
    return { steps, blocked: { why: `${needs.join(' and ')} must be set up as root`, command: `sudo ${opts.selfCommand}` } };
  }
  if (packages.length && !probe.aptBased) {
    return { steps, blocked: { why: `this is not a Debian or Ubuntu machine: install ${packages.join(', ')} (Docker engine) with its package manager`, command: opts.selfCommand } };
  }
  if (packages.length) {
    steps.push({ kind: 'apt-update', say: 'apt-get update (package lists)' });
    steps.push({ kind: 'apt-install', packages, say: `installing ${packages.join(', ')} from the distribution's packages` });
  }
  if (!probe.dockerUp) steps.push({ kind: 'start-dockerd', say: 'starting dockerd' });
  for (const r of images) steps.push({ kind: 'build-image', release: r, say: `building the ${r} test image (debootstrap and docker build, 3-4 min the first time)` });
  return { steps };
}

// ------------------------------------------------------------ probing

const has = (cmd) => (cmd.startsWith('/') ? existsSync(cmd) : spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0);
const dockerInfo = () => spawnSync('docker', ['info'], { encoding: 'utf8', timeout: 20_000 });
const dockerUp = () => dockerInfo().status === 0;

function osRelease() {
  try {
    return Object.fromEntries(
      readFileSync('/etc/os-release', 'utf8')
        .split('\n')
        .map((l) => /^([A-Z_]+)=("?)(.*)\2$/.exec(l))
        .filter(Boolean)
        .map((m) => [m[1], m[3]]),
    );
  } catch {
    return {};
  }
}

/** The tag build-test-image.sh would give a release (it prints the tag; `--tag-only` builds nothing). */
function imageBuilt(release) {
  const r = spawnSync('bash', [join(ROOT, 'scripts/build-test-image.sh'), '--tag-only', release], { encoding: 'utf8' });
  const tag = r.stdout.trim();
  return r.status === 0 && !!tag && spawnSync('docker', ['image', 'inspect', tag], { stdio: 'ignore' }).status === 0;
}

function probe(releases) {
  const os = osRelease();
  const commands = Object.fromEntries(Object.keys({ ...PACKAGES.demo, ...PACKAGES.test }).map((c) => [c, has(c)]));
  commands.dockerd = commands.dockerd && has('docker');
  const info = commands.dockerd ? dockerInfo() : undefined;
  const up = info?.status === 0;
  // build-test-image.sh debootstraps the base only when it is missing (and CONVERGE_TEST_BASE names none).
  const baseExists = (r) => !!process.env.CONVERGE_TEST_BASE || spawnSync('docker', ['image', 'inspect', `converge/debian-base:${r}`], { stdio: 'ignore' }).status === 0;
  return {
    root: process.getuid?.() === 0,
    aptBased: [os.ID, ...(os.ID_LIKE ?? '').split(' ')].some((id) => id === 'debian' || id === 'ubuntu'),
    commands,
    user: userInfo().username,
    dockerUp: up,
    dockerDenied: !up && /permission denied/i.test(info?.stderr ?? ''),
    bases: Object.fromEntries(releases.map((r) => [r, up && baseExists(r)])),
    images: Object.fromEntries(releases.map((r) => [r, up && commands['ssh-keygen'] && imageBuilt(r)])),
  };
}

// ------------------------------------------------------------ carrying out

/** Runs a command, its output shown (stdout: false drops it, e.g. the image tag build-test-image.sh prints). */
function run(cmd, args, env = {}, stdout = true) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', stdout ? 'inherit' : 'ignore', 'inherit'], env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`);
}

/**
 * With a pidfile (.ci/run) dockerd is this run's child, which the caller
 * stops. Otherwise it is the machine's: under systemd its service, else a
 * detached dockerd that outlives the demo (said so).
 */
async function startDockerd(pidfile) {
  // Installing docker.io on a machine that runs systemd starts it already.
  if (dockerUp()) return console.error('setup: dockerd is running (its package started it)');
  let child;
  let logs = ['tail', '-20', '/var/log/dockerd.log'];
  if (!pidfile && existsSync('/run/systemd/system')) {
    run('systemctl', ['enable', '--now', 'docker']);
    logs = ['journalctl', '-u', 'docker', '-n', '20', '--no-pager'];
  } else {
    const log = openSync('/var/log/dockerd.log', 'a');
    child = spawn('dockerd', [], { detached: true, stdio: ['ignore', log, log] });
    child.unref();
    if (pidfile) writeFileSync(pidfile, `${child.pid}\n`);
    else console.error(`setup: dockerd (pid ${child.pid}) keeps running after this; \`kill ${child.pid}\` stops it`);
  }
  for (let i = 0; i < 60; i++) {
    if (dockerUp()) return;
    if (child && child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const tail = spawnSync(logs[0], logs.slice(1), { encoding: 'utf8' }).stdout;
  throw new Error(`dockerd did not come up; the last lines of its log (${logs.join(' ')}):\n${tail}`);
}

async function carryOut(step, opts) {
  const env = { DEBIAN_FRONTEND: 'noninteractive', NEEDRESTART_SUSPEND: '1' };
  if (step.kind === 'apt-update') run('apt-get', ['update', '-qq'], env);
  else if (step.kind === 'apt-install') run('apt-get', ['install', '-y', '-qq', ...step.packages], env);
  else if (step.kind === 'start-dockerd') await startDockerd(opts.pidfile);
  else if (step.kind === 'build-image') run('bash', [join(ROOT, 'scripts/build-test-image.sh'), step.release], {}, false);
}

function parseArgs(argv) {
  const opts = { purpose: 'demo', releases: [], check: false, dryRun: false, pidfile: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--for') opts.purpose = argv[++i];
    else if (a === '--release') opts.releases.push(argv[++i]);
    else if (a === '--check') opts.check = true;
    else if (a === '--plan') opts.dryRun = true;
    else if (a === '--dockerd-pidfile') opts.pidfile = argv[++i];
    else throw new Error(`unknown argument ${a} (see the comment at the top of scripts/setup.mjs)`);
  }
  if (!['demo', 'test', 'ci'].includes(opts.purpose)) throw new Error(`--for must be demo, test or ci, not ${opts.purpose}`);
  if (!opts.releases.length) opts.releases = opts.purpose === 'demo' ? ['bookworm'] : ['bookworm', 'trixie'];
  return opts;
}

/** Sets up the machine (or, with check, says what is missing); resolves to an exit code. */
export async function setup(argv) {
  const opts = parseArgs(argv);
  // sudo's PATH often lacks a Node installed per user (nvm): then the command names this one.
  const node = ['/usr/bin', '/usr/local/bin', '/bin'].includes(dirname(process.execPath)) ? 'node' : process.execPath;
  const script = join(ROOT, 'scripts/setup.mjs');
  const rel = relative(process.cwd(), script);
  const self = `${node} ${rel.startsWith('..') ? script : rel} --for ${opts.purpose}`;
  const p = plan(probe(opts.releases), { ...opts, selfCommand: self });
  if (p.blocked) {
    console.error(`setup: ${p.blocked.why}. Run:\n\n    ${p.blocked.command}\n`);
    return 1;
  }
  if (opts.dryRun) {
    for (const step of p.steps) console.error(`setup would: ${step.say}`);
    if (!p.steps.length) console.error('setup would do nothing');
    return 0;
  }
  for (const step of p.steps) {
    console.error(`setup: ${step.say}`);
    await carryOut(step, opts);
  }
  if (!opts.check) console.error(p.steps.length ? 'setup: ready' : 'setup: nothing to do (Docker is up, the test images are built)');
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  setup(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      console.error(`setup: ${e.message}`);
      process.exit(1);
    },
  );
}
