// ufw's rules as ufw itself stores them, and the pure planning of how to get
// from the rules a host has to the declared ones.
//
// ufw keeps two ordered lists: IPv4 rules in /etc/ufw/user.rules and IPv6
// rules in user6.rules, each rule recorded on a machine-readable line
//   ### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in comment=737368
// (action proto dport dst sport src [dapp sapp] direction [comment=hex]).
// Those lines are parsed here rather than `ufw status`, which prints rules
// for people, and only while the firewall is active.
//
// A rule for any address ("allow 22/tcp") is one tuple in each list. ufw
// numbers the IPv4 list 1..n4 and the IPv6 list after it (an application
// rule whose profile has several port sets is several tuples under one
// number), and a rule written with explicit family addresses (from 0.0.0.0/0
// to 0.0.0.0/0) lands in one list only, with the same tuple, so each list is
// planned on its own: insert at a number, delete by number.

import { HostError } from '../../core/diagnostics.js';
import type { Change } from '../../core/resource.js';
import { shq } from '../../core/shell.js';
import type { Policy, UfwRule } from '../../generated/ufw.js';

export type Family = 'v4' | 'v6';
export const FAMILIES: Family[] = ['v4', 'v6'];
const ANY_ADDRESS: Record<Family, string> = { v4: '0.0.0.0/0', v6: '::/0' };

export interface Tuple {
  family: Family;
  /** allow, deny, limit, reject; also allow_log..., route:allow... for rules converge does not write. */
  action: string;
  proto: string;
  dport: string;
  dst: string;
  sport: string;
  src: string;
  /** Application profile names, '-' for none. */
  dapp: string;
  sapp: string;
  /** in, out, or in_eth0 (an interface). */
  direction: string;
  comment: string;
}

/** One `### tuple ###` line (without that prefix) of the given list; undefined when its shape is unknown. */
export function parseTuple(family: Family, text: string): Tuple | undefined {
  const f = text.trim().split(/\s+/);
  let comment = '';
  if (f.at(-1)?.startsWith('comment=')) comment = Buffer.from(f.pop()!.slice('comment='.length), 'hex').toString('utf8');
  if (f.length !== 7 && f.length !== 9) return undefined;
  const [action, proto, dport, dst, sport, src] = f;
  const [dapp, sapp] = f.length === 9 ? [f[6], f[7]] : ['-', '-'];
  return { family, action, proto, dport, dst, sport, src, dapp, sapp, direction: f.at(-1)!, comment };
}

/** Identity of a rule within its list (ufw refuses a second rule with the same one); the comment is not part of it. */
const tupleKey = (t: Tuple) => [t.action, t.proto, t.dport, t.dst, t.sport, t.src, t.dapp, t.sapp, t.direction].join(' ');

const isAny = (address: string) => address === ANY_ADDRESS.v4 || address === ANY_ADDRESS.v6;

/** Readable, the way `ufw show added` writes rules: "allow 22/tcp", "deny from 192.0.2.7 to any", "allow OpenSSH". */
export function ruleLabel(t: Tuple): string {
  const verb = t.direction === 'in' ? t.action : `${t.action} ${t.direction.replace('_', ' on ')}`;
  const app = (name: string) => name.replace(/%20/g, ' ');
  if (isAny(t.src) && isAny(t.dst) && t.sport === 'any' && t.sapp === '-') {
    if (t.dapp !== '-') return `${verb} ${app(t.dapp)}`;
    if (t.dport !== 'any') return `${verb} ${t.dport}${t.proto === 'any' ? '' : `/${t.proto}`}`;
  }
  const end = (address: string, port: string, application: string) =>
    `${isAny(address) ? 'any' : address}${application !== '-' ? ` app ${app(application)}` : port === 'any' ? '' : ` port ${port}`}`;
  return `${verb} from ${end(t.src, t.sport, t.sapp)} to ${end(t.dst, t.dport, t.dapp)}${t.proto === 'any' || t.dapp !== '-' ? '' : ` proto ${t.proto}`}`;
}

const withComment = (t: Tuple) => (t.comment ? `${ruleLabel(t)} # ${t.comment}` : ruleLabel(t));

