// file_tree: a directory tree copied from the state tree (Salt's
// file.recurse, Puppet's recurse => true), with owner, group and a mode for
// directories and one for files. The source is read on the controller at
// compile; one fact query lists the host's tree and hashes the files the
// source has (fetching a changed text file's content for the diff), so a
// converged tree costs one listing, never a transfer. Apply sends every
// changed file in one exec (their bytes one after another on stdin), each
// written to a temp file beside it and renamed into place, so no reader
// sees half a file; entries are made parents first and removed (clean)
// last.

import { readdirSync, readFileSync, lstatSync } from 'node:fs';
import { join, posix } from 'node:path';
import { minimatch } from 'minimatch';
import { errorMessage, HostError, InputError } from '../core/diagnostics.js';
import type { Change, CompileContext, FactQuery, ResourceType } from '../core/resource.js';
import { shq } from '../core/shell.js';
import type { FileTreeSpec } from '../generated/index.js';
import { MAX_FETCH_BYTES, sha256, SourceContent, sourcePath, textDiff } from './file.js';
import { metadataChanges, metadataScript, pathImplicitAfter } from './lib/fs-common.js';

/** One entry of the source, relative to its top ("notes/views.py"); a directory has no content. */
export interface SourceEntry {
  rel: string;
  content?: SourceContent;
}

/** The spec after resolve(): the source read into its entries, parents first (an internal field, not part of the schema). */
export type ResolvedFileTreeSpec = FileTreeSpec & { entries?: SourceEntry[] };

export interface TreeEntry {
  type: 'directory' | 'file' | 'link' | 'other';
  mode: number;
  owner: string;
  group: string;
  sha256?: string;
  /** A changed text file's current content, for the diff. */
  content?: Buffer;
}

export interface TreeFacts {
  /** What is at the top path: nothing, a directory, or something else (a file, a symlink). */
  top: 'absent' | 'directory' | 'other';
  /** Everything under the top, by relative path; the top itself is "". */
  entries: Record<string, TreeEntry>;
}

const DEFAULT_DIR_MODE = '0755';
const DEFAULT_FILE_MODE = '0644';

/** Names the listing and the fact query's manifest could not carry (they are split on tabs and newlines). */
const UNSAFE_NAME = /[\t\n\r\\]/;

function isExcluded(rel: string, patterns: string[]): boolean {
  const parts = rel.split('/');
  // An excluded directory excludes everything in it.
  for (let i = 1; i <= parts.length; i++) {
    const p = parts.slice(0, i).join('/');
    if (patterns.some((pat) => minimatch(p, pat, { dot: true, matchBase: !pat.includes('/') }))) return true;
  }
  return false;
}

/** The source directory's entries, parents before children, sorted by name; symlinks and odd names are input errors. */
function readSourceTree(spec: FileTreeSpec, ctx: CompileContext): SourceEntry[] {
  const top = sourcePath(spec.source, ctx, 'app/demo');
  const out: SourceEntry[] = [];
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      if (isExcluded(r, spec.exclude ?? [])) continue;
      const full = join(dir, name);
      const st = lstatSync(full);
      if (UNSAFE_NAME.test(name)) throw new InputError({ message: `source "${spec.source}" holds a name with a tab, newline or backslash: ${JSON.stringify(r)}`, where: ctx.where, hint: 'rename it, or exclude it' });
      if (st.isDirectory()) {
        out.push({ rel: r });
        walk(full, r);
      } else if (st.isFile()) out.push({ rel: r, content: new SourceContent(readFileSync(full)) });
      else throw new InputError({ message: `source "${spec.source}" holds ${r}, which is not a file or directory (symlinks are not copied)`, where: ctx.where, hint: 'replace it by the file it points to, or exclude it' });
    }
  };
  try {
    if (!lstatSync(top).isDirectory()) throw new Error('not a directory');
    walk(top, '');
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError({ message: `cannot read source directory "${spec.source}": ${errorMessage(e)}`, where: ctx.where, hint: `put the tree at ${top}` });
  }
  return out;
}

/**
 * Lists the tree (type, mode, owner, group, path) and hashes each file the
 * source has, printing a text file's content when its hash differs from the
 * wanted one (`fetch` set) and it is not too large.
 */
