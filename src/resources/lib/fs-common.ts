// What file, directory and symlink resources share: reading a
// path's type/owner/group/mode, planning metadata changes, and the implicit
// edges to managed parent directories and owners.

import type { Change, FactQuery } from '../../core/resource.js';
import { PATH_TABLES, STAT_FORMAT, STAT_LOOKUP } from './path-tables.js';
import { flat, shq } from '../../core/shell.js';

export interface PathStat {
  type: 'absent' | 'file' | 'directory' | 'link' | 'other';
  owner?: string;
  group?: string;
  /** Permission bits as a number (e.g. 0o644). */
  mode?: number;
  size?: number;
}

/** sh that prints `type=...` and, for an existing path, owner/group/mode/size. */
export function statScript(path: string): string {
  return statWordScript(shq(path));
}

/** sh function `converge_stat PATH`: statScript, for fact queries (see FactQuery.functions); the batch's stat table spares its stat. */
export const STAT_SH = `converge_stat() {\n${typeLines('"$1"')}\nif [ -e "$1" ] && [ ! -L "$1" ]; then\n${STAT_LOOKUP}\nfi\ntrue\n}`;

/** One list for every stat query: a batch defines each function once, whatever the number of paths. */
export const STAT_FUNCTIONS: readonly string[] = Object.freeze([STAT_SH]);

/** The fact query of a path's stat (parseStat reads it). */
export function statQuery(path: string): FactQuery<PathStat> {
  // As fileFactQuery's: the script is copied into its batch and let go, the key kept while the batch is in flight.
  return { key: flat('stat:', path), script: `converge_stat ${shq(path)}`, functions: STAT_FUNCTIONS, inline: true, tables: PATH_TABLES, tableArg: path, parse: parseStat };
}

/** `type=...` of `p` (one sh word), by sh's own tests. */
function typeLines(p: string): string {
  return [
    `if [ -L ${p} ]; then echo type=link`,
    `elif [ -d ${p} ]; then echo type=directory`,
    `elif [ -f ${p} ]; then echo type=file`,
    `elif [ -e ${p} ]; then echo type=other`,
    'else echo type=absent; fi',
  ].join('\n');
}

/** statScript for a path known only on the host: `p` is one sh word, e.g. "$h/.ssh". */
export function statWordScript(p: string): string {
  return [typeLines(p), `[ -e ${p} ] && [ ! -L ${p} ] && stat -c ${STAT_FORMAT} ${p}`, 'true'].join('\n');
}

/** Calls fn with each key=value line's key and value, in order. */
export function eachKeyValue(text: string, fn: (key: string, value: string) => void): void {
  // By index, not split('\n'): every resource of every host is parsed here, and a split makes an array and a string per line.
  for (let start = 0; start < text.length; ) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const i = text.indexOf('=', start);
    if (i > start && i < end) fn(text.slice(start, i), text.slice(i + 1, end));
    start = end + 1;
  }
}

/** Parse the key=value lines of statScript (and any others) into a map; a key's first line counts. */
export function keyValues(text: string): Map<string, string> {
  const m = new Map<string, string>();
  eachKeyValue(text, (key, value) => {
    if (!m.has(key)) m.set(key, value);
  });
  return m;
}

/** Sets the field of one statScript line on st; false when key is none of them. */
export function setStatField(st: PathStat, key: string, value: string): boolean {
  switch (key) {
    case 'type':
      st.type = value as PathStat['type'];
      return true;
    case 'owner':
      st.owner = value;
      return true;
    case 'group':
      st.group = value;
      return true;
    case 'mode':
      st.mode = parseInt(value, 8);
      return true;
    case 'size':
      st.size = Number(value);
      return true;
  }
  return false;
}

/** statScript's output, read straight into its fields (no map between: every path of every host is parsed here). */
export function parseStat(text: string): PathStat {
  const st: PathStat = { type: 'absent' };
  eachKeyValue(text, (key, value) => setStatField(st, key, value));
  return st;
}

export function parseMode(mode: string): number {
  return parseInt(mode, 8);
}

export function formatMode(mode: number | undefined): string | undefined {
  return mode === undefined ? undefined : '0' + mode.toString(8).padStart(3, '0');
}

