// Rolling changes: a resource with a `rolling` option (schemas/rolling.schema.json)
// makes its change on the hosts that have it a few at a time. Each host,
// when its turn comes, is taken out of the balancers' pool (haproxy-runtime.ts),
// changed (the resource's apply and the restart its watch triggers),
// health-checked on the host, and put back; the slot then passes to the
// next host. A host with nothing to change never takes a turn. A failure
// stops that resource's rollout: the failing host stays out of the pool,
// hosts not yet rolled skip it (their restart stays owed, for the next run).
// The hosts still run side by side: only the rolled step waits for its turn.

import { errorMessage, HostError, InputError } from '../core/diagnostics.js';
import { deadline } from '../core/shell.js';
import type { Rolling } from '../generated/rolling.js';
import type { ChangeOutcome, Rollout } from '../engine/host-run.js';
import type { Connect, PreparedHost } from '../engine/run.js';
import type { Host, Inventory } from '../inventory/inventory.js';
import type { Resource } from '../state/compile.js';
import { describeExit, outputTail, quote, type ExecResult, type Transport } from '../transport/transport.js';
import { backInPoolScript, openSessions, outOfPoolScript, type PoolServer } from './haproxy-runtime.js';

const DEFAULTS = { socket: '/run/haproxy/admin.sock', drainTimeout: 60, healthTimeout: 60, interval: 1 };

/** One resource id's rollout across the hosts that have it: turns, and whether it stopped. */
class Turns {
  private busy = 0;
  private readonly waiting: (() => void)[] = [];
  /** Why the rollout stopped (the host that failed and how), once it has. */
  stopped?: string;

  constructor(readonly slots: number) {}