export function treeFactQuery(path: string, entries: SourceEntry[], fetch: boolean): FactQuery<TreeFacts> {
  const manifest = entries
    .filter((e) => e.content)
    .map((e) => `${e.content!.sha256}\t${fetch && e.content!.isText ? 1 : 0}\t${e.rel}`)
    .join('\n');
  const p = shq(path);
  const script = [
    `if [ -L ${p} ] || { [ -e ${p} ] && [ ! -d ${p} ]; }; then echo top=other; exit 0; fi`,
    `[ -d ${p} ] || { echo top=absent; exit 0; }`,
    `cd ${p}`,
    'echo top=directory',
    "find . -printf 'e\\t%y\\t%m\\t%u\\t%g\\t%P\\n'",
    ...(manifest
      ? [
          "while IFS=$(printf '\\t') read -r want fetch rel; do",
          '  { [ -f "$rel" ] && [ ! -L "$rel" ]; } || continue',
          '  h=$(sha256sum < "$rel" | cut -c1-64)',
          "  printf 's\\t%s\\t%s\\n' \"$h\" \"$rel\"",
          `  if [ "$fetch" = 1 ] && [ "$h" != "$want" ] && [ "$(stat -c %s "$rel")" -le ${MAX_FETCH_BYTES} ]; then printf 'c\\t%s\\t' "$rel"; base64 -w0 < "$rel"; echo; fi`,
          "done <<'CONVERGE_TREE'",
          manifest,
          'CONVERGE_TREE',
        ]
      : []),
  ].join('\n');
  return { key: `file_tree:${path}:${sha256(manifest)}:${fetch}`, script, parse: parseTreeFacts };
}

const TYPES: Record<string, TreeEntry['type']> = { d: 'directory', f: 'file', l: 'link' };

export function parseTreeFacts(out: string): TreeFacts {
  const lines = out.split('\n');
  const top = lines[0]?.startsWith('top=') ? (lines[0].slice(4) as TreeFacts['top']) : 'absent';
  const entries: Record<string, TreeEntry> = {};
  for (const line of lines.slice(1)) {
    const f = line.split('\t');
    if (f[0] === 'e' && f.length >= 6) {
      entries[f.slice(5).join('\t')] = { type: TYPES[f[1]] ?? 'other', mode: parseInt(f[2], 8), owner: f[3], group: f[4] };
    } else if (f[0] === 's' && entries[f[2]]) entries[f[2]].sha256 = f[1];
    else if (f[0] === 'c' && entries[f[1]]) entries[f[1]].content = Buffer.from(f[2] ?? '', 'base64');
  }
  return { top, entries };
}

/** owner/group/mode changes of one entry (paths "owner:REL"..., or "owner"... for the top). */
function entryMetadata(spec: FileTreeSpec, e: TreeEntry, mode: string, name: string): Change[] {
  return metadataChanges({ owner: spec.owner, group: spec.group, mode }, e).map((c) => (name ? { ...c, path: `${c.path}:${name}` } : c));
}

/** A file's content change (its path filled in by the caller), or undefined when the hashes match. */
function fileChange(where: string, want: SourceContent, have: TreeEntry | undefined, sensitive: boolean): Omit<Change, 'path'> | undefined {
  if (have?.sha256 === want.sha256) return undefined;
  const before = have ? have.content : Buffer.alloc(0);
  const diff = sensitive || !before ? undefined : textDiff(where, before, want.bytes, !have);
  return {
    action: have ? 'update' : 'create',
    ...(have?.sha256 ? { before: `sha256:${have.sha256}` } : {}),
    after: `sha256:${want.sha256}`,
    ...(sensitive ? { sensitive } : {}),
    ...(diff ? { diff } : {}),
  };
}

/** Entries on the host that the source does not have, outermost only (removing a directory removes what is in it). */
function strays(spec: ResolvedFileTreeSpec, facts: TreeFacts): string[] {
  const wanted = new Set((spec.entries ?? []).map((e) => e.rel));
  const out: string[] = [];
  for (const rel of Object.keys(facts.entries).sort()) {
    if (!rel || wanted.has(rel) || isExcluded(rel, spec.exclude ?? [])) continue;
    if (out.some((o) => rel.startsWith(`${o}/`))) continue;
    out.push(rel);
  }
  return out;
}