function ipv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return undefined;
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

/**
 * An address or network the way ufw normalizes it, so that what is declared
 * compares equal to what ufw stores: IPv4 networks lose their host bits and
 * /32; IPv6 is compressed and lowercased and loses /128.
 */
export function canonicalAddress(text: string): { family?: Family; address?: string } {
  if (text === 'any') return {};
  const [addr, bits, extra] = text.split('/');
  const len = bits === undefined ? undefined : /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
  const v4 = ipv4(addr);
  if (extra === undefined && v4 !== undefined && (len === undefined || len <= 32)) {
    if (len === undefined || len === 32) return { family: 'v4', address: addr.split('.').map(Number).join('.') };
    const net = len === 0 ? 0 : (v4 & (~0 << (32 - len))) >>> 0;
    return { family: 'v4', address: `${[24, 16, 8, 0].map((s) => (net >>> s) & 255).join('.')}/${len}` };
  }
  if (extra === undefined && addr.includes(':') && (len === undefined || len <= 128)) {
    try {
      const host = new URL(`http://[${addr}]/`).hostname.slice(1, -1);
      return { family: 'v6', address: len === undefined || len === 128 ? host : `${host}/${len}` };
    } catch {
      // not an IPv6 address: reported below
    }
  }
  throw new HostError(`"${text}" is not an address or network`, 'write any, an IPv4 or IPv6 address, or a network such as 10.0.0.0/8');
}

/** The tuples a declared rule is stored as: one per address family it covers. */
export function ruleTuples(rule: UfwRule, ipv6: boolean): Tuple[] {
  const src = canonicalAddress(rule.from ?? 'any');
  const dst = canonicalAddress(rule.to ?? 'any');
  if (src.family && dst.family && src.family !== dst.family) throw new HostError(`rule from ${rule.from} to ${rule.to} mixes IPv4 and IPv6`);
  const family = src.family ?? dst.family;
  if (family === 'v6' && !ipv6) throw new HostError(`rule from ${rule.from ?? 'any'} to ${rule.to ?? 'any'} is IPv6, but ufw has IPV6=no`, 'set IPV6=yes in /etc/default/ufw');
  const dport = rule.port === undefined ? 'any' : String(rule.port);
  const proto = rule.proto ?? 'any';
  if (/[,:]/.test(dport) && proto === 'any') throw new HostError(`port ${dport} (a list or range) needs proto tcp or udp`);
  const families: Family[] = family ? [family] : ipv6 ? FAMILIES : ['v4'];
  return families.map((f) => ({
    family: f,
    action: rule.action ?? 'allow',
    proto,
    dport,
    dst: dst.address ?? ANY_ADDRESS[f],
    sport: 'any',
    src: src.address ?? ANY_ADDRESS[f],
    dapp: '-',
    sapp: '-',
    direction: 'in',
    comment: rule.comment ?? '',
  }));
}

/** A ufw command line. Rules converge writes always name their family's addresses, so each lands in one list. */
export type RuleOp = { op: 'insert'; at: number; tuple: Tuple } | { op: 'append'; tuple: Tuple } | { op: 'delete'; at: number; tuple: Tuple } | { op: 'comment'; tuple: Tuple };

function ruleArgs(t: Tuple): string {
  const proto = t.proto === 'any' ? '' : ` proto ${t.proto}`;
  const port = t.dport === 'any' ? '' : ` port ${t.dport}`;
  const comment = t.comment ? ` comment ${shq(t.comment)}` : '';
  return `${t.action}${proto} from ${t.src} to ${t.dst}${port}${comment}`;
}

export function opCommand(o: RuleOp): string {
  switch (o.op) {
    case 'insert':
      return `ufw insert ${o.at} ${ruleArgs(o.tuple)}`;
    case 'delete':
      return `ufw --force delete ${o.at}`;
    // Adding a rule that exists with another comment (or none) replaces its comment in place.
    case 'append':
    case 'comment':
      return `ufw ${ruleArgs(o.tuple)}`;
  }
}

