// ufw: default policies, rules, logging, enabled; and never locking converge out.
//
// Three guards, in order:
// 1. plan refuses a state whose firewall would drop new connections to the
//    SSH port (a deny on it, or a default deny without an allow on it), so
//    check mode shows the refusal and nothing is applied;
// 2. apply adds rules before it removes any and before it changes default
//    policies or enables the firewall, so the SSH allow is in first;
// 3. after the change is live, a brand-new SSH connection must get in; if it
//    cannot (a rule that drops converge's source address, which plan cannot
//    know), the four files ufw keeps its state in are restored and ufw is
//    reloaded, and the resource fails saying so.
//
// The port to keep open is the one sshd listens on, on the host: converge may
// dial another one through NAT or a port forward (the test fleet publishes
// 22 on a random loopback port). It is ssh_port when set, else what
// `sshd -T` says (narrowed to the port converge dials when that is one of
// them), else 22.
//
// Requirements: ufw installed (package ufw) and root. On Debian 12 ufw works
// with the default iptables (the nft backend), in containers too given
// NET_ADMIN; no switch to iptables-legacy is needed.

import { errorMessage, HostError } from '../core/diagnostics.js';
import type { ApplyContext, Change, PlanContext, ResourceType } from '../core/resource.js';
import { shq, spooled } from '../core/shell.js';
import type { Policy, UfwSpec } from '../generated/ufw.js';
import { sshdEffective, type SshdConfig } from './sshd.js';
import { assertUnique, FAMILIES, opCommand, parseTuple, planRules, ruleTuples, sshBlocked, type Tuple } from './lib/ufw-rules.js';
import { ufwCommandsScript } from './lib/ufw-commands.js';
import { keepWayIn } from './lib/way-in.js';

type Direction = 'incoming' | 'outgoing' | 'routed';
const DIRECTIONS: Direction[] = ['incoming', 'outgoing', 'routed'];
const POLICY_VAR: Record<Direction, string> = { incoming: 'DEFAULT_INPUT_POLICY', outgoing: 'DEFAULT_OUTPUT_POLICY', routed: 'DEFAULT_FORWARD_POLICY' };
const POLICY: Record<string, Policy> = { ACCEPT: 'allow', DROP: 'deny', REJECT: 'reject' };

/** Where ufw keeps everything converge changes; backed up before a change, restored when it fails. */
const STATE_FILES = ['/etc/ufw/user.rules', '/etc/ufw/user6.rules', '/etc/ufw/ufw.conf', '/etc/default/ufw'];

export interface UfwFacts {
  installed: boolean;
  /** ENABLED=yes in ufw.conf: started at boot. */
  enabled: boolean;
  /** ufw's chains are in iptables (what `ufw status` calls active): the rules are loaded now. */
  active: boolean;
  logging: string;
  ipv6: boolean;
  defaults: Record<Direction, Policy>;
  rules: Tuple[];
}

/**
 * Read-only: ufw's own files, and whether the firewall is loaded now. That is
 * what `ufw status` checks (its user chains exist in iptables), asked of
 * iptables directly: `ufw status` starts Python for it (~0.2 s); iptables
 * answers in a few ms. -w waits for the xtables lock rather than failing.
 * Two commands, as it rides in every run's batch: one awk reads the settings
 * and rule tuples from ufw's four files (not two greps and two seds), and
 * one listing of the filter table shows the three chains (not an iptables
 * per chain: the nft backend reads the whole ruleset for each).
 */