export interface Ownership {
  owner?: string;
  group?: string;
  mode?: string;
}

/** owner/group/mode changes between what is and what the spec asks (only fields the spec sets). */
export function metadataChanges(spec: Ownership, st: PathStat): Change[] {
  const creating = st.type === 'absent';
  const action = creating ? 'create' : 'update';
  const out: Change[] = [];
  if (spec.owner !== undefined && (creating || st.owner !== spec.owner)) out.push({ path: 'owner', action, before: creating ? undefined : st.owner, after: spec.owner });
  if (spec.group !== undefined && (creating || st.group !== spec.group)) out.push({ path: 'group', action, before: creating ? undefined : st.group, after: spec.group });
  if (spec.mode !== undefined && (creating || st.mode !== parseMode(spec.mode))) {
    out.push({ path: 'mode', action, before: creating ? undefined : formatMode(st.mode), after: formatMode(parseMode(spec.mode)) });
  }
  return out;
}

/**
 * sh that sets the spec's owner/group/mode on target (a shell word, e.g. "$tmp").
 * On a symlink (`link`) it sets the link's own owner and group: a link has no mode of its own.
 */
export function metadataScript(spec: Ownership, target: string, link = false): string {
  const h = link ? '-h ' : '';
  const lines: string[] = [];
  // One chown for both (a user name never holds a colon: passwd's separator).
  if (spec.owner !== undefined) lines.push(`chown ${h}${shq(spec.group === undefined ? spec.owner : `${spec.owner}:${spec.group}`)} ${target}`);
  else if (spec.group !== undefined) lines.push(`chgrp ${h}${shq(spec.group)} ${target}`);
  if (spec.mode !== undefined && !link) lines.push(`chmod ${formatMode(parseMode(spec.mode))} ${target}`);
  return lines.join('\n');
}

/** Per path, the ids of its ancestor directories: every host of a fleet builds its graph from the same paths. */
const ancestorDirs = new Map<string, string[]>();

/** Managed ancestors and owners come first. */
export function pathImplicitAfter(path: string, spec: Ownership): string[] {
  let dirs = ancestorDirs.get(path);
  if (!dirs) ancestorDirs.set(path, (dirs = ancestors(path).map((d) => `directory:${d}`)));
  const ids = dirs.slice();
  if (spec.owner) ids.push(`user:${spec.owner}`);
  if (spec.group) ids.push(`group:${spec.group}`);
  return ids;
}

/**
 * Root's part of a directory that `user` then fills (a venv, a checkout):
 * make it, parents too, and hand it over, since the user may not create it
 * under a root-owned parent. Never through a symlink: a link in its place is
 * refused, and chown -h does not follow one.
 */
export function handOverDirScript(path: string, user: string): string {
  const p = shq(path);
  return ['set -e', `if [ -L ${p} ]; then echo ${shq(`${path} is a symlink: not handing it to ${user}`)} >&2; exit 3; fi`, `mkdir -p ${p}`, `chown -h ${shq(user)}: ${p}`].join('\n');
}

/** The directories above a path, nearest first: /srv/app/venv -> /srv/app, /srv. */
export function ancestors(path: string): string[] {
  const parts = path.split('/').filter(Boolean);
  const out: string[] = [];
  let dir = '';
  for (let i = 0; i < parts.length - 1; i++) out.unshift((dir += `/${parts[i]}`));
  return out;
}

/** A path's stat, and for a directory whether it has no entries (something may be made in it). */
export interface DirStat extends PathStat {
  empty?: boolean;
}

/** statScript plus `empty=yes` for an empty directory; an unreadable one is never taken for empty. */
export function dirStatScript(path: string): string {
  const p = shq(path);
  return `${statScript(path)}\n[ -d ${p} ] && [ ! -L ${p} ] && l=$(ls -A ${p}) && [ -z "$l" ] && echo empty=yes\ntrue`;
}

export function parseDirStat(text: string): DirStat {
  const st: DirStat = parseStat(text);
  if (keyValues(text).get('empty') === 'yes') st.empty = true;
  return st;
}
