// file: content (inline, rendered from a template, or copied byte for byte
// from the state tree by `source`), owner, group, mode. Written by
// atomicWriteScript: a temp file in the same directory, validated, then
// renamed over the old file, so no reader ever sees half a file.

import { hash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, relative, resolve as resolvePath, sep } from 'node:path';
import { createTwoFilesPatch } from 'diff';
import { errorMessage, HostError, InputError } from '../core/diagnostics.js';
import type { Change, CompileContext, FactQuery, ResourceType } from '../core/resource.js';
import { flat, shq } from '../core/shell.js';
import type { FileSpec } from '../generated/index.js';
import { atomicWriteScript, keptMetadata } from './lib/atomic-write.js';
import { runStep, runSteps, type Step } from './lib/steps.js';
import { eachKeyValue, metadataChanges, metadataScript, pathImplicitAfter, setStatField, STAT_SH, statScript, statWordScript, type PathStat } from './lib/fs-common.js';
import { PATH_TABLES, SHA256_LOOKUP } from './lib/path-tables.js';

/** Content larger than this is compared by hash only, never fetched. */
export const MAX_FETCH_BYTES = 256 * 1024;

export interface FileFacts extends PathStat {
  sha256?: string;
  /** Current content, fetched only when asked for (see fileFactScript). */
  content?: Buffer;
}

// One-shot: a Hash object per file of every host is a native object the garbage collector must finalize.
export const sha256 = (data: string | Buffer): string => hash('sha256', data, 'hex');

/**
 * What a file must hold: its hash and text check are computed once, since
 * facts, plan and apply each need them. Inline content stays a string until
 * its bytes are needed (a diff, a write): a check of a converged fleet only
 * hashes it, and UTF-8 from a string is always valid, so it is text unless it holds a NUL.
 */
export class Content {
  private buffer?: Buffer;
  private hash?: string;
  private text?: boolean;
  constructor(private readonly data: string | Buffer) {}
  get bytes(): Buffer {
    return (this.buffer ??= typeof this.data === 'string' ? Buffer.from(this.data) : this.data);
  }
  get sha256(): string {
    return (this.hash ??= sha256(this.data));
  }
  get isText(): boolean {
    return (this.text ??= typeof this.data === 'string' ? !this.data.includes('\0') : isText(this.data));
  }
}

/** A file of the state tree, read on the controller by resolve(): its bytes go on stdin, its hash is what plans compare. */
export class SourceContent extends Content {
  /** `show`, JSON and the secret scan see the hash, never the bytes. */
  toJSON(): string {
    return `sha256:${this.sha256} (${this.bytes.length} bytes)`;
  }
}

/** The spec after resolve(): `source` read into its bytes (an internal field, not part of the schema). */
export type ResolvedFileSpec = FileSpec & { sourceContent?: SourceContent };

/** Inline content, kept on its spec: hidden (not enumerable, a symbol), so JSON, keys and copies never see it. */
const INLINE = Symbol('inline content');

/** What the file must hold, or undefined when the spec does not manage its content. */
export function desiredContent(spec: ResolvedFileSpec & { [INLINE]?: Content }): Content | undefined {
  if (spec.content === undefined) return spec.sourceContent;
  // Not a WeakMap: one entry per file of every host made the garbage collector's ephemeron table its largest cost.
  let c = spec[INLINE];
  if (!c) Object.defineProperty(spec, INLINE, { value: (c = new Content(spec.content)) });
  return c;
}

/**
 * Read-only: stat and hash and, with fetchContent, the current content (at
 * most MAX_FETCH_BYTES), but only when its hash is not `unlessSha256` (so a
 * converged file costs a hash, not a download).
 */
export function fileFactScript(path: string, unlessSha256: string | undefined, fetchContent: boolean): string {
  const differs = unlessSha256 ? `[ "$h" != ${unlessSha256} ] && ` : '';
  return fileFactLines(shq(path), statScript(path), fetchContent ? differs : undefined);
}

/**
 * fileFactScript on `p` (one sh word) after `stat`; `hash` sets h; the
 * content is fetched when `fetchIf` (an sh condition ending in &&, or '') holds.
 */
