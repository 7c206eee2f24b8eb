// symlink: path -> target, with the owner/group of the link itself. A new
// or changed link is made by atomicWriteScript (a fresh link renamed over
// the path), so the path never goes missing; a file or directory in the way
// is replaced only with `force`.

import { HostError } from '../core/diagnostics.js';
import type { Change, ResourceType } from '../core/resource.js';
import { shq } from '../core/shell.js';
import type { SymlinkSpec } from '../generated/index.js';
import { atomicWriteScript } from './lib/atomic-write.js';
import { keyValues, metadataChanges, metadataScript, parseStat, pathImplicitAfter, statScript, type PathStat } from './lib/fs-common.js';

export interface LinkFacts extends PathStat {
  /** What the link points to (readlink), when the path is a link. */
  target?: string;
}

/** Read-only: the path's type and, for a link, its target and its own owner/group. */
export function symlinkFactScript(path: string): string {
  const p = shq(path);
  return [statScript(path), `if [ -L ${p} ]; then printf 'target=%s\\n' "$(readlink ${p})"; stat -c 'owner=%U\ngroup=%G' ${p}; fi`].join('\n');
}

export function parseLinkFacts(text: string): LinkFacts {
  const facts: LinkFacts = parseStat(text);
  const target = keyValues(text).get('target');
  if (target !== undefined) facts.target = target;
  return facts;
}

export const symlink: ResourceType<SymlinkSpec, { link: LinkFacts }> = {
  kind: 'symlink',
  id: (spec) => `symlink:${spec.path}`,
  managedPaths: (spec) => (spec.ensure === 'absent' ? [] : [spec.path]),
  implicitAfter: (spec) => pathImplicitAfter(spec.path, spec),

  facts: (spec) => ({ link: { key: `symlink:${spec.path}`, script: symlinkFactScript(spec.path), inline: true, parse: parseLinkFacts } }),

  plan(spec, facts) {
    const f = facts.link;
    if (f.type !== 'absent' && f.type !== 'link' && !spec.force) {
      const dir = f.type === 'directory' ? ' (the directory is removed with everything in it)' : '';
      throw new HostError(`${spec.path} is a ${f.type}, not a symlink`, `set force: true to replace it${dir}, or move it away by hand`);
    }
    if (spec.ensure === 'absent') return f.type === 'absent' ? [] : [{ path: 'symlink', action: 'delete', before: f.target ?? f.type }];
    if (f.type === 'link' && f.target === spec.target) return metadataChanges(spec, f);
    const action = f.type === 'absent' ? 'create' : f.type === 'link' ? 'update' : 'replace';
    const change: Change = { path: 'target', action, before: f.target ?? (f.type === 'absent' ? undefined : f.type), after: spec.target };
    // A new link is made, so every owner/group the spec sets is set anew.
    return [change, ...metadataChanges(spec, { type: 'absent' })];
  },

  async apply(spec, changes, facts, ctx) {
    const f = facts.link;
    const p = shq(spec.path);
    // plan() let a directory through only with force.
    const clear = f.type === 'directory' ? `rm -rf ${p}` : `rm -f ${p}`;
    if (spec.ensure === 'absent') {
      await ctx.run({ script: clear }, `removing ${spec.path}`);
      return;
    }
    if (!changes.some((c) => c.path === 'target')) {
      await ctx.run({ script: `set -e\n${metadataScript(spec, p, true)}` }, `setting the owner of ${spec.path}`);
      return;
    }
    const script = atomicWriteScript({ path: p, symlinkTo: spec.target!, metadata: metadataScript(spec, '"$tmp"', true) });
    await ctx.run({ script: f.type === 'directory' ? `${clear}\n${script}` : script }, `linking ${spec.path} to ${spec.target}`);
  },
};
