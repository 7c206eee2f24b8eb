#!/usr/bin/env node
// npm run demo [-- --inventory inventories/demo.yaml] [--release bookworm|trixie] [--keep]
// Starts the demo fleet described by the inventory as local containers
// (systemd + sshd, one per host, sshd published on the host's port of
// 127.0.0.1, all on one docker network whose subnet is the inventory's
// private_network and where each host's name resolves; a host's
// demo_publish ports, e.g. "8080:80", published on 127.0.0.1 too),
// converges it with `converge highstate` (live per-host progress), prints
// where the site answers, then runs `--check` to show zero drift. Without
// --keep the containers and the network are removed at the end.
// --release picks the Debian release of every host (default bookworm); a
// host's demo_release var picks its own (a fleet half-way through an upgrade).
// CONVERGE_DEMO_PREFIX names them (default converge-demo).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { setup } from './setup.mjs';
import { sshBanner } from './ssh-banner.mjs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const keep = args.includes('--keep');
const defaultRelease = args.includes('--release') ? args[args.indexOf('--release') + 1] : 'bookworm';
const releaseOf = (host) => host.vars?.demo_release ?? defaultRelease;
const invArg = args.includes('--inventory') ? args[args.indexOf('--inventory') + 1] : 'inventories/demo.yaml';
const inventoryPath = resolve(ROOT, invArg);
/** The test image's tag per Debian release, as scripts/build-test-image.sh prints it. */
const images = {};
// Containers are PREFIX-<host> on the network PREFIX (another checkout's demo may use another prefix).
const PREFIX = process.env.CONVERGE_DEMO_PREFIX ?? 'converge-demo';
const NETWORK = PREFIX;
const POOL = process.env.CONVERGE_TEST_APT_POOL ?? '/var/cache/converge-test/apt-archives';
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)}s`;
const log = (m) => console.log(`[demo ${elapsed().padStart(5)}] ${m}`);
const docker = (...a) => execFileSync('docker', a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
const dockerOk = (...a) => spawnSync('docker', a, { stdio: 'ignore' }).status === 0;

/** The machine set up as for the tests (scripts/setup.mjs), then the image's tag. */
async function preflight(releases) {
  for (const release of releases) {
    if (release !== 'bookworm' && release !== 'trixie') {
      console.error(`demo: unknown release "${release}" (--release or a host's demo_release): the demo runs bookworm or trixie`);
      process.exit(1);
    }
    if ((await setup(['--for', 'demo', '--release', release])) !== 0) process.exit(1);
    const b = spawnSync('bash', [join(ROOT, 'scripts/build-test-image.sh'), release], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
    if (b.status !== 0) process.exit(1);
    images[release] = b.stdout.trim().split('\n').pop();
  }
}

/** The demo network with the inventory's subnet (re-made when a stale one has another). */
function ensureNetwork(subnet) {
  if (dockerOk('network', 'inspect', NETWORK)) {
    const have = docker('network', 'inspect', NETWORK, '--format', '{{range .IPAM.Config}}{{.Subnet}} {{end}}').trim();
    if (!subnet || have.split(' ').includes(subnet)) return;
    const users = docker('network', 'inspect', NETWORK, '--format', '{{range .Containers}}{{.Name}} {{end}}').trim();
    if (users) throw new Error(`network ${NETWORK} has subnet ${have}, not ${subnet}, and is in use by ${users}: remove those containers first`);
    docker('network', 'rm', NETWORK);
  }
  docker('network', 'create', ...(subnet ? ['--subnet', subnet] : []), '--label', 'converge.demo=1', NETWORK);
}

async function startHost(name, host) {
  const cname = `${PREFIX}-${name}`;
  spawnSync('docker', ['rm', '-f', cname], { stdio: 'ignore' });
  // POOL is not made here: dockerd creates a missing -v source itself, as root, so a
  // user in the docker group (who may not write /var/cache) runs the demo too.
  const publish = [`127.0.0.1:${host.port}:22`, ...(host.vars?.demo_publish ?? []).map((p) => `127.0.0.1:${p}`)];
  docker('run', '-d', '--name', cname, '--hostname', name, '--network', NETWORK, '--network-alias', name, '--label', 'converge.demo=1',
    '--cap-add', 'SYS_ADMIN', '--cap-add', 'NET_ADMIN', '--cap-add', 'NET_RAW',
    '--security-opt', 'seccomp=unconfined', '--security-opt', 'apparmor=unconfined', '--cgroupns=host',
    '--tmpfs', '/run', '--tmpfs', '/run/lock', '-v', '/sys/fs/cgroup:/sys/fs/cgroup:rw', '-v', `${POOL}:/var/cache/converge-apt-pool`,
    ...publish.flatMap((p) => ['-p', p]), images[releaseOf(host)]);
  for (let i = 0; i < 240; i++) {
    const ok = spawnSync('docker', ['exec', cname, 'sh', '-c', 'systemctl is-system-running --wait >/dev/null 2>&1; test -s /etc/ssh/ssh_host_ed25519_key.pub && systemctl is-active -q ssh'], { stdio: 'ignore' }).status === 0;
    if (ok && (await sshBanner(host.port))) return cname;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`demo host ${name} did not come up (docker logs ${cname})`);
}

