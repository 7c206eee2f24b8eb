// A root-owned config file whose whole content a resource renders (an apt
// .sources file and its key, an apt.conf.d snippet, a supervisor program
// section). It is the file resource's facts, content diff and atomic write,
// for resource types that manage one or more such files under their own name.

import { HostError } from '../../core/diagnostics.js';
import type { ApplyContext, Change, Command, FactQuery } from '../../core/resource.js';
import { shq } from '../../core/shell.js';
import { atomicWriteScript } from './atomic-write.js';
import { contentChange, fileFactKey, fileFactQuery, sha256, type FileFacts } from '../file.js';
import { metadataChanges, metadataScript } from './fs-common.js';

export interface ManagedFile {
  /** Names its changes: "sources", "sources.mode" ... */
  label: string;
  path: string;
  content: string;
  /** Octal mode, e.g. "0644"; the owner is always root:root. */
  mode: string;
  /** Secret content: never fetched, changes show only hashes. */
  sensitive?: boolean;
  /** No unified diff (e.g. a key block, whose diff says nothing to a reader). */
  noDiff?: boolean;
  /** sh that checks the candidate "$tmp" before it replaces the file. */
  validate?: string;
}

const meta = (f: ManagedFile) => ({ owner: 'root', group: 'root', mode: f.mode });

/** Stat and hash (and the content, when it differs and may be shown): the same query as a file resource's. */
export function managedFileQuery(f: ManagedFile): FactQuery<FileFacts> {
  const sum = sha256(f.content);
  const fetch = !f.sensitive && !f.noDiff;
  return fileFactQuery(fileFactKey(f.path, sum, fetch), f.path, sum, fetch);
}

/**
 * What differs: the content (create/update, with a diff), then owner/group/mode
 * of an existing file. A new file's metadata is implied by its creation.
 */
export function managedFileChanges(f: ManagedFile, facts: FileFacts): Change[] {
  if (facts.type === 'directory' || facts.type === 'other') {
    throw new HostError(`${f.path} is a ${facts.type}, not a file`, 'remove it by hand; converge writes this file itself');
  }
  // A symlink is replaced by a file, never written through.
  const st: FileFacts = facts.type === 'link' ? { type: 'absent' } : facts;
  const content = contentChange({ path: f.path, content: f.content }, st, !!f.sensitive);
  if (content) {
    content.path = f.label;
    if (f.noDiff) delete content.diff;
    if (content.action === 'create') return [content];
  }
  return [...(content ? [content] : []), ...metadataChanges(meta(f), st).map((c) => ({ ...c, path: `${f.label}.${c.path}` }))];
}

/** Writes the whole file (content on stdin) atomically, with its metadata, after its validation. */
function managedFileWrite(f: ManagedFile): Command {
  return { script: atomicWriteScript({ path: shq(f.path), metadata: metadataScript(meta(f), '"$tmp"'), validate: f.validate, sha256: sha256(f.content) }), stdin: f.content };
}

/** Writes those of the files that changes name (content or metadata); true when it wrote any. */
export async function writeChangedFiles(files: ManagedFile[], changes: Change[], ctx: ApplyContext): Promise<boolean> {
  const changed = files.filter((f) => changes.some((c) => c.path === f.label || c.path.startsWith(`${f.label}.`)));
  for (const f of changed) await ctx.run(managedFileWrite(f), `writing ${f.path}`);
  return changed.length > 0;
}

/** The deletions of those files that exist (ensure: absent). */
export const managedFileRemovals = (files: ManagedFile[], facts: FileFacts[]): Change[] =>
  files.flatMap((f, i) => (facts[i].type === 'absent' ? [] : [{ path: f.label, action: 'delete' as const, before: facts[i].type }]));

/** Removes the files (ensure: absent). */
export async function removeFiles(files: ManagedFile[], ctx: ApplyContext, purpose: string): Promise<void> {
  await ctx.run({ script: `rm -f ${files.map((f) => shq(f.path)).join(' ')}` }, purpose);
}