  async take(): Promise<void> {
    if (this.busy < this.slots) {
      this.busy++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  /** The turn passes to the next waiting host (first come, first served). */
  give(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.busy--;
  }
}

/** The health check: cmd tried every interval until it passes or timeout seconds are up; its last output on failure. */
export function healthScript(cmd: string, timeout: number, interval: number): string {
  const d = deadline(timeout);
  return [
    d.start,
    `until out=$(sh -c ${quote(cmd)} 2>&1); do`,
    `  ${d.ahead} || { printf '%s\\n' "$out" | tail -n 3 >&2; exit 1; }`,
    `  sleep ${interval}`,
    'done',
  ].join('\n');
}

/** How many hosts may change at once: a count, or a percentage of the hosts that have the resource (at least 1). */
export function slotsFor(serial: Rolling['serial'], members: number): number {
  if (typeof serial === 'string') return Math.max(1, Math.floor((Number(serial.slice(0, -1)) * members) / 100));
  return Math.max(1, serial ?? 1);
}

/**
 * Each rolled resource id with its option and how many hosts have it.
 * Throws InputError when an option names a balancer host the inventory lacks.
 */
export function rolledResources(prepared: PreparedHost[], inventory: Inventory): Map<string, { rolling: Rolling; hosts: number }> {
  const members = new Map<string, { rolling: Rolling; hosts: number }>();
  const names = new Set(inventory.hosts.map((h) => h.name));
  for (const p of prepared) {
    for (const r of p.graph.order) {
      if (!r.rolling) continue;
      const host = r.rolling.balancer?.host;
      if (host !== undefined && !names.has(host)) {
        throw new InputError({ message: `rolling.balancer.host "${host}" is not a host of the inventory`, where: r.at('rolling', 'balancer', 'host'), hint: `name one of: ${[...names].join(', ')}; or name the balancers by role` });
      }
      const m = members.get(r.id);
      members.set(r.id, { rolling: m?.rolling ?? r.rolling, hosts: (m?.hosts ?? 0) + 1 });
    }
  }
  return members;
}

export class Rollouts {
  private readonly turns = new Map<string, Turns>();
  /** One connection per balancer host for the whole run, opened when first needed. */
  private readonly balancers = new Map<string, Promise<Transport>>();

  private constructor(
    private readonly inventory: Inventory,
    private readonly connect: Connect,
    members: Map<string, { rolling: Rolling; hosts: number }>,
  ) {
    for (const [id, m] of members) this.turns.set(id, new Turns(slotsFor(m.rolling.serial, m.hosts)));
  }

  /** undefined when no targeted resource is rolled; throws InputError as rolledResources does. */
  static of(prepared: PreparedHost[], inventory: Inventory, connect: Connect): Rollouts | undefined {
    const members = rolledResources(prepared, inventory);
    return members.size ? new Rollouts(inventory, connect, members) : undefined;
  }

  /** The balancer hosts a rolling option names (a role may have none: nothing to drain). */
  private balancerHosts(rolling: Rolling): Host[] {
    const b = rolling.balancer;
    if (!b) return [];
    return this.inventory.hosts.filter((h) => (b.host ? h.name === b.host : h.roles.includes(b.role!)));
  }

  private balancer(h: Host): Promise<Transport> {
    let t = this.balancers.get(h.name);
    if (!t) {
      t = this.connect(h);
      // A failed connection is not kept: the next host's turn tries again.
      t.catch(() => this.balancers.delete(h.name));
      this.balancers.set(h.name, t);
    }
    return t;
  }

  /** Runs script on every balancer at once; throws naming the first that failed. */
  private async onBalancers(hosts: Host[], script: string, what: string): Promise<ExecResult[]> {
    return Promise.all(
      hosts.map(async (h) => {
        let res: ExecResult;
        try {
          res = await (await this.balancer(h)).exec(script);
        } catch (e) {
          throw new HostError(`${what} on ${h.name}: ${errorMessage(e)}`, `the balancer must be reachable from the controller as any host is (converge facts ${h.name})`);
        }
        if (res.code !== 0) throw new HostError(`${what} on ${h.name} failed (${describeExit(res)}): ${outputTail(res, 3)}`, 'check haproxy on the balancer (its admin socket, the backend and server names) and the rolling option');
        return res;
      }),
    );
  }

  /** The hook one host's run makes its rolled changes through. */
  for(hostName: string): Rollout {
    return {
      note: (r) => this.note(r),
      through: (r, exec, change) => this.through(hostName, r, exec, change),
    };
  }

  private note(r: Resource): string {
    const rolling = r.rolling!;
    const pool = this.balancerHosts(rolling).map((h) => h.name);
    return `rolled ${this.turns.get(r.id)!.slots} host(s) at a time${pool.length ? `, out of the pool on ${pool.join(', ')} meanwhile` : ''}`;
  }

  private async through(hostName: string, r: Resource, exec: (script: string) => Promise<ExecResult>, change: () => Promise<ChangeOutcome>): Promise<ChangeOutcome> {
    const turns = this.turns.get(r.id)!;
    const stopped = (): ChangeOutcome => ({ status: 'skipped', reason: `not rolled: the rollout of ${r.id} stopped (${turns.stopped}); this host keeps what it runs, its change stays owed to the next run` });
    if (turns.stopped) return stopped();
    await turns.take();
    try {
      if (turns.stopped) return stopped();
      const outcome = await this.turn(hostName, r, exec, change);
      if (outcome.status === 'failed') turns.stopped = `${hostName}: ${outcome.reason}`;
      return outcome;
    } catch (e) {
      turns.stopped = `${hostName}: ${errorMessage(e)}`;
      throw e;
    } finally {
      turns.give();
    }
  }

  /** One host's turn: out of the pool, changed, healthy, back in. */
  private async turn(hostName: string, r: Resource, exec: (script: string) => Promise<ExecResult>, change: () => Promise<ChangeOutcome>): Promise<ChangeOutcome> {
    const rolling = r.rolling!;
    const pool = this.balancerHosts(rolling);
    const b = rolling.balancer;
    const server: PoolServer | undefined = b && { socket: b.socket ?? DEFAULTS.socket, backends: b.backends, server: b.server ?? hostName };
    const poolNames = pool.map((h) => h.name).join(', ');
    const out = Date.now();
    let drained = '';
    if (server && pool.length) {
      const res = await this.onBalancers(pool, outOfPoolScript(server, b!.drain_timeout ?? DEFAULTS.drainTimeout), `taking ${server.server} out of the pool`);
      const open = Math.max(...res.map((x) => openSessions(x.stdout)));
      drained = `drained in ${((Date.now() - out) / 1000).toFixed(1)} s${open ? `, ${open} session(s) still open at the timeout` : ''}`;
    }
    const left = server && pool.length ? `; ${hostName} left out of the pool on ${poolNames} and the rollout of ${r.id} stopped` : `; the rollout of ${r.id} stopped`;
    const outcome = await change();
    if (outcome.status !== 'changed') return outcome.status === 'failed' ? { ...outcome, reason: outcome.reason + left } : outcome;
    const health = rolling.health;
    if (health) {
      const res = await exec(healthScript(health.cmd, health.timeout ?? DEFAULTS.healthTimeout, health.interval ?? DEFAULTS.interval));
      if (res.code !== 0) {
        return {
          status: 'failed',
          reason: `${outcome.reason}; then its health check failed for ${health.timeout ?? DEFAULTS.healthTimeout} s (${outputTail(res, 3) || describeExit(res)})${left}`,
          extra: { ...outcome.extra, hint: `fix what the health check names on ${hostName} and run again: the owed restart is made then, and the host put back in the pool once healthy` },
        };
      }
    }
    if (server && pool.length) {
      try {
        await this.onBalancers(pool, backInPoolScript(server, health?.timeout ?? DEFAULTS.healthTimeout), `putting ${server.server} back in the pool`);
      } catch (e) {
        return { status: 'failed', reason: `${outcome.reason}; then ${errorMessage(e)}; the rollout of ${r.id} stopped`, extra: { ...outcome.extra, hint: (e as HostError).hint } };
      }
      return { ...outcome, reason: `${outcome.reason}; out of the pool on ${poolNames} for ${((Date.now() - out) / 1000).toFixed(1)} s (${drained})` };
    }
    return outcome;
  }

  async close(): Promise<void> {
    await Promise.all([...this.balancers.values()].map((t) => t.then((x) => x.close(), () => undefined)));
  }
}
