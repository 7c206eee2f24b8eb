// Python requirements, read the way pip reads them, so that pip_requirements
// can plan from a listing of what a venv has installed (`pip list
// --format=freeze`) without asking pip or an index anything:
//   - names compare by PEP 503 (lowercase, runs of - _ . are one -);
//   - versions compare by PEP 440 (1.0 == 1.0.0, 1.0rc1 < 1.0 < 1.0.post1);
//   - a requirement is satisfied when the name is installed at a version its
//     specifiers allow (none: any version).
// What cannot be decided from a name and a version (environment markers, URL
// and editable requirements, included files) is refused with a clear error
// rather than guessed, so --check never claims a venv is in sync when it
// cannot know.

import { HostError } from '../../core/diagnostics.js';

/** PEP 503 normal form: Django, django and DJANGO are one package, as are zope.interface and zope-interface. */
export const normalizeName = (name: string): string => name.replace(/[-_.]+/g, '-').toLowerCase();

export interface Requirement {
  /** As written (for the plan). */
  name: string;
  /** [operator, version] pairs, e.g. [['>=', '4.2'], ['<', '5']]; empty means any version. */
  specifiers: [string, string][];
}

interface Version {
  epoch: number;
  release: number[];
  pre?: [number, number];
  post?: number;
  dev?: number;
}

const PRE_RANK: Record<string, number> = { a: 0, alpha: 0, b: 1, beta: 1, c: 2, rc: 2, pre: 2, preview: 2 };
const VERSION_RE = /^v?(?:(\d+)!)?(\d+(?:\.\d+)*)(?:[-_.]?(alpha|a|beta|b|preview|pre|c|rc)[-_.]?(\d*))?(?:-(\d+)|[-_.]?(?:post|rev|r)[-_.]?(\d*))?(?:[-_.]?dev[-_.]?(\d*))?(?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?$/i;

/** A PEP 440 version (the local part is dropped: it never decides a comparison here), or undefined when it is not one. */
export function parseVersion(text: string): Version | undefined {
  const m = VERSION_RE.exec(text.trim());
  if (!m) return undefined;
  const num = (s: string | undefined) => (s ? Number(s) : 0);
  return {
    epoch: num(m[1]),
    release: m[2].split('.').map(Number),
    pre: m[3] ? [PRE_RANK[m[3].toLowerCase()], num(m[4])] : undefined,
    post: m[5] !== undefined || m[6] !== undefined ? num(m[5] ?? m[6]) : undefined,
    dev: m[7] !== undefined ? num(m[7]) : undefined,
  };
}

/** Element by element, missing ones as 0; equal infinities are equal. */
function compareNumbers(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** PEP 440 order: 1.0.dev1 < 1.0a1 < 1.0 < 1.0.post1, and trailing zeros do not count. */
export function compareVersions(a: Version, b: Version): number {
  // After epoch and release, the rest of packaging.version's sort key: a dev
  // release with no pre part sorts before every pre release.
  const rest = (v: Version) => [...(v.pre ?? (v.dev !== undefined && v.post === undefined ? [-Infinity, 0] : [Infinity, 0])), v.post ?? -Infinity, v.dev ?? Infinity];
  return compareNumbers([a.epoch], [b.epoch]) || compareNumbers(a.release, b.release) || compareNumbers(rest(a), rest(b));
}

/** Whether `installed` satisfies one specifier; a version that is not PEP 440 only matches === and an identical ==. */
function satisfiesOne(installed: string, op: string, wanted: string): boolean {
  if (op === '===') return installed.toLowerCase() === wanted.toLowerCase();
  const prefix = (op === '==' || op === '!=') && wanted.endsWith('.*');
  const have = parseVersion(installed);
  const want = parseVersion(prefix ? wanted.slice(0, -2) : wanted);
  if (!have || !want) return op === '==' ? installed === wanted : op === '!=' ? installed !== wanted : false;
  const cmp = compareVersions(have, want);
  const startsWith = (p: number[]) => have.epoch === want.epoch && compareNumbers(have.release.slice(0, p.length), p) === 0;
  switch (op) {
    case '==':
      return prefix ? startsWith(want.release) : cmp === 0;
    case '!=':
      return prefix ? !startsWith(want.release) : cmp !== 0;
    case '>=':
      return cmp >= 0;
    case '<=':
      return cmp <= 0;
    case '>':
      return cmp > 0;
    case '<':
      return cmp < 0;
    case '~=':
      return cmp >= 0 && want.release.length > 1 && startsWith(want.release.slice(0, -1));
    default:
      return false;
  }
}

export const satisfies = (installed: string, specifiers: [string, string][]): boolean => specifiers.every(([op, v]) => satisfiesOne(installed, op, v));

/** "==1.0", ">=4.2,<5", or "" */
export const formatSpecifiers = (specifiers: [string, string][]): string => specifiers.map(([op, v]) => op + v).join(',');

const NAME = '[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?';
const REQUIREMENT_RE = new RegExp(`^(${NAME})\\s*(?:\\[[^\\]]*\\])?\\s*(.*)$`);
const SPECIFIER_RE = /^(~=|===|==|!=|<=|>=|<|>)\s*([A-Za-z0-9_.*+!-]+)$/;

const unsupported = (line: string, where: string, why: string) =>
  new HostError(
    `${where}: "${line}" cannot be checked against the installed packages (${why})`,
    'converge compares pins (name==1.2), version ranges and bare names with what the venv has installed: write the requirement that way (pip freeze prints such lines), or install it with a guarded cmd',
  );

/** One requirement ("Django==4.2.1", "celery[redis] >=5.3, <6", "gunicorn"). */
export function parseRequirement(line: string, where: string): Requirement {
  const m = REQUIREMENT_RE.exec(line.trim());
  if (!m) throw unsupported(line, where, 'not a requirement');
  const rest = m[2].trim().replace(/^\((.*)\)$/, '$1');
  if (rest.startsWith('@')) throw unsupported(line, where, 'a URL requirement');
  if (rest.includes(';')) throw unsupported(line, where, 'an environment marker');
  const specifiers: [string, string][] = [];
  for (const part of rest ? rest.split(',') : []) {
    const s = SPECIFIER_RE.exec(part.trim());
    if (!s) throw unsupported(line, where, `"${part.trim()}" is not a version specifier`);
    specifiers.push([s[1], s[2]]);
  }
  return { name: m[1], specifiers };
}

/** Options that only tell pip where and how to install: they do not change what must be installed. */
const INCLUDES = /^(-r|--requirement|-c|--constraint|-e|--editable)(\s|=|$)/;

/**
 * A requirements file: comments, blank lines, line continuations, pip
 * options (--index-url, --hash...) are understood and skipped; included
 * files and editable installs are refused (see the header).
 */
export function parseRequirementsFile(text: string, path: string): Requirement[] {
  const out: Requirement[] = [];
  for (const raw of text.replace(/\\\r?\n/g, ' ').split(/\r?\n/)) {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (!line) continue;
    if (INCLUDES.test(line)) throw unsupported(line, path, 'an included file or an editable install');
    if (line.startsWith('-')) continue;
    // Per-requirement options (--hash=...) follow the requirement.
    out.push(parseRequirement(line.split(/\s+--?[a-z]/)[0], path));
  }
  return out;
}

/** `pip list --format=freeze`: normalized name -> installed version. */
export function parseInstalled(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(\S+?)==(\S+)$/.exec(line.trim());
    if (m) out.set(normalizeName(m[1]), m[2]);
  }
  return out;
}
