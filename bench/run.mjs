#!/usr/bin/env node
// npm run bench [-- --hosts 10] [--scale 25] [--skip-ansible] [--skip-sim] [--sim-only] [--reps 3]
// (--sim-only updates the newest full results file when there is one)
//
// Converge vs Ansible on the same kind of containers (the shared baseline's
// image: Debian 12, systemd, sshd, python3 for Ansible), running the same
// work (bench/states = ../shared/bench/ansible/playbook, base + worker), at
// N=1 and N=hosts: first apply, no-op (median of reps), --check without and
// with drift on every host, SSH execs per host, and the floor (open the
// connections and run the raw fact scripts, nothing else), and the first
// apply's floor (fresh hosts, one apt transaction of the same packages and
// one write of the same files each, all hosts at once); converge alone again
// at N=scale, for how its cost grows with hosts. Then ansible-playbook
// (pipelining on, ControlPersist) on fresh containers, and the controller
// simulation (bench/sim.mjs, each size SIM_RUNS times: medians). Prints a table, writes
// bench/results/<date>.json and docs/bench-scaling.svg.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { sshBanner } from '../scripts/ssh-banner.mjs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from 'ssh2';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SHARED = process.env.CONVERGE_SHARED ?? join(ROOT, '../shared');
const WORK = process.env.CONVERGE_BENCH_DIR ?? '/var/tmp/converge-bench';
const IMAGE = 'converge/bench-target:1';
const arg = (name, dflt) => (process.argv.includes(`--${name}`) ? process.argv[process.argv.indexOf(`--${name}`) + 1] : dflt);
const flag = (name) => process.argv.includes(`--${name}`);
const N = Number(arg('hosts', 10));
const SCALE = Number(arg('scale', 25));
const REPS = Number(arg('reps', 3));
const log = (m) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}`);
const sh = (cmd, args, opts = {}) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts }).trim();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (x, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

/** Wall seconds and controller CPU seconds (user+sys of the child) of a command, via /usr/bin/time. */
function timed(cmd, args, opts = {}) {
  const tf = join(WORK, 'time.out');
  const r = spawnSync('/usr/bin/time', ['-o', tf, '-f', '%e %U %S', cmd, ...args], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, ...opts });
  const [wall, user, sys] = readFileSync(tf, 'utf8').trim().split('\n').pop().split(' ').map(Number);
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, wall, cpu: user + sys };
}

// ---------------------------------------------------------------- targets
function buildImage() {
  mkdirSync(WORK, { recursive: true });
  if (!existsSync(join(WORK, 'key'))) sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(WORK, 'key'), '-C', 'bench-root']);
  mkdirSync(join(WORK, 'keys'), { recursive: true });
  for (const u of ['alice', 'bob']) if (!existsSync(join(WORK, 'keys', `dev_${u}`))) sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(WORK, 'keys', `dev_${u}`), '-C', `${u}@dev`]);
  // The baseline's own image, on the local debootstrap base (no registry here).
  const r = spawnSync('bash', [join(ROOT, 'scripts/build-test-image.sh')], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('building the base image failed');
  const ctx = join(WORK, 'image');
  mkdirSync(ctx, { recursive: true });
  cpSync(join(SHARED, 'bench/ansible/image/Dockerfile'), join(ctx, 'Dockerfile'));
  cpSync(join(WORK, 'key.pub'), join(ctx, 'key.pub'));
  log(`building ${IMAGE}`);
  sh('docker', ['build', '-q', '--build-arg', 'BASE=converge/debian-base:bookworm', '-t', IMAGE, ctx]);
}

const RUNFLAGS = ['--cap-add', 'SYS_ADMIN', '--cap-add', 'NET_ADMIN', '--cap-add', 'NET_RAW', '--security-opt', 'seccomp=unconfined', '--security-opt', 'apparmor=unconfined', '--tmpfs', '/run', '--tmpfs', '/run/lock', '-v', '/sys/fs/cgroup:/sys/fs/cgroup:rw', '--cgroupns=host'];

async function startHosts(prefix, n) {
  const hosts = [];
  for (let i = 1; i <= n; i++) {
    const name = `${prefix}${String(i).padStart(2, '0')}`;
    spawnSync('docker', ['rm', '-f', name], { stdio: 'ignore' });
    sh('docker', ['run', '-d', '--name', name, '--hostname', name, '--label', 'converge.bench=1', ...RUNFLAGS, '-p', '127.0.0.1::22', IMAGE]);
    const port = Number(sh('docker', ['port', name, '22/tcp']).split('\n')[0].split(':').pop());
    hosts.push({ name, port });
  }
  for (const h of hosts) {
    for (let i = 0; i < 240; i++) {
      const ok = spawnSync('docker', ['exec', h.name, 'sh', '-c', 'systemctl is-system-running --wait >/dev/null 2>&1; systemctl is-active -q ssh'], { stdio: 'ignore' }).status === 0;
      if (ok && (await sshBanner(h.port))) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    h.hostKey = sh('docker', ['exec', h.name, 'cat', '/etc/ssh/ssh_host_ed25519_key.pub']).split(' ').slice(0, 2).join(' ');
  }
  return hosts;
}

const removeHosts = (hosts) => spawnSync('docker', ['rm', '-f', ...hosts.map((h) => h.name)], { stdio: 'ignore' });

// ---------------------------------------------------------------- converge
function writeInventory(dir, hosts) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'known_hosts'), hosts.map((h) => `[127.0.0.1]:${h.port} ${h.hostKey}`).join('\n') + '\n');
  const key = (u) => readFileSync(join(WORK, 'keys', `dev_${u}.pub`), 'utf8').trim();
  const vars = {
    project: 'myproj', project_user: 'myproj', project_home: '/srv/myproj', project_env: 'production',
    base_packages: ['ufw', 'rsync', 'htop', 'sudo', 'supervisor', 'logrotate', 'ca-certificates'],
    absent_packages: ['telnet', 'ftp'], worker_packages: ['nginx-light', 'memcached'],
    developers: [{ name: 'alice', key: key('alice') }, { name: 'bob', key: key('bob') }],
    memcached_memory_mb: 64, gunicorn_workers: 3, app_port: 8000, cpus: 2, config_files: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    project_dirs: [
      { path: '/srv/myproj/app', owner: 'myproj', mode: '0755' }, { path: '/srv/myproj/releases', owner: 'myproj', mode: '0755' },
      { path: '/srv/myproj/shared', owner: 'myproj', mode: '0755' }, { path: '/srv/myproj/shared/static', owner: 'myproj', mode: '0755' },
      { path: '/srv/myproj/shared/media', owner: 'myproj', mode: '0755' }, { path: '/srv/myproj/run', owner: 'myproj', mode: '0750' },
      { path: '/etc/myproj', owner: 'root', mode: '0755' }, { path: '/var/log/myproj', owner: 'myproj', mode: '0750' },
    ],
  };
  const inv = {
    states: join(ROOT, 'bench/states'),
    defaults: { user: 'root', key: join(WORK, 'key'), known_hosts: join(dir, 'known_hosts') },
    vars,
    roles: { workers: {} },
    hosts: Object.fromEntries(hosts.map((h) => [h.name, { address: '127.0.0.1', port: h.port, roles: ['workers'] }])),
  };
  writeFileSync(join(dir, 'inventory.json.yaml'), JSON.stringify(inv, null, 2));
  return join(dir, 'inventory.json.yaml');
}

function converge(inv, ...args) {
  const r = timed(process.execPath, [join(ROOT, 'bin/converge.js'), 'highstate', '-i', inv, '--json', '--progress', 'none', '--forks', '50', ...args]);
  let json;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    throw new Error(`converge ${args.join(' ')} printed no JSON (exit ${r.code}): ${r.stderr.slice(-2000)}`);
  }
  const res = json.hosts.flatMap((h) => h.resources);
  return { ...r, json, changed: res.filter((x) => x.status === 'changed' || x.status === 'would-change').length, failed: json.hosts.filter((h) => h.status === 'failed' || h.status === 'unreachable').length, execs: json.hosts.map((h) => h.execCount) };
}

/** Every host's compiled graph, from the inventory the runs use. */
async function graphs(inv) {
  const { loadInventory } = await import('../dist/inventory/inventory.js');
  const { loadStateTree } = await import('../dist/state/states.js');
  const { prepareHosts } = await import('../dist/engine/run.js');
  const i = loadInventory(inv);
  const tree = loadStateTree(i.statesDir, i.roles);
  return { tree, prepared: prepareHosts(i, tree, i.hosts) };
}

/** `sh -s` for each script in turn over one fresh connection to the host as root; rejects on a non-zero exit. */
async function runScripts(host, scripts) {
  const c = new Client();
  // TCP_NODELAY as converge's own transport sets it: the floor is the same connection, doing nothing else.
  c.on('connect', () => c.setNoDelay(true));
  await new Promise((ok, fail) => c.on('ready', ok).on('error', fail).connect({ host: host.address, port: host.port, username: 'root', privateKey: readFileSync(host.keyFile) }));
  try {
    for (const script of scripts) {
      await new Promise((ok, fail) =>
        c.exec('sh -s', (err, st) => {
          if (err) return fail(err);
          let errText = '';
          st.on('data', () => {}).on('close', (code) => (code === 0 ? ok() : fail(new Error(`${host.name}: exit ${code}: ${errText.slice(-1000)}`))));
          st.stderr.on('data', (d) => (errText += d));
          st.end(script);
        }),
      );
    }
  } finally {
    c.end();
  }
}

/** The floor: one connection per host and the raw fact scripts a run sends first, nothing else. */
async function floor(inv) {
  const { HostRun } = await import('../dist/engine/host-run.js');
  const { factBatches, batchScript, newToken } = await import('../dist/engine/facts.js');
  const { tree, prepared } = await graphs(inv);
  const work = prepared.map(({ host, graph }) => {
    const run = new HostRun(host, graph, null, { check: true, statesDir: tree.dir, signal: new AbortController().signal });
    return { host, scripts: [...factBatches(run.factRequests(graph.order, true, true))].map(([, qs]) => batchScript(qs, newToken())) };
  });
  // timed: connections and raw scripts only (compiling is the controller's cost, measured by the simulation)
  const t0 = performance.now();
  await Promise.all(work.map(({ host, scripts }) => runScripts(host, scripts)));
  return { wall: (performance.now() - t0) / 1000 };
}

/**
 * The first apply's floor on fresh hosts: what any tool must do to get there,
 * with nothing else. Per host, one connection and one script: refresh the
 * package lists, install every package the states name in one apt
 * transaction (the options converge's own transaction uses), write every
 * managed file's content; all hosts at once.
 */
async function firstApplyFloor(inv) {
  const { prepared } = await graphs(inv);
  const work = prepared.map(({ host, graph }) => {
    const pkgs = graph.order.filter((r) => r.kind === 'package' && !['absent', 'purged'].includes(r.spec.ensure)).map((r) => r.spec.name);
    const files = graph.order.filter((r) => r.kind === 'file' && typeof r.spec.content === 'string');
    const script = [
      'set -eu',
      'export DEBIAN_FRONTEND=noninteractive',
      'apt-get -q update >/dev/null',
      `apt-get -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install ${pkgs.join(' ')} >/dev/null`,
      ...files.map((r) => `mkdir -p "$(dirname '${r.spec.path}')" && echo ${Buffer.from(r.spec.content).toString('base64')} | base64 -d > '${r.spec.path}'`),
    ].join('\n');
    return { host, script, packages: pkgs.length, files: files.length };
  });
  const t0 = performance.now();
  await Promise.all(work.map(({ host, script }) => runScripts(host, [script])));
  return { wall: (performance.now() - t0) / 1000, packages: work[0].packages, files: work[0].files };
}

async function convergeSide(n) {
  log(`converge, N=${n}: the first apply's floor on fresh containers`);
  const fresh = await startHosts('cb-f', n);
  let firstFloor;
  try {
    firstFloor = await firstApplyFloor(writeInventory(join(WORK, `floor-n${n}`), fresh));
  } finally {
    removeHosts(fresh);
  }
  log(`converge, N=${n}: starting containers`);
  const hosts = await startHosts('cb-c', n);
  try {
    const inv = writeInventory(join(WORK, `converge-n${n}`), hosts);
    log(`converge, N=${n}: first apply`);
    const first = converge(inv);
    if (first.failed) throw new Error(`first apply failed on ${first.failed} host(s): ${JSON.stringify(first.json.hosts.find((h) => h.status === 'failed' || h.status === 'unreachable'), null, 1).slice(0, 3000)}`);
    const noops = [];
    for (let r = 0; r < REPS; r++) noops.push(converge(inv));
    if (noops.some((x) => x.changed)) throw new Error(`a no-op run changed ${noops.find((x) => x.changed).changed} resources`);
    const checks = [];
    for (let r = 0; r < REPS; r++) checks.push(converge(inv, '--check'));
    for (const h of hosts) sh('docker', ['exec', h.name, 'sh', '-c', "sed -i 's/^workers = .*/workers = 99/' /etc/myproj/conf-3.ini; echo drift >> /etc/motd"]);
    const drift = converge(inv, '--check');
    const floors = [];
    for (let r = 0; r < REPS; r++) floors.push((await floor(inv)).wall);
    const resources = noops[0].json.hosts[0].resources.length;
    return {
      n,
      resources_per_host: resources,
      first_apply_s: first.wall,
      first_apply_changed: first.changed,
      first_apply_execs_per_host: Math.max(...first.execs),
      first_apply_floor_s: round(firstFloor.wall),
      first_apply_floor_packages: firstFloor.packages,
      first_apply_floor_files: firstFloor.files,
      noop_s: median(noops.map((x) => x.wall)),
      noop_cpu_s: median(noops.map((x) => x.cpu)),
      noop_execs_per_host: Math.max(...noops.flatMap((x) => x.execs)),
      check_s: median(checks.map((x) => x.wall)),
      check_drift_s: drift.wall,
      check_drift_reported: drift.changed,
      check_drift_exit: drift.code,
      floor_s: median(floors),
    };
  } finally {
    removeHosts(hosts);
  }
}

