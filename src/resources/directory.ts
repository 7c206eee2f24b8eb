// directory: exists (parents too) with owner, group, mode; or is absent.
// Exclusive, it also holds only declared entries (exclusive-dir.ts).

import { HostError } from '../core/diagnostics.js';
import type { ResourceType } from '../core/resource.js';
import { shq } from '../core/shell.js';
import type { DirectorySpec } from '../generated/index.js';
import { removeUnmanagedScript, unmanagedChanges, unmanagedQuery, type ExclusiveSpec, type Unmanaged } from './lib/exclusive-dir.js';
import { metadataChanges, metadataScript, pathImplicitAfter, statQuery, type PathStat } from './lib/fs-common.js';

/** `managed` is filled in at compile from the host's other resources (state/exclusive.ts). */
type Spec = DirectorySpec & ExclusiveSpec;

const exclusive = (spec: Spec) => spec.exclusive && spec.ensure !== 'absent';

export const directory: ResourceType<Spec, { stat: PathStat; unmanaged?: Unmanaged[] }> = {
  kind: 'directory',
  id: (spec) => `directory:${spec.path.replace(/\/+$/, '') || '/'}`,
  implicitAfter: (spec) => pathImplicitAfter(spec.path, spec),

  managedPaths: (spec) => (spec.ensure === 'absent' ? [] : [spec.path]),

  facts: (spec) => ({ stat: statQuery(spec.path), ...(exclusive(spec) ? { unmanaged: unmanagedQuery(spec) } : {}) }),

  plan(spec, facts) {
    const st = facts.stat;
    if (spec.ensure === 'absent') return st.type === 'absent' ? [] : [{ path: 'directory', action: 'delete', before: st.type }];
    if (st.type !== 'absent' && st.type !== 'directory') {
      throw new HostError(`${spec.path} is a ${st.type}, not a directory`, 'remove it by hand or manage the path as a file');
    }
    const create = st.type === 'absent' ? [{ path: 'directory', action: 'create' as const, after: spec.path }] : [];
    return [...create, ...metadataChanges(spec, st), ...(exclusive(spec) ? unmanagedChanges(spec, facts.unmanaged ?? []) : [])];
  },

  async apply(spec, changes, _facts, ctx) {
    const p = shq(spec.path);
    if (spec.ensure === 'absent') {
      await ctx.run({ script: `rm -rf ${p}` }, `removing ${spec.path}`);
      return;
    }
    await ctx.run({ script: `set -e\nmkdir -p ${p}\n${metadataScript(spec, p)}` }, `creating ${spec.path}`);
    const unmanaged = changes.filter((c) => c.path.startsWith('entry:')).map((c) => c.path.slice('entry:'.length));
    if (unmanaged.length) await ctx.run({ script: removeUnmanagedScript(spec.path, unmanaged) }, `moving entries nobody declared out of ${spec.path}`);
  },
};