const FACT_SCRIPT = [
  'command -v ufw >/dev/null 2>&1 || exit 0',
  'echo installed=yes',
  "awk 'FILENAME ~ /ufw\\.conf$/ && /^(ENABLED|LOGLEVEL)=/ || FILENAME ~ /default\\/ufw$/ && /^(IPV6|DEFAULT_(INPUT|OUTPUT|FORWARD)_POLICY)=/ { print; next }",
  '  /^### tuple ### / { print (FILENAME ~ /user6\\.rules$/ ? "v6 " : "v4 ") substr($0, 15) }\' /etc/ufw/ufw.conf /etc/default/ufw /etc/ufw/user.rules /etc/ufw/user6.rules',
  "nl='",
  "'",
  't=$nl$(iptables -w -S 2>/dev/null)$nl; s=active; for c in input output forward; do case $t in *"$nl-N ufw-user-$c$nl"*) ;; *) s=inactive; break ;; esac; done; echo "status=$s"',
].join('\n');

export function parseUfwFacts(text: string): UfwFacts {
  const kv = new Map<string, string>();
  const rules: Tuple[] = [];
  for (const line of text.split('\n')) {
    const rule = /^(v4|v6) (.*)$/.exec(line);
    if (rule) {
      const t = parseTuple(rule[1] as 'v4' | 'v6', rule[2]);
      if (t) rules.push(t);
      continue;
    }
    const m = /^([A-Za-z0-9_]+)=(.*)$/.exec(line);
    if (m) kv.set(m[1], m[2].replace(/^"(.*)"$/, '$1'));
  }
  // Unset values are ufw's own defaults (also what a fresh install has), so check mode can plan a host ufw is not installed on yet.
  const policy = (d: Direction, fallback: Policy) => POLICY[kv.get(POLICY_VAR[d]) ?? ''] ?? fallback;
  return {
    installed: kv.get('installed') === 'yes',
    enabled: kv.get('ENABLED') === 'yes',
    active: kv.get('status') === 'active',
    logging: kv.get('LOGLEVEL') ?? 'low',
    ipv6: (kv.get('IPV6') ?? 'yes') === 'yes',
    defaults: { incoming: policy('incoming', 'deny'), outgoing: policy('outgoing', 'allow'), routed: policy('routed', 'deny') },
    rules,
  };
}

/** The SSH port(s) on the host that must stay reachable (see the top of this file). */
export function protectedPorts(spec: UfwSpec, sshd: SshdConfig, dialed: number): number[] {
  if (spec.ssh_port !== undefined) return [spec.ssh_port];
  const ports = (sshd.values.port ?? []).map(Number).filter((p) => p > 0);
  if (ports.includes(dialed)) return [dialed];
  return ports.length ? ports : [22];
}

interface UfwPlan {
  changes: Change[];
  /** ufw commands, in the order that keeps the SSH allow in first. */
  commands: string[];
  /** The firewall is loaded once the script ran: a fresh login must prove the way in. */
  activeAfter: boolean;
}

/** The one computation plan reports and apply runs. */
/** ufw's own state, and sshd's effective settings (the ports never to close). */
type UfwHostFacts = { ufw: UfwFacts; sshd: SshdConfig };

function planUfw(spec: UfwSpec, facts: UfwHostFacts, ctx: PlanContext): UfwPlan {
  const f = facts.ufw;
  const wanted = (spec.rules ?? []).flatMap((r) => ruleTuples(r, f.ipv6));
  assertUnique(wanted);
  const rules = planRules(f.rules, wanted, spec.purge ?? false);
  const changes = [...rules.changes];
  const commands = rules.ops.map(opCommand);

  for (const d of DIRECTIONS) {
    const want = spec.default?.[d];
    if (want && want !== f.defaults[d]) {
      changes.push({ path: `default.${d}`, action: 'update', before: f.defaults[d], after: want });
      commands.push(`ufw default ${want} ${d}`);
    }
  }
  if (spec.logging && spec.logging !== f.logging) {
    changes.push({ path: 'logging', action: 'update', before: f.logging, after: spec.logging });
    commands.push(`ufw logging ${spec.logging}`);
  }
  const now = f.enabled && f.active ? true : f.enabled ? 'enabled, but not loaded' : f.active ? 'loaded, but not enabled' : false;
  if (spec.enabled !== undefined && spec.enabled !== now) {
    changes.push({ path: 'enabled', action: 'update', before: now, after: spec.enabled });
    commands.push(spec.enabled ? 'ufw --force enable' : 'ufw disable');
  }

  const activeAfter = spec.enabled ?? f.active;
  if (changes.length && activeAfter) {
    const incoming = spec.default?.incoming ?? f.defaults.incoming;
    const ports = protectedPorts(spec, facts.sshd, ctx.host.sshPort);
    for (const family of f.ipv6 ? FAMILIES : FAMILIES.slice(0, 1)) {
      for (const port of ports) {
        const why = sshBlocked(rules.final[family], port, incoming);
        if (why) {
          throw new HostError(
            `refusing this firewall change: it would block new SSH connections to port ${port}/tcp (${family === 'v4' ? 'IPv4' : 'IPv6'}): ${why}`,
            `declare an allow (or limit) rule for port ${port}/tcp before any deny that covers it${spec.ssh_port === undefined ? ', or set ssh_port if sshd listens on another port on this host' : ''}`,
          );
        }
      }
    }
  }
  return { changes, commands, activeAfter };
}

