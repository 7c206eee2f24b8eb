// A fleet of throwaway SSH targets for integration tests: one container per host
// from converge/test-target (systemd as PID 1, sshd, root login by .cache/test-key),
// reachable only on 127.0.0.1 through a port published on loopback.
//
//   const fleet = await startFleet(['web-1', 'web-2']);
//   try {
//     const inv = fleet.writeInventory(join(fleet.dir, 'inventory.yaml'), { roles: { web: ['web-1', 'web-2'] } });
//     ... run converge with inv (accepting new host keys into fleet.knownHostsFile) ...
//     expect((await fleet.exec('web-1', 'cat /etc/motd')).stdout).toBe('hi\n');   // assert by docker exec
//   } finally {
//     await fleet.close();
//   }
//
// The integration project's global setup (test/support/global-setup.ts) builds the
// image and removes whatever containers a run leaves behind.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { GenericContainer, Wait, type StartedTestContainer } from 'testcontainers';
import { stringify } from 'yaml';
import {
  LABEL,
  LABEL_HOST,
  LABEL_PID,
  LABEL_RUN,
  testImage,
  type Release,
  TEST_KEY,
  aptPoolDir,
  docker,
  removeContainers,
  removeStaleContainers,
} from './docker.js';

// Ryuk (testcontainers' reaper) cannot be pulled here; containers are removed by
// Fleet.close(), the global teardown and the stale sweep instead.
process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
// Tests reach containers on loopback only. Without this, testcontainers (seeing
// /.dockerenv) looks for a bridge gateway and tries to pull alpine:3.14 to find one.
process.env.TESTCONTAINERS_HOST_OVERRIDE ??= '127.0.0.1';

/** Where the apt pool is mounted inside each container (see test/image/Dockerfile). */
export const APT_POOL_MOUNT = '/var/cache/converge-apt-pool';

/** How converge reaches one host; `containerId` is null for hosts with no container. */
export interface HostEntry {
  name: string;
  address: '127.0.0.1';
  port: number;
  user: 'root';
  keyPath: string;
  containerId: string | null;
}

export interface FleetHost extends HostEntry {
  containerId: string;
  /** Container port -> its port on 127.0.0.1: 22 and the host's StartFleetOptions.ports. */
  ports: Record<number, number>;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface StartFleetOptions {
  /** Mount the shared .deb pool (default true). */
  shareAptCache?: boolean;
  /**
   * Also put the hosts on one user-defined Docker network of their own, where
   * each reaches the others by host name (a replica pulling from its primary).
   * Default false. Tests still reach every host on 127.0.0.1 only.
   */
  network?: boolean;
  /** More TCP ports of some hosts to publish on 127.0.0.1 (on free ports), e.g. { 'lb-1': [80, 443] }. */
  ports?: Record<string, number[]>;
  /** The Debian release of some hosts (default bookworm), e.g. { 'web-2': 'trixie' }. */
  releases?: Record<string, Release>;
}

export interface InventoryOptions {
  /** Role name -> names of the hosts in it (fleet hosts or extraHosts). Each role also gets an entry under `roles:`. */
  roles?: Record<string, string[]>;
  /** Vars of a role: `roles: { name: { vars } }`. */
  roleVars?: Record<string, Record<string, unknown>>;
  /** Fleet-wide vars (top-level `vars:`). */
  vars?: Record<string, unknown>;
  /** Vars of one host (`hosts: { name: { vars } }`). */
  hostVars?: Record<string, Record<string, unknown>>;
  /** More hosts, e.g. `await unreachableHost('gone-1')`. */
  extraHosts?: HostEntry[];
  /** The states directory (top-level `states:`), when not the engine's default. */
  states?: string;
}

export interface Fleet {
  hosts: FleetHost[];
  /** A temporary directory for this fleet (inventories, state trees); removed by close(). */
  dir: string;
  /** Private key that logs in as root on every host. */
  keyPath: string;
  /** An empty known_hosts file in `dir` for converge to record host keys into. */
  knownHostsFile: string;
  host(name: string): FleetHost;
  /** Runs a command in the container by `docker exec` (not over SSH, not through converge): a string runs under `sh -c`. */
  exec(name: string, cmd: string | string[]): Promise<ExecResult>;
  /** Stops a host's container: its port then refuses connections. */
  stop(name: string): Promise<void>;
  /** The host's ed25519 key as a known_hosts line: `[127.0.0.1]:PORT ssh-ed25519 AAAA...`. */
  hostKeyLine(name: string): Promise<string>;
  /** Writes a YAML inventory of the fleet (plus options.extraHosts) to `path`, and returns its text. */
  writeInventory(path: string, options?: InventoryOptions): string;
  /** Removes the containers and `dir`. Safe to call twice. */
  close(): Promise<void>;
}

const READY_TIMEOUT_MS = 180_000;
const READY_COMMAND =
  's=$(systemctl is-system-running --wait 2>/dev/null); ' +
  '{ [ "$s" = running ] || [ "$s" = degraded ]; } && systemctl is-active --quiet ssh.service && test -s /etc/ssh/ssh_host_ed25519_key.pub';

/** systemd as PID 1 without --privileged (which fails on this Docker): the options measured to work with cgroup v1. */
class TargetContainer extends GenericContainer {
  id: string | undefined;