function fileFactLines(p: string, stat: string, fetchIf: string | undefined, hash = `h=$(sha256sum < ${p} | cut -d' ' -f1)`): string {
  const lines = [stat, `if [ -f ${p} ] && [ ! -L ${p} ]; then ${hash}; echo "sha256=$h"`];
  if (fetchIf !== undefined) lines.push(`  if ${fetchIf}[ "$(stat -c %s ${p})" -le ${MAX_FETCH_BYTES} ]; then echo content; base64 < ${p}; fi`);
  lines.push('fi');
  return lines.join('\n');
}

/** fileFactScript (content always fetched) for a path given as one sh word, e.g. "$(readlink -f -- /etc/default/locale)". */
export function fileFactScriptOf(word: string): string {
  return fileFactLines(word, statWordScript(word), '');
}

/** sh function `converge_file PATH [SHA256] [fetch]`: fileFactScript, for fact queries (see FactQuery.functions). */
const FILE_SH = `converge_file() {\n${fileFactLines('"$1"', 'converge_stat "$1"', '[ "$3" = fetch ] && { [ -z "$2" ] || [ "$h" != "$2" ]; } && ', SHA256_LOOKUP)}\n}`;

/** One array for every file's query (a batch defines each function once, whatever the number of files). */
const FILE_FUNCTIONS: readonly string[] = Object.freeze([STAT_SH, FILE_SH]);

/** A file resource's query key: another resource reading the same path the same way (a user's sudoers drop-in) shares its answer. */
export function fileFactKey(path: string, unlessSha256: string | undefined, fetchContent: boolean): string {
  return flat('file:', path, ':', unlessSha256 ?? '', fetchContent ? ':true' : ':false');
}

/** The fact query of fileFactScript (parseFileFacts reads it); `key` names what the caller compares. */
export function fileFactQuery(key: string, path: string, unlessSha256: string | undefined, fetchContent: boolean): FactQuery<FileFacts> {
  // The script is copied into its batch and let go: a template literal, not flat() (a key is kept while the batch is in flight).
  return { key, script: `converge_file ${shq(path)} ${unlessSha256 ?? "''"}${fetchContent ? ' fetch' : ''}`, functions: FILE_FUNCTIONS, inline: true, tables: PATH_TABLES, tableArg: path, parse: parseFileFacts };
}

export function parseFileFacts(text: string): FileFacts {
  const at = lineAt(text, 'content');
  const facts: FileFacts = { type: 'absent' };
  eachKeyValue(at < 0 ? text : text.slice(0, at), (key, value) => {
    if (!setStatField(facts, key, value) && key === 'sha256') facts.sha256 = value;
  });
  if (at >= 0) facts.content = Buffer.from(text.slice(at + 'content'.length).replace(/\s+/g, ''), 'base64');
  return facts;
}

/** Where the first line that is exactly `line` starts, or -1 (found in place: a file's facts are parsed per file per host). */
function lineAt(text: string, line: string): number {
  for (let i = text.indexOf(line); i >= 0; i = text.indexOf(line, i + 1)) {
    if ((i === 0 || text[i - 1] === '\n') && (i + line.length === text.length || text[i + line.length] === '\n')) return i;
  }
  return -1;
}

export const isText = (b: Buffer) => !b.includes(0) && Buffer.from(b.toString('utf8'), 'utf8').equals(b);

/** Unified diff of two versions of a file; undefined when either is not text (binary content shows hashes only). */
export function textDiff(path: string, before: Buffer, after: Buffer, creating: boolean): string | undefined {
  if (!isText(before) || !isText(after)) return undefined;
  return createTwoFilesPatch(creating ? '/dev/null' : path, path, before.toString(), after.toString(), undefined, undefined, { context: 3 }).replace(/\t$/gm, '');
}

/** The content change (with a unified diff unless sensitive or binary), or undefined when the hashes match. */
export function contentChange(spec: ResolvedFileSpec, facts: FileFacts, sensitive: boolean): Change | undefined {
  const desired = desiredContent(spec);
  if (desired === undefined) return undefined;
  const after = desired.sha256;
  if (facts.type === 'file' && facts.sha256 === after) return undefined;
  const action = facts.type === 'absent' ? 'create' : 'update';
  const change: Change = { path: 'content', action, before: facts.sha256 ? `sha256:${facts.sha256}` : undefined, after: `sha256:${after}` };
  if (sensitive) return { ...change, sensitive: true };
  const before = action === 'create' ? Buffer.alloc(0) : facts.content;
  const diff = before && textDiff(spec.path, before, desired.bytes, action === 'create');
  return diff ? { ...change, diff } : change;
}