function converge(extra) {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/converge.js'), 'highstate', '--inventory', inventoryPath, ...extra], { stdio: 'inherit' });
  return r.status;
}

/** Where the site answers: the published ports of the host that has them. */
function sites(inv) {
  const name = inv.vars?.server_names?.[0] ?? 'localhost';
  return Object.entries(inv.hosts).flatMap(([host, h]) =>
    (h.vars?.demo_publish ?? []).map((p) => {
      const [local, remote] = p.split(':').map(Number);
      const scheme = remote === 443 ? 'https' : 'http';
      return { scheme, name, port: local, url: `${scheme}://${name}:${local}/`, via: `${host}:${remote}` };
    }),
  );
}

/** The HTTP status of GET / (TLS with the site's name, any certificate), or the error. */
function status(site) {
  return new Promise((done) => {
    const opts = { host: '127.0.0.1', port: site.port, path: '/', headers: { Host: site.name }, timeout: 5000 };
    const req = site.scheme === 'https' ? httpsRequest({ ...opts, servername: site.name, rejectUnauthorized: false }) : httpRequest(opts);
    req.on('response', (res) => (res.resume(), done(String(res.statusCode))));
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => done(e.message));
    req.end();
  });
}

/** A balancer takes web hosts into service after passing health checks: wait up to a minute for an answer. */
async function waitForSite(site) {
  let last = '';
  for (let i = 0; i < 60; i++) {
    last = await status(site);
    if (/^[1-4]\d\d$/.test(last)) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  return last;
}

async function main() {
  const inv = parse(readFileSync(inventoryPath, 'utf8'));
  const hosts = Object.entries(inv.hosts);
  await preflight(new Set(hosts.map(([, h]) => releaseOf(h))));
  const knownHosts = resolve(dirname(inventoryPath), inv.defaults?.known_hosts ?? '../.cache/demo_known_hosts');
  ensureNetwork(inv.vars?.private_network && !inv.vars.private_network.startsWith('127.') ? inv.vars.private_network : undefined);
  log(`starting ${hosts.length} host(s): ${hosts.map(([n, h]) => `${n} (${releaseOf(h)})`).join(', ')}`);
  const containers = await Promise.all(hosts.map(([name, h]) => startHost(name, h)));
  // Host keys read out of band (docker exec), so converge verifies them like any real host's.
  mkdirSync(dirname(knownHosts), { recursive: true });
  writeFileSync(knownHosts, hosts.map(([name, h], i) => `[127.0.0.1]:${h.port} ${docker('exec', containers[i], 'cat', '/etc/ssh/ssh_host_ed25519_key.pub').split(' ').slice(0, 2).join(' ')}`).join('\n') + '\n');
  log('fleet up; converging (converge highstate)');
  const t0 = Date.now();
  const applyCode = converge([]);
  log(`highstate exit ${applyCode} after ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  const published = sites(inv);
  if (applyCode === 0 && published.length) {
    const main = published.find((p) => p.scheme === 'https') ?? published[0];
    log(`${main.url} answers ${await waitForSite(main)} (self-signed certificate; *.localhost is 127.0.0.1). The site:`);
    for (const p of published) log(`  ${p.url}  (${p.via})`);
    log(`  e.g. curl -k ${main.url}`);
  }
  log('checking for drift (converge highstate --check)');
  const checkCode = converge(['--check']);
  log(`check exit ${checkCode} (0 = no drift); demo took ${elapsed()}`);
  const inventoryRel = relative(process.cwd(), inventoryPath) || invArg;
  if (keep) {
    log(`fleet kept. Try: npx converge highstate --inventory ${inventoryRel} --check --diff`);
    log(`remove it with: docker rm -f ${containers.join(' ')} && docker network rm ${NETWORK}`);
  } else {
    spawnSync('docker', ['rm', '-f', ...containers], { stdio: 'ignore' });
    spawnSync('docker', ['network', 'rm', NETWORK], { stdio: 'ignore' });
    log('fleet removed (use --keep to leave it up)');
  }
  process.exit(applyCode === 0 && checkCode === 0 ? 0 : 1);
}

main().catch((e) => {
  console.error(`demo: ${e.message}`);
  process.exit(1);
});