  constructor(name: string, runId: string, aptPool: string | null, network: string | null, private readonly published: number[], release: Release) {
    super(testImage(release));
    if (network) this.withNetworkMode(network).withNetworkAliases(name);
    this.withHostname(name)
      .withLabels({
        [LABEL]: '1',
        [LABEL_RUN]: runId,
        [LABEL_PID]: String(process.pid),
        [LABEL_HOST]: hostname(),
        'converge.test.name': name,
      })
      .withExposedPorts(...published)
      .withAddedCapabilities('SYS_ADMIN', 'NET_ADMIN', 'NET_RAW')
      .withSecurityOpt('seccomp=unconfined', 'apparmor=unconfined')
      .withTmpFs({ '/run': 'rw', '/run/lock': 'rw' })
      .withBindMounts([
        { source: '/sys/fs/cgroup', target: '/sys/fs/cgroup', mode: 'rw' },
        ...(aptPool ? [{ source: aptPool, target: APT_POOL_MOUNT, mode: 'rw' as const }] : []),
      ])
      // This checkout's key, whatever key the image was built with (CONVERGE_TEST_BASE or an older tag).
      .withCopyContentToContainer([{ content: readFileSync(`${TEST_KEY}.pub`), target: '/root/.ssh/authorized_keys', mode: 0o600 }])
      .withWaitStrategy(Wait.forSuccessfulCommand(READY_COMMAND))
      .withStartupTimeout(READY_TIMEOUT_MS);
  }

  protected override async beforeContainerCreated(): Promise<void> {
    // --cgroupns=host (not in @types/dockerode's HostConfig, but in the Engine API since 1.41).
    (this.hostConfig as typeof this.hostConfig & { CgroupnsMode?: string }).CgroupnsMode = 'host';
    // Publish on loopback only: tests reach hosts through 127.0.0.1, never a container IP.
    this.hostConfig.PortBindings = Object.fromEntries(this.published.map((p) => [`${p}/tcp`, [{ HostIp: '127.0.0.1', HostPort: '' }]]));
  }

  protected override async containerCreated(containerId: string): Promise<void> {
    this.id = containerId;
  }
}

/** Resolves once the port answers with an SSH banner (docker-proxy accepts TCP before sshd listens). */
async function waitForSshBanner(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    last = await new Promise<string>((done) => {
      const sock = createConnection({ host: '127.0.0.1', port });
      let data = '';
      const finish = (why: string) => {
        sock.destroy();
        done(why);
      };
      sock.setTimeout(3000, () => finish('timeout'));
      sock.on('data', (chunk) => {
        data += chunk.toString('latin1');
        if (data.includes('\n')) finish(data.startsWith('SSH-') ? 'ok' : `bad banner ${JSON.stringify(data.slice(0, 40))}`);
      });
      sock.on('error', (err) => finish(err.message));
      sock.on('close', () => finish(data ? `closed after ${JSON.stringify(data.slice(0, 40))}` : 'closed'));
    });
    if (last === 'ok') return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`sshd on 127.0.0.1:${port} gave no SSH banner within ${timeoutMs} ms (last: ${last})`);
}