/** The full path of `source` in the state tree; a path leading outside the states directory is an input error. */
export function sourcePath(source: string, ctx: CompileContext, example: string): string {
  const full = resolvePath(ctx.statesDir, source);
  const rel = relative(ctx.statesDir, full);
  if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    throw new InputError({ message: `source "${source}" is outside the states directory`, where: ctx.where, hint: `give a path relative to the states directory, e.g. ${example}` });
  }
  return full;
}

/** Reads `source` from the state tree; it must stay inside the states directory. */
function readSource(source: string, ctx: CompileContext): SourceContent {
  const full = sourcePath(source, ctx, 'files/motd');
  try {
    return new SourceContent(readFileSync(full));
  } catch (e) {
    throw new InputError({ message: `cannot read source "${source}": ${errorMessage(e)}`, where: ctx.where, hint: `put the file at ${full}` });
  }
}

/** The one script that makes the file match: remove it, set its owner and mode, or write it whole. */
function fileStep(spec: ResolvedFileSpec, changes: Change[]): Step {
  const p = shq(spec.path);
  if (spec.ensure === 'absent') return { script: `rm -f ${p}`, purpose: `removing ${spec.path}` };
  const rewrite = changes.some((c) => c.path === 'content' || c.path === 'file');
  if (!rewrite) return { script: `set -e\n${metadataScript(spec, p)}`, purpose: `setting owner/mode of ${spec.path}` };
  const content = desiredContent(spec) ?? new Content(Buffer.alloc(0));
  const script = atomicWriteScript({
    path: p,
    // Unmanaged metadata is kept from the old file.
    metadata: [keptMetadata(spec), metadataScript(spec, '"$tmp"')].filter(Boolean).join('\n'),
    validate: spec.validate?.split('%s').join('"$tmp"'),
    backup: spec.backup,
    sha256: content.sha256,
  });
  return { script, stdin: content.bytes, purpose: `writing ${spec.path}` };
}

export const file: ResourceType<ResolvedFileSpec, { file: FileFacts }> = {
  kind: 'file',
  id: (spec) => `file:${spec.path}`,
  managedPaths: (spec) => (spec.ensure === 'absent' ? [] : [spec.path]),
  implicitAfter: (spec) => pathImplicitAfter(spec.path, spec),

  resolve(spec, ctx) {
    if (spec.source !== undefined) return { ...spec, sourceContent: readSource(spec.source, ctx) };
    if (spec.template === undefined) return spec;
    const { template, context, ...rest } = spec;
    return { ...rest, content: ctx.renderTemplate(template, context ?? {}) };
  },

  facts: (spec, ctx) => {
    const want = desiredContent(spec);
    const hash = want?.sha256;
    // Content is downloaded only to show a diff: never when it is secret or binary.
    const fetch = !!want && !ctx.sensitive && !spec.sensitive && want.isText;
    return { file: fileFactQuery(fileFactKey(spec.path, hash, fetch), spec.path, hash, fetch) };
  },

  plan(spec, facts, ctx) {
    const f = facts.file;
    if (spec.ensure === 'absent') return f.type === 'absent' ? [] : [{ path: 'file', action: 'delete', before: f.type }];
    if (f.type === 'directory' || f.type === 'other') {
      throw new HostError(`${spec.path} is a ${f.type}, not a file`, 'remove it by hand or manage that path with the matching resource type');
    }
    if (f.type === 'absent' && desiredContent(spec) === undefined) return [{ path: 'file', action: 'create', after: 'empty file' }];
    const changes: Change[] = [];
    if (f.type === 'link') changes.push({ path: 'file', action: 'replace', before: 'symlink', after: 'file' });
    const current = f.type === 'link' ? { type: 'absent' as const } : f;
    const c = contentChange(spec, current, ctx.sensitive || !!spec.sensitive);
    if (c) changes.push(c);
    changes.push(...metadataChanges(spec, current));
    return changes;
  },

  apply: (spec, changes, _facts, ctx) => runStep(fileStep(spec, changes), ctx),
  // A first apply writes most of a host's files at once: one exec for all that are ready.
  group: 'file',
  together: 'written in one exec',
  applyGroup: (items, ctx) => runSteps(items.map((i) => fileStep(i.spec, i.changes)), ctx),
};