/** Indices (into seq) of one longest strictly increasing subsequence: the declared rules that can stay where they are. */
function longestIncreasing(seq: number[]): Set<number> {
  const len = seq.map(() => 1);
  const prev = seq.map(() => -1);
  for (let i = 0; i < seq.length; i++) {
    for (let j = 0; j < i; j++) {
      if (seq[j] < seq[i] && len[j] + 1 > len[i]) {
        len[i] = len[j] + 1;
        prev[i] = j;
      }
    }
  }
  const keep = new Set<number>();
  let i = len.indexOf(Math.max(0, ...len));
  while (i >= 0) {
    keep.add(i);
    i = prev[i];
  }
  return keep;
}

/** The tuples of one application rule share this key (ufw's get_app_tuple), and one rule number. */
function appKey(t: Tuple): string | undefined {
  if (t.dapp === '-' && t.sapp === '-') return undefined;
  return [t.dapp === '-' ? t.dport : t.dapp, t.dst, t.sapp === '-' ? t.sport : t.sapp, t.src, t.direction].join(' ');
}

/** ufw's number of the rule list[i] belongs to, counting from offset + 1. */
function ruleNumber(list: Tuple[], i: number, offset: number): number {
  const seen = new Map<string, number>();
  let n = offset;
  for (let j = 0; j <= i; j++) {
    const k = appKey(list[j]);
    const first = k === undefined ? undefined : seen.get(k);
    if (first !== undefined) {
      if (j === i) return first;
      continue;
    }
    n++;
    if (k !== undefined) seen.set(k, n);
  }
  return n;
}

/** How many numbers a list takes. */
const ruleCount = (list: Tuple[]) => new Set(list.map((t, i) => appKey(t) ?? `#${i}`)).size;

interface Slot {
  tuple: Tuple;
  /** Declared index, -1 for a rule not declared. */
  want: number;
  /** Already in its declared place. */
  placed: boolean;
}

interface FamilyPlan {
  ops: RuleOp[];
  final: Tuple[];
  created: Tuple[];
  moved: Tuple[];
  recommented: { from: Tuple; to: Tuple }[];
  deleted: Tuple[];
}

/**
 * One list: rules missing are inserted before the next declared rule that is
 * already in place (so the declared order holds, whatever else is there);
 * declared rules out of order are deleted and inserted again (all but a
 * longest run already in order); with purge, undeclared rules are deleted
 * last, after every declared rule is in, so an old SSH rule goes only once
 * its replacement is there. `offset` is where this list's numbers start.
 */
function planFamily(current: Tuple[], wanted: Tuple[], purge: boolean, offset: number): FamilyPlan {
  const index = new Map(wanted.map((t, i) => [tupleKey(t), i]));
  const slots: Slot[] = current.map((tuple) => ({ tuple, want: index.get(tupleKey(tuple)) ?? -1, placed: false }));
  const declared = slots.filter((s) => s.want >= 0);
  const keep = longestIncreasing(declared.map((s) => s.want));
  declared.forEach((s, i) => (s.placed = keep.has(i)));

  const plan: FamilyPlan = { ops: [], final: [], created: [], moved: [], recommented: [], deleted: [] };
  const number = (s: Slot) =>
    ruleNumber(
      slots.map((x) => x.tuple),
      slots.indexOf(s),
      offset,
    );
  wanted.forEach((tuple, want) => {
    const present = slots.find((s) => s.want === want);
    if (present?.placed) {
      if (present.tuple.comment !== tuple.comment) {
        plan.ops.push({ op: 'comment', tuple });
        plan.recommented.push({ from: present.tuple, to: tuple });
        present.tuple = tuple;
      }
      return;
    }
    if (present) {
      plan.ops.push({ op: 'delete', at: number(present), tuple: present.tuple });
      slots.splice(slots.indexOf(present), 1);
      plan.moved.push(tuple);
    } else {
      plan.created.push(tuple);
    }
    const next = slots.findIndex((s) => s.placed && s.want > want);
    const slot = { tuple, want, placed: true };
    if (next < 0) {
      plan.ops.push({ op: 'append', tuple });
      slots.push(slot);
    } else {
      plan.ops.push({ op: 'insert', at: number(slots[next]), tuple });
      slots.splice(next, 0, slot);
    }
  });
  if (purge) {
    for (const s of [...slots].reverse()) {
      if (s.want >= 0 || !slots.includes(s)) continue;
      plan.ops.push({ op: 'delete', at: number(s), tuple: s.tuple });
      plan.deleted.push(s.tuple);
      // Deleting an application rule's number deletes all its tuples.
      const k = appKey(s.tuple);
      for (const x of slots.filter((x) => x === s || (k !== undefined && appKey(x.tuple) === k))) slots.splice(slots.indexOf(x), 1);
    }
  }
  plan.final = slots.map((s) => s.tuple);
  return plan;
}

