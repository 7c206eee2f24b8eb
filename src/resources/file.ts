// file: content (inline or from a template), owner, group, mode. The new
// content goes to a temp file in the same directory, is validated there,
// and is renamed over the old file, so no reader ever sees half a file.

import { createHash } from 'node:crypto';
import { createTwoFilesPatch } from 'diff';
import { HostError } from '../core/diagnostics.js';
import type { Change, ResourceType } from '../core/resource.js';
import { shq } from '../core/shell.js';
import type { FileSpec } from '../generated/index.js';
import { atomicWriteScript } from './atomic-write.js';
import { keyValues, metadataChanges, metadataScript, parseStat, pathImplicitAfter, statScript, type PathStat } from './fs-common.js';

/** Content larger than this is compared by hash only, never fetched for a diff. */
const MAX_DIFF_BYTES = 256 * 1024;

export interface FileFacts extends PathStat {
  sha256?: string;
  /** Current content, fetched only when it differs from the desired one and may be shown. */
  content?: Buffer;
}

export const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

/**
 * Read-only: stat, hash, and the current content only when its hash differs
 * from `desired` (so a converged file costs a hash, not a download).
 */
export function fileFactScript(path: string, desired: string | undefined, fetchContent: boolean): string {
  const p = shq(path);
  const lines = [statScript(path), `if [ -f ${p} ] && [ ! -L ${p} ]; then h=$(sha256sum < ${p} | cut -d' ' -f1); echo "sha256=$h"`];
  if (fetchContent && desired) {
    lines.push(`  if [ "$h" != ${desired} ] && [ "$(stat -c %s ${p})" -le ${MAX_DIFF_BYTES} ]; then echo content; base64 < ${p}; fi`);
  }
  lines.push('fi');
  return lines.join('\n');
}

export function parseFileFacts(text: string): FileFacts {
  const [head, b64] = text.split(/^content$/m);
  const facts: FileFacts = parseStat(head);
  const kv = keyValues(head);
  if (kv.has('sha256')) facts.sha256 = kv.get('sha256');
  if (b64 !== undefined) facts.content = Buffer.from(b64.replace(/\s+/g, ''), 'base64');
  return facts;
}

const isText = (b: Buffer) => !b.includes(0) && Buffer.from(b.toString('utf8'), 'utf8').equals(b);

function contentChange(spec: FileSpec, facts: FileFacts, sensitive: boolean): Change | undefined {
  if (spec.content === undefined) return undefined;
  const after = sha256(spec.content);
  if (facts.type === 'file' && facts.sha256 === after) return undefined;
  const action = facts.type === 'absent' ? 'create' : 'update';
  const change: Change = { path: 'content', action, before: facts.sha256 ? `sha256:${facts.sha256}` : undefined, after: `sha256:${after}` };
  if (sensitive) return { ...change, sensitive: true };
  const before = action === 'create' ? '' : facts.content;
  if (before !== undefined && isText(Buffer.from(before)) && isText(Buffer.from(spec.content))) {
    change.diff = createTwoFilesPatch(action === 'create' ? '/dev/null' : spec.path, spec.path, before.toString(), spec.content, undefined, undefined, { context: 3 }).replace(/\t$/gm, '');
  }
  return change;
}

export const file: ResourceType<FileSpec> = {
  kind: 'file',
  id: (spec) => `file:${spec.path}`,
  implicitAfter: (spec) => pathImplicitAfter(spec.path, spec),

  resolve(spec, ctx) {
    if (spec.template === undefined) return spec;
    const { template, context, ...rest } = spec;
    return { ...rest, content: ctx.renderTemplate(template, context ?? {}) };
  },

  facts: (spec, ctx) => ({
    file: {
      key: `file:${spec.path}:${spec.content === undefined ? '' : sha256(spec.content)}:${ctx.sensitive}`,
      script: fileFactScript(spec.path, spec.content === undefined ? undefined : sha256(spec.content), !ctx.sensitive),
      parse: parseFileFacts,
    },
  }),

  plan(spec, facts, ctx) {
    const f = facts.file as FileFacts;
    if (spec.ensure === 'absent') return f.type === 'absent' ? [] : [{ path: 'file', action: 'delete', before: f.type }];
    if (f.type === 'directory' || f.type === 'other') {
      throw new HostError(`${spec.path} is a ${f.type}, not a file`, 'remove it by hand or manage that path with the matching resource type');
    }
    if (f.type === 'absent' && spec.content === undefined) return [{ path: 'file', action: 'create', after: 'empty file' }];
    const changes: Change[] = [];
    if (f.type === 'link') changes.push({ path: 'file', action: 'replace', before: 'symlink', after: 'file' });
    const c = contentChange(spec, f.type === 'link' ? { type: 'absent' } : f, ctx.sensitive || !!spec.sensitive);
    if (c) changes.push(c);
    changes.push(...metadataChanges(spec, f.type === 'link' ? { type: 'absent' } : f));
    return changes;
  },

  async apply(spec, changes, _facts, ctx) {
    const p = shq(spec.path);
    if (spec.ensure === 'absent') {
      await ctx.run({ script: `rm -f ${p}` }, `removing ${spec.path}`);
      return;
    }
    const rewrite = changes.some((c) => c.path === 'content' || c.path === 'file');
    if (!rewrite) {
      await ctx.run({ script: `set -e\n${metadataScript(spec, p)}` }, `setting owner/mode of ${spec.path}`);
      return;
    }
    const script = atomicWriteScript({
      path: p,
      metadata: [
        // Unmanaged metadata is kept from the old file; a new file gets 0644.
        'if [ -f "$p" ] && [ ! -L "$p" ]; then chown --reference="$p" "$tmp"; chmod --reference="$p" "$tmp"; else chmod 0644 "$tmp"; fi',
        metadataScript(spec, '"$tmp"'),
      ]
        .filter(Boolean)
        .join('\n'),
      validate: spec.validate ? spec.validate.split('%s').join('"$tmp"') : undefined,
      backup: spec.backup,
      sha256: sha256(spec.content ?? ''),
    });
    await ctx.run({ script, stdin: spec.content ?? '' }, `writing ${spec.path}`);
  },
};