export const fileTree: ResourceType<ResolvedFileTreeSpec, { tree: TreeFacts }> = {
  kind: 'file_tree',
  id: (spec) => `file_tree:${spec.path.replace(/\/+$/, '') || '/'}`,
  managedPaths: (spec) => [spec.path, ...(spec.entries ?? []).map((e) => `${spec.path.replace(/\/+$/, '')}/${e.rel}`)],
  implicitAfter: (spec) => pathImplicitAfter(spec.path, spec),

  resolve: (spec, ctx) => ({ ...spec, entries: readSourceTree(spec, ctx) }),

  facts: (spec, ctx) => ({ tree: treeFactQuery(spec.path, spec.entries ?? [], !ctx.sensitive && !spec.sensitive) }),

  plan(spec, facts, ctx) {
    const { tree } = facts;
    if (tree.top === 'other') throw new HostError(`${spec.path} is not a directory`, 'remove it by hand or manage that path with the matching resource type');
    const sensitive = ctx.sensitive || !!spec.sensitive;
    const dirMode = spec.dir_mode ?? DEFAULT_DIR_MODE;
    const fileMode = spec.file_mode ?? DEFAULT_FILE_MODE;
    const changes: Change[] = [];
    const root = tree.entries[''];
    if (tree.top === 'absent' || !root) changes.push({ path: 'directory', action: 'create', after: spec.path });
    else changes.push(...entryMetadata(spec, root, dirMode, ''));
    for (const e of spec.entries ?? []) {
      const have = tree.entries[e.rel];
      const where = `${spec.path.replace(/\/+$/, '')}/${e.rel}`;
      if (!e.content) {
        if (!have) changes.push({ path: `entry:${e.rel}`, action: 'create', after: 'directory' });
        else if (have.type !== 'directory') throw new HostError(`${where} is a ${have.type}, not a directory`, 'remove it by hand, then converge again');
        else changes.push(...entryMetadata(spec, have, dirMode, e.rel));
        continue;
      }
      if (have?.type === 'directory' || have?.type === 'other') throw new HostError(`${where} is a ${have.type}, not a file`, 'remove it by hand, then converge again');
      if (have?.type === 'link') {
        changes.push({ path: `entry:${e.rel}`, action: 'replace', before: 'symlink', after: `sha256:${e.content.sha256}` });
        continue;
      }
      const c = fileChange(where, e.content, have, sensitive);
      if (c) changes.push({ ...c, path: have ? `content:${e.rel}` : `entry:${e.rel}` });
      if (have) changes.push(...entryMetadata(spec, have, fileMode, e.rel));
    }
    if (spec.clean) for (const rel of strays(spec, tree)) changes.push({ path: `entry:${rel}`, action: 'delete', before: tree.entries[rel].type });
    return changes;
  },

  async apply(spec, changes, _facts, ctx) {
    const dirMeta = { owner: spec.owner, group: spec.group, mode: spec.dir_mode ?? DEFAULT_DIR_MODE };
    const fileMeta = { owner: spec.owner, group: spec.group, mode: spec.file_mode ?? DEFAULT_FILE_MODE };
    const byRel = new Map((spec.entries ?? []).map((e) => [e.rel, e]));
    const touched = (prefix: string) => new Set(changes.filter((c) => c.path.startsWith(prefix)).map((c) => c.path.slice(prefix.length)));
    const entryChanges = new Map(changes.filter((c) => c.path.startsWith('entry:')).map((c) => [c.path.slice('entry:'.length), c.action]));
    const content = touched('content:');
    const meta = new Set([...touched('owner:'), ...touched('group:'), ...touched('mode:')]);
    const lines = ['set -e', `p=${shq(spec.path)}`, 'if [ -L "$p" ]; then echo "$p is a symlink: not writing a tree through it" >&2; exit 3; fi', 'mkdir -p "$p"', 'cd "$p"'];
    lines.push("tmp=; trap 'rm -f \"$tmp\"' EXIT", "trap 'exit 1' HUP INT PIPE TERM", metadataScript(dirMeta, '.'));
    const stdin: Buffer[] = [];
    for (const e of spec.entries ?? []) {
      const q = shq(`./${e.rel}`);
      const entry = entryChanges.get(e.rel);
      if (!e.content) {
        if (entry === 'create') lines.push(`mkdir ${q}`, metadataScript(dirMeta, q));
        else if (meta.has(e.rel)) lines.push(metadataScript(dirMeta, q));
      } else if (entry === 'create' || entry === 'replace' || content.has(e.rel)) {
        // Written beside its place and renamed in (mv -T replaces a symlink there, never follows it).
        stdin.push(e.content.bytes);
        lines.push(
          `tmp=$(mktemp ${shq(`./${posix.dirname(e.rel)}/.converge-XXXXXXXX`)})`,
          `head -c ${e.content.bytes.length} > "$tmp"`,
          `[ "$(sha256sum < "$tmp" | cut -c1-64)" = ${e.content.sha256} ] || { echo ${shq(`${e.rel}: the content arrived incomplete, old file kept`)} >&2; exit 3; }`,
          metadataScript(fileMeta, '"$tmp"'),
          `mv -fT "$tmp" ${q}`,
          'tmp=',
        );
      } else if (meta.has(e.rel)) lines.push(metadataScript(fileMeta, q));
    }
    for (const [rel, action] of entryChanges) if (action === 'delete' && !byRel.has(rel)) lines.push(`rm -rf ${shq(`./${rel}`)}`);
    await ctx.run({ script: lines.filter(Boolean).join('\n'), stdin: stdin.length ? Buffer.concat(stdin) : undefined }, `copying ${spec.source} to ${spec.path}`);
  },
};