export interface RulesPlan {
  /** ufw commands, IPv4 list first (IPv6 numbers count after the final IPv4 list). */
  ops: RuleOp[];
  /** The lists once the ops ran. */
  final: Record<Family, Tuple[]>;
  /** One change per rule (both families of an any-address rule are one change). */
  changes: Change[];
}

export function planRules(current: Tuple[], wanted: Tuple[], purge: boolean): RulesPlan {
  const v4 = planFamily(
    current.filter((t) => t.family === 'v4'),
    wanted.filter((t) => t.family === 'v4'),
    purge,
    0,
  );
  const v6 = planFamily(
    current.filter((t) => t.family === 'v6'),
    wanted.filter((t) => t.family === 'v6'),
    purge,
    ruleCount(v4.final),
  );
  const changes = new Map<string, Change>();
  const add = (c: Change) => changes.has(c.path + c.action) || changes.set(c.path + c.action, c);
  const path = (t: Tuple) => `rules[${ruleLabel(t)}]`;
  for (const p of [v4, v6]) {
    p.created.forEach((t) => add({ path: path(t), action: 'create', after: withComment(t) }));
    p.moved.forEach((t) => add({ path: path(t), action: 'update', before: 'out of the declared order', after: 'in the declared order' }));
    p.recommented.forEach(({ from, to }) => add({ path: path(to), action: 'update', before: withComment(from), after: withComment(to) }));
  }
  for (const p of [v4, v6]) p.deleted.forEach((t) => add({ path: path(t), action: 'delete', before: withComment(t) }));
  return { ops: [...v4.ops, ...v6.ops], final: { v4: v4.final, v6: v6.final }, changes: [...changes.values()] };
}

/** Declared twice (in one family) is a mistake ufw would silently skip. */
export function assertUnique(wanted: Tuple[]): void {
  const seen = new Set<string>();
  for (const t of wanted) {
    const k = `${t.family} ${tupleKey(t)}`;
    if (seen.has(k)) throw new HostError(`rule "${ruleLabel(t)}" is declared twice`, 'remove one of them');
    seen.add(k);
  }
}

function portCovers(dport: string, port: number): boolean {
  if (dport === 'any') return true;
  return dport.split(',').some((part) => {
    const [lo, hi = lo] = part.split(':').map(Number);
    return port >= lo && port <= hi;
  });
}

/**
 * Why a new TCP connection to `port` from an address no rule names would be
 * dropped by one list (first match wins, then the default policy), or
 * undefined. Rules that name a source or destination address may or may not
 * match converge's connection and are passed over: the fresh login after the
 * change catches those.
 */
export function sshBlocked(list: Tuple[], port: number, incoming: Policy): string | undefined {
  for (const t of list) {
    const verb = t.action.replace(/_log.*$/, '');
    const certain = t.direction === 'in' && (t.proto === 'tcp' || t.proto === 'any') && isAny(t.src) && isAny(t.dst) && t.sport === 'any' && portCovers(t.dport, port);
    if (!certain) continue;
    if (verb === 'allow' || verb === 'limit') return undefined;
    if (verb === 'deny' || verb === 'reject') return `rule "${ruleLabel(t)}" ${verb === 'deny' ? 'drops' : 'rejects'} it`;
  }
  return incoming === 'allow' ? undefined : `the default incoming policy is ${incoming} and no rule allows it`;
}