async function containerDiagnostics(id: string): Promise<string> {
  const parts: string[] = [];
  const logs = await docker(['logs', '--tail', '40', id]).catch((e: Error) => ({ stdout: '', stderr: e.message }));
  parts.push(`docker logs (tail):\n${(logs.stdout + logs.stderr).trim()}`);
  const failed = await docker(['exec', id, 'systemctl', '--failed', '--no-legend', '--no-pager']).catch(() => null);
  if (failed) parts.push(`failed units:\n${failed.stdout.trim() || '(none)'}`);
  return parts.join('\n');
}

let staleSwept = false;

/** A user-defined bridge network for one fleet, labelled like its containers. */
async function createNetwork(runId: string): Promise<string> {
  const name = `converge-test-${runId}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  await docker(['network', 'create', '--label', `${LABEL}=1`, '--label', `${LABEL_RUN}=${runId}`, '--label', `${LABEL_HOST}=${hostname()}`, name]);
  return name;
}

async function startHost(name: string, runId: string, aptPool: string | null, network: string | null, extraPorts: number[], release: Release): Promise<{ host: FleetHost; container: StartedTestContainer }> {
  const published = [22, ...extraPorts];
  const def = new TargetContainer(name, runId, aptPool, network, published, release);
  let container: StartedTestContainer;
  try {
    container = await def.start();
  } catch (err) {
    const diag = def.id ? await containerDiagnostics(def.id) : '';
    if (def.id) await removeContainers([def.id]);
    throw new Error(`test host ${name} did not come up: ${(err as Error).message}${diag ? `\n${diag}` : ''}`, { cause: err });
  }
  const port = container.getMappedPort(22);
  try {
    await waitForSshBanner(port, 60_000);
  } catch (err) {
    const diag = await containerDiagnostics(container.getId());
    await removeContainers([container.getId()]);
    throw new Error(`test host ${name}: ${(err as Error).message}\n${diag}`, { cause: err });
  }
  return {
    host: { name, address: '127.0.0.1', port, user: 'root', keyPath: TEST_KEY, containerId: container.getId(), ports: Object.fromEntries(published.map((p) => [p, container.getMappedPort(p)])) },
    container,
  };
}

/**
 * Starts one container per name, in parallel, and resolves when every host has
 * booted (systemd running or degraded) and its sshd answers on 127.0.0.1.
 */
export async function startFleet(names: string[], opts: StartFleetOptions = {}): Promise<Fleet> {
  if (new Set(names).size !== names.length) throw new Error(`startFleet: duplicate host names in ${names.join(', ')}`);
  if (!staleSwept) {
    staleSwept = true;
    await removeStaleContainers();
    // Networks of crashed runs: unused ones older than an hour (never a live run's).
    await docker(['network', 'prune', '-f', '--filter', `label=${LABEL}`, '--filter', 'until=1h']).catch(() => undefined);
  }
  const runId = process.env.CONVERGE_TEST_RUN_ID ?? `adhoc-${process.pid}`;
  const aptPool = opts.shareAptCache === false ? null : aptPoolDir();
  const network = opts.network ? await createNetwork(runId) : null;
  const removeNetwork = async () => {
    if (network) await docker(['network', 'rm', network]).catch(() => undefined);
  };
  const started = await Promise.allSettled(names.map((n) => startHost(n, runId, aptPool, network, opts.ports?.[n] ?? [], opts.releases?.[n] ?? 'bookworm')));
  const ok = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = started.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
  if (failed.length > 0) {
    await removeContainers(ok.map((s) => s.host.containerId));
    await removeNetwork();
    throw failed.length === 1 ? failed[0] : new AggregateError(failed, failed.map((e) => e.message).join('\n---\n'));
  }

  const dir = mkdtempSync(join(tmpdir(), 'converge-fleet-'));
  const knownHostsFile = join(dir, 'known_hosts');
  writeFileSync(knownHostsFile, '', { mode: 0o600 });
  const containers = new Map(ok.map((s) => [s.host.name, s.container]));
  const hosts = ok.map((s) => s.host);
  let closed = false;

  const host = (name: string): FleetHost => {
    const h = hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no host ${name} in this fleet (${names.join(', ')})`);
    return h;
  };
  const containerOf = (name: string): StartedTestContainer => {
    host(name);
    return containers.get(name)!;
  };

  const fleet: Fleet = {
    hosts,
    dir,
    keyPath: TEST_KEY,
    knownHostsFile,
    host,

    async exec(name, cmd) {
      const argv = typeof cmd === 'string' ? ['sh', '-c', cmd] : cmd;
      const r = await containerOf(name).exec(argv);
      return { stdout: r.stdout, stderr: r.stderr, code: r.exitCode };
    },

    async stop(name) {
      await containerOf(name).stop({ remove: false, timeout: 0 });
    },

    async hostKeyLine(name) {
      const r = await fleet.exec(name, ['cat', '/etc/ssh/ssh_host_ed25519_key.pub']);
      const [type, blob] = r.stdout.trim().split(/\s+/);
      if (r.code !== 0 || type !== 'ssh-ed25519' || !blob) {
        throw new Error(`hostKeyLine(${name}): could not read the host key (exit ${r.code}): ${r.stderr.trim()}`);
      }
      return `[127.0.0.1]:${host(name).port} ${type} ${blob}`;
    },

    writeInventory(path, options = {}) {
      const all: HostEntry[] = [...hosts, ...(options.extraHosts ?? [])];
      const roles = options.roles ?? {};
      for (const [role, members] of Object.entries(roles)) {
        for (const m of members) {
          if (!all.some((h) => h.name === m)) throw new Error(`writeInventory: role ${role} names unknown host ${m}`);
        }
      }
      const doc: Record<string, unknown> = {};
      if (options.states !== undefined) doc.states = options.states;
      doc.defaults = { user: 'root', key: TEST_KEY, known_hosts: knownHostsFile };
      doc.hosts = Object.fromEntries(
        all.map((h) => {
          const entry: Record<string, unknown> = {
            address: h.address,
            port: h.port,
            roles: Object.keys(roles).filter((r) => roles[r].includes(h.name)),
          };
          if (h.keyPath !== TEST_KEY) entry.key = h.keyPath;
          const hv = options.hostVars?.[h.name];
          if (hv) entry.vars = hv;
          return [h.name, entry];
        }),
      );
      const roleNames = [...new Set([...Object.keys(roles), ...Object.keys(options.roleVars ?? {})])];
      doc.roles = Object.fromEntries(roleNames.map((r) => [r, { vars: options.roleVars?.[r] ?? {} }]));
      doc.vars = options.vars ?? {};
      const text = stringify(doc);
      writeFileSync(path, text);
      return text;
    },

    async close() {
      if (closed) return;
      closed = true;
      await removeContainers(hosts.map((h) => h.containerId));
      await removeNetwork();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return fleet;
}

function refused(port: number): Promise<boolean> {
  return new Promise((done) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    sock.setTimeout(2000, () => {
      sock.destroy();
      done(false);
    });
    sock.on('connect', () => {
      sock.destroy();
      done(false);
    });
    sock.on('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED'));
  });
}

/**
 * A host entry for a host that cannot be reached: a loopback port that refuses
 * connections. The port is a privileged one below the ephemeral range, so
 * neither the kernel nor Docker will hand it out to something else mid-test.
 */
export async function unreachableHost(name: string): Promise<HostEntry> {
  for (const port of [1, 3, 5, 9, 11, 13, 17, 19]) {
    if (await refused(port)) return { name, address: '127.0.0.1', port, user: 'root', keyPath: TEST_KEY, containerId: null };
  }
  throw new Error('unreachableHost: found no closed low port on 127.0.0.1');
}