const BACKUP_SCRIPT = [
  'set -e',
  'mkdir -p /var/backups',
  'b=$(mktemp -d /var/backups/converge-ufw.XXXXXXXX)',
  `tar -C / -cf "$b/ufw.tar" ${STATE_FILES.map((p) => p.slice(1)).join(' ')}`,
  'echo "$b"',
].join('\n');

/** Put the backed-up files back and make them live: reload, or stop the firewall if it was not enabled. */
function restoreScript(backup: string): string {
  return ['set -e', `b=${shq(backup)}`, 'tar -C / -xpf "$b/ufw.tar"', "if grep -q '^ENABLED=yes' /etc/ufw/ufw.conf; then ufw reload; else ufw disable; fi", 'rm -rf "$b"'].join('\n');
}

async function applyUfw(spec: UfwSpec, facts: UfwHostFacts, ctx: ApplyContext): Promise<void> {
  if (!facts.ufw.installed) {
    throw new HostError('ufw is not installed', 'install it first: a package resource { name: ufw } (the ufw resource comes after it), or apt-get install ufw');
  }
  const plan = planUfw(spec, facts, ctx);
  const backup = (await ctx.run({ script: BACKUP_SCRIPT }, 'backing up the ufw configuration')).stdout.trim();
  const restore = async () => void (await ctx.run({ script: spooled(restoreScript(backup)) }, `restoring the ufw configuration from ${backup}`));
  try {
    // ufw prints a line per command: spooled, a connection lost half way
    // cannot stop the change half way (the firewall is all old or all new).
    await ctx.run({ script: spooled(ufwCommandsScript(plan.commands)) }, 'changing the firewall');
  } catch (e) {
    // The change's own error says what went wrong: a failing restore must not hide it.
    try {
      await restore();
    } catch (r) {
      throw new HostError(`${errorMessage(e)}; restoring the previous firewall configuration failed too: ${errorMessage(r)}`, `log in on the console (or through a session still open) and repair the firewall by hand; the backup is ${backup}`);
    }
    throw new HostError(`${errorMessage(e)}; the previous firewall configuration was restored`);
  }
  if (plan.activeAfter) await keepWayIn(ctx, { change: 'the firewall change', previous: 'the previous firewall configuration', undo: restore });
  await ctx.run({ script: `rm -rf ${shq(backup)}` }, 'removing the ufw backup');
}

export const ufw: ResourceType<UfwSpec, UfwHostFacts> = {
  kind: 'ufw',
  id: () => 'ufw:firewall',
  implicitAfter: () => ['package:ufw'],
  facts: () => ({ ufw: { key: 'ufw:state', script: FACT_SCRIPT, parse: parseUfwFacts }, sshd: sshdEffective }),
  plan: (spec, facts, ctx) => planUfw(spec, facts, ctx).changes,
  apply: (spec, _changes, facts, ctx) => applyUfw(spec, facts, ctx),
};
