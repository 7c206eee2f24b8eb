#!/usr/bin/env node
// npm run demo [-- --inventory inventories/demo.yaml] [--keep]
// Starts the demo fleet described by the inventory as local containers
// (systemd + sshd, one per host, sshd published on the host's port of
// 127.0.0.1, all on one docker network where each host's name resolves),
// converges it with `converge highstate`, then runs `--check` to show zero
// drift. Without --keep the containers are removed at the end.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const keep = args.includes('--keep');
const invArg = args.includes('--inventory') ? args[args.indexOf('--inventory') + 1] : 'inventories/demo.yaml';
const inventoryPath = resolve(ROOT, invArg);
const IMAGE = process.env.CONVERGE_TEST_IMAGE ?? 'converge/test-target:1';
const NETWORK = 'converge-demo';
const POOL = process.env.CONVERGE_TEST_APT_POOL ?? '/var/cache/converge-test/apt-archives';
const started = Date.now();
const log = (m) => console.log(`[demo ${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${m}`);
const docker = (...a) => execFileSync('docker', a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

function preflight() {
  try {
    docker('info', '--format', '{{.ServerVersion}}');
  } catch {
    console.error('demo: Docker is not reachable. Install docker.io and start dockerd (see .ci/run), then run `npm run demo` again.');
    process.exit(1);
  }
  const b = spawnSync('bash', [join(ROOT, 'scripts/build-test-image.sh')], { stdio: 'inherit' });
  if (b.status !== 0) process.exit(1);
}

function banner(port) {
  return new Promise((done) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.setTimeout(2000, () => (s.destroy(), done(false)));
    s.on('data', (d) => (s.destroy(), done(d.toString().startsWith('SSH-'))));
    s.on('error', () => done(false));
  });
}

async function startHost(name, port) {
  const cname = `converge-demo-${name}`;
  spawnSync('docker', ['rm', '-f', cname], { stdio: 'ignore' });
  mkdirSync(POOL, { recursive: true });
  docker('run', '-d', '--name', cname, '--hostname', name, '--network', NETWORK, '--network-alias', name, '--label', 'converge.demo=1',
    '--cap-add', 'SYS_ADMIN', '--cap-add', 'NET_ADMIN', '--cap-add', 'NET_RAW',
    '--security-opt', 'seccomp=unconfined', '--security-opt', 'apparmor=unconfined', '--cgroupns=host',
    '--tmpfs', '/run', '--tmpfs', '/run/lock', '-v', '/sys/fs/cgroup:/sys/fs/cgroup:rw', '-v', `${POOL}:/var/cache/converge-apt-pool`,
    '-p', `127.0.0.1:${port}:22`, IMAGE);
  for (let i = 0; i < 120; i++) {
    const ok = spawnSync('docker', ['exec', cname, 'sh', '-c', 'systemctl is-system-running --wait >/dev/null 2>&1; test -s /etc/ssh/ssh_host_ed25519_key.pub && systemctl is-active -q ssh'], { stdio: 'ignore' }).status === 0;
    if (ok && (await banner(port))) return cname;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`demo host ${name} did not come up (docker logs ${cname})`);
}

function converge(extra) {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/converge.js'), 'highstate', '--inventory', inventoryPath, ...extra], { stdio: 'inherit' });
  return r.status;
}

async function main() {
  preflight();
  const inv = parse(readFileSync(inventoryPath, 'utf8'));
  const hosts = Object.entries(inv.hosts);
  const knownHosts = resolve(dirname(inventoryPath), inv.defaults?.known_hosts ?? '../.cache/demo_known_hosts');
  if (spawnSync('docker', ['network', 'inspect', NETWORK], { stdio: 'ignore' }).status !== 0) docker('network', 'create', NETWORK);
  log(`starting ${hosts.length} host(s): ${hosts.map(([n]) => n).join(', ')}`);
  const containers = await Promise.all(hosts.map(([name, h]) => startHost(name, h.port)));
  // Host keys read out of band (docker exec), so converge verifies them like any real host's.
  mkdirSync(dirname(knownHosts), { recursive: true });
  writeFileSync(knownHosts, hosts.map(([name, h], i) => `[127.0.0.1]:${h.port} ${docker('exec', containers[i], 'cat', '/etc/ssh/ssh_host_ed25519_key.pub').split(' ').slice(0, 2).join(' ')}`).join('\n') + '\n');
  log('fleet up; converging (converge highstate)');
  const applyCode = converge([]);
  log(`highstate exit ${applyCode}; checking for drift (converge highstate --check)`);
  const checkCode = converge(['--check']);
  log(`check exit ${checkCode} (0 = no drift)`);
  if (keep) {
    log(`fleet kept. Try: npx converge highstate --inventory ${invArg} --check --diff`);
    log(`remove it with: docker rm -f ${containers.join(' ')}`);
  } else {
    spawnSync('docker', ['rm', '-f', ...containers], { stdio: 'ignore' });
    log('fleet removed (use --keep to leave it up)');
  }
  process.exit(applyCode === 0 && checkCode === 0 ? 0 : 1);
}

main().catch((e) => {
  console.error(`demo: ${e.message}`);
  process.exit(1);
});