// ---------------------------------------------------------------- ansible
function ensureAnsible() {
  if (spawnSync('sh', ['-c', 'command -v ansible-playbook'], { stdio: 'ignore' }).status === 0) return;
  log('installing ansible from Debian');
  const r = spawnSync('sh', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ansible'], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('apt-get install ansible failed');
}

function ansible(dir, label, extra = []) {
  const cp = join(dir, `cp-${label}`);
  mkdirSync(cp, { recursive: true });
  const env = { ...process.env, ANSIBLE_PIPELINING: 'True', ANSIBLE_SSH_ARGS: '-C -o ControlMaster=auto -o ControlPersist=60s', ANSIBLE_SSH_CONTROL_PATH_DIR: cp, ANSIBLE_HOST_KEY_CHECKING: 'False' };
  const r = timed('ansible-playbook', ['site.yml', ...extra], { cwd: dir, env });
  const recap = r.stdout.slice(r.stdout.lastIndexOf('PLAY RECAP'));
  const sum = (k) => [...recap.matchAll(new RegExp(`${k}=(\\d+)`, 'g'))].reduce((s, m) => s + Number(m[1]), 0);
  spawnSync('sh', ['-c', `for s in ${cp}/*; do [ -S "$s" ] && ssh -o ControlPath="$s" -O exit dummy >/dev/null 2>&1; done; true`]);
  if (sum('failed') || sum('unreachable')) throw new Error(`ansible ${label}: ${recap}`);
  return { wall: r.wall, cpu: r.cpu, changed: sum('changed') };
}

async function ansibleSide(n) {
  log(`ansible, N=${n}: starting containers`);
  const hosts = await startHosts('cb-a', n);
  try {
    const dir = join(WORK, `ansible-n${n}`);
    spawnSync('rm', ['-rf', dir]);
    cpSync(join(SHARED, 'bench/ansible/playbook'), dir, { recursive: true });
    cpSync(join(WORK, 'keys'), join(dir, 'keys'), { recursive: true });
    writeFileSync(join(dir, 'ansible.cfg'), readFileSync(join(dir, 'ansible.cfg'), 'utf8').replace(/^private_key_file = .*/m, `private_key_file = ${join(WORK, 'key')}`));
    writeFileSync(join(dir, 'inventory.ini'), `[workers]\n${hosts.map((h) => `${h.name} ansible_host=127.0.0.1 ansible_port=${h.port}`).join('\n')}\n\n[workers:vars]\nansible_user=root\n`);
    log(`ansible, N=${n}: first apply (pipelining, ControlPersist)`);
    const first = ansible(dir, 'first');
    // The same number of no-op runs as converge's, and their median.
    log(`ansible, N=${n}: no-op x${REPS}`);
    const noops = Array.from({ length: REPS }, (_, r) => ansible(dir, `noop ${r + 1}`));
    return { n, first_apply_s: first.wall, noop_s: median(noops.map((x) => x.wall)), noop_cpu_s: median(noops.map((x) => x.cpu)), noop_changed: Math.max(...noops.map((x) => x.changed)), noop_runs: REPS };
  } finally {
    removeHosts(hosts);
  }
}

// ---------------------------------------------------------------- simulation
// One simulation run varies by +-20% on a shared VM: each size runs SIM_RUNS
// times and reports each figure's median, the runs' values beside it (cpu_s_runs ...).
const SIM_RUNS = 3;
const SIM_MEDIANS = ['wall_s', 'prepare_s', 'cpu_s', 'peak_rss_mib'];

function simulate(hosts, resources = 100, latency = 20) {
  log(`simulation: ${hosts} hosts x ${resources} resources, ${latency} ms per round trip, ${SIM_RUNS} runs`);
  const runs = [];
  for (let i = 0; i < SIM_RUNS; i++) {
    const r = spawnSync(process.execPath, ['--max-old-space-size=8192', join(ROOT, 'bench/sim.mjs'), String(hosts), String(resources), String(latency)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`simulation failed: ${r.stderr.slice(-2000)}`);
    runs.push(JSON.parse(r.stdout.trim().split('\n').pop()));
  }
  // Each figure's median on its own (the run with the median CPU need not have the median RSS).
  const out = { ...runs[0] };
  for (const k of SIM_MEDIANS) Object.assign(out, { [k]: median(runs.map((r) => r[k])), [`${k}_runs`]: runs.map((r) => r[k]) });
  return out;
}

// ---------------------------------------------------------------- report
function svgPlot(points) {
  // time (s, log scale) vs host count, one line per series
  const W = 640, H = 400, L = 70, B = 50, T = 30, R = 160;
  const xs = [...new Set(points.map((p) => p.n))].sort((a, b) => a - b);
  const ys = points.map((p) => p.s).filter((s) => s > 0);
  const ymin = Math.pow(10, Math.floor(Math.log10(Math.min(...ys)))), ymax = Math.pow(10, Math.ceil(Math.log10(Math.max(...ys))));
  const x = (n) => L + ((xs.indexOf(n)) / Math.max(1, xs.length - 1)) * (W - L - R);
  const y = (s) => T + (1 - (Math.log10(s) - Math.log10(ymin)) / (Math.log10(ymax) - Math.log10(ymin))) * (H - T - B);
  const series = [...new Set(points.map((p) => p.series))];
  const colors = ['#1565c0', '#64b5f6', '#c62828', '#ef9a9a', '#2e7d32', '#a5d6a7'];
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`, `<rect width="${W}" height="${H}" fill="white"/>`, `<text x="${L}" y="18" font-size="14">Wall time vs hosts (log scale): converge vs Ansible 2.14</text>`];
  for (let d = ymin; d <= ymax; d *= 10) out.push(`<line x1="${L}" x2="${W - R}" y1="${y(d)}" y2="${y(d)}" stroke="#ddd"/><text x="${L - 8}" y="${y(d) + 4}" text-anchor="end">${d} s</text>`);
  for (const n of xs) out.push(`<text x="${x(n)}" y="${H - B + 18}" text-anchor="middle">${n} host${n > 1 ? 's' : ''}</text>`);
  series.forEach((sname, i) => {
    const pts = points.filter((p) => p.series === sname).sort((a, b) => a.n - b.n);
    out.push(`<polyline fill="none" stroke="${colors[i % colors.length]}" stroke-width="2" points="${pts.map((p) => `${x(p.n)},${y(p.s)}`).join(' ')}"/>`);
    for (const p of pts) out.push(`<circle cx="${x(p.n)}" cy="${y(p.s)}" r="3" fill="${colors[i % colors.length]}"/>`);
    out.push(`<rect x="${W - R + 10}" y="${T + i * 20}" width="12" height="3" fill="${colors[i % colors.length]}"/><text x="${W - R + 28}" y="${T + i * 20 + 5}">${sname}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** What the fleet side needs, checked before anything starts (a clean clone may lack it). */
function preflight() {
  if (spawnSync('docker', ['info'], { stdio: 'ignore' }).status !== 0) throw new Error('Docker is not reachable: install docker.io and start dockerd (as .ci/run does), or run with --sim-only');
  const playbook = join(SHARED, 'bench/ansible');
  if (!existsSync(join(playbook, 'playbook')) || !existsSync(join(playbook, 'image/Dockerfile'))) {
    throw new Error(`the shared Ansible baseline is not at ${playbook}: set CONVERGE_SHARED to the directory that holds bench/ansible (playbook/ and image/Dockerfile)`);
  }
}

async function main() {
  const started = Date.now();
  if (!flag('sim-only')) preflight();
  const sim = flag('skip-sim') ? [] : [100, 1000, 5000].map((h) => simulate(h));
  const result = { date: new Date().toISOString(), machine: `${sh('nproc', [])} cores, ${Math.round(Number(sh('sh', ['-c', "awk '/MemTotal/{print $2}' /proc/meminfo"])) / 1048576)} GiB`, hosts: N, reps: REPS, simulation: sim };
  if (!flag('sim-only')) {
    buildImage();
    result.converge = [];
    for (const n of [...new Set([1, N, SCALE])].filter((x) => x > 0)) result.converge.push(await convergeSide(n));
    if (!flag('skip-ansible')) {
      ensureAnsible();
      result.ansible_version = sh('ansible', ['--version']).split('\n')[0];
      result.ansible = [await ansibleSide(1), await ansibleSide(N)];
    }
  }
  const cN = result.converge?.find((c) => c.n === N), aN = result.ansible?.find((a) => a.n === N);
  const s1000 = sim.find((s) => s.hosts === 1000);
  Object.assign(result, {
    noop_speedup_vs_ansible: cN && aN ? round(aN.noop_s / cN.noop_s, 1) : null,
    noop_execs_per_host: cN?.noop_execs_per_host ?? null,
    noop_vs_floor: cN ? round(cN.noop_s / cN.floor_s) : null,
    first_apply_vs_floor: cN ? round(cN.first_apply_s / cN.first_apply_floor_s) : null,
    first_apply_ratio_vs_ansible: cN && aN ? round(cN.first_apply_s / aN.first_apply_s, 3) : null,
    sim_1000x100_cpu_s: s1000?.cpu_s ?? null,
    sim_1000x100_rss_mib: s1000?.peak_rss_mib ?? null,
    sim_cpu_per_host_ms: sim.map((s) => ({ hosts: s.hosts, ms: round((s.cpu_s * 1000) / s.hosts, 3) })),
    bench_wall_s: Math.round((Date.now() - started) / 1000),
  });
  const day = result.date.slice(0, 10);
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  let file = join(ROOT, `bench/results/${day}${flag('sim-only') ? '-sim' : flag('skip-ansible') ? '-quick' : ''}.json`);
  // --sim-only after a full run (the controller changed, the fleet side did
  // not): the simulation's figures replace those of the newest full run.
  const fullRuns = readdirSync(join(ROOT, 'bench/results')).filter((f) => /^\d{4}-\d\d-\d\d\.json$/.test(f)).sort();
  const full = fullRuns.length ? join(ROOT, 'bench/results', fullRuns.at(-1)) : undefined;
  if (flag('sim-only') && full) {
    const sims = ['simulation', 'sim_1000x100_cpu_s', 'sim_1000x100_rss_mib', 'sim_cpu_per_host_ms'];
    file = full;
    Object.assign(result, { ...JSON.parse(readFileSync(full, 'utf8')), ...Object.fromEntries(sims.map((k) => [k, result[k]])), simulation_date: result.date });
  }
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  if (result.converge) {
    const points = [
      ...result.converge.flatMap((c) => [{ series: 'converge no-op', n: c.n, s: c.noop_s }, { series: 'converge first apply', n: c.n, s: c.first_apply_s }]),
      ...(result.ansible ?? []).flatMap((a) => [{ series: 'Ansible no-op', n: a.n, s: a.noop_s }, { series: 'Ansible first apply', n: a.n, s: a.first_apply_s }]),
    ];
    if (!flag('skip-ansible')) writeFileSync(join(ROOT, 'docs/bench-scaling.svg'), svgPlot(points));
  }
  const rows = [['figure', 'value', 'target']];
  rows.push(['no-op speedup vs Ansible (N=' + N + ')', result.noop_speedup_vs_ansible ?? 'skipped', '>= 100x']);
  rows.push(['SSH execs per host, no-op', result.noop_execs_per_host ?? '-', '<= 2']);
  rows.push(['no-op / floor', result.noop_vs_floor ?? '-', '<= 1.5']);
  rows.push(['first apply / its floor', result.first_apply_vs_floor ?? '-', '<= 1.3']);
  rows.push(['first apply / Ansible first apply', result.first_apply_ratio_vs_ansible ?? 'skipped', '<= 0.333']);
  for (const s of sim) rows.push([`sim ${s.hosts}x${s.resources}: wall / CPU / RSS (median of ${SIM_RUNS})`, `${s.wall_s} s / ${s.cpu_s} s / ${s.peak_rss_mib} MiB`, s.hosts === 1000 ? '<= 2 s CPU, <= 1024 MiB' : 'linear']);
  for (const c of result.converge ?? []) rows.push([`converge N=${c.n}: first (floor) / no-op (floor) / check / drift check`, `${c.first_apply_s} (${c.first_apply_floor_s}) / ${c.noop_s} (${round(c.floor_s)}) / ${c.check_s} / ${c.check_drift_s} s; first apply ${c.first_apply_execs_per_host} execs/host`, '']);
  for (const a of result.ansible ?? []) rows.push([`Ansible N=${a.n}: first / no-op (pipelining)`, `${a.first_apply_s} / ${a.noop_s} s`, '']);
  const w = [0, 1, 2].map((i) => Math.max(...rows.map((r) => String(r[i]).length)));
  console.log(rows.map((r) => r.map((c, i) => String(c).padEnd(w[i])).join('  ')).join('\n'));
  console.log(`\nwrote ${file}`);
}

main().catch((e) => {
  console.error(`bench: ${e.stack ?? e.message}`);
  process.exit(1);
});
