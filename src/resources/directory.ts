// directory: exists (parents too) with owner, group, mode; or is absent.

import { HostError } from '../core/diagnostics.js';
import type { ResourceType } from '../core/resource.js';
import { shq } from '../core/shell.js';
import type { DirectorySpec } from '../generated/index.js';
import { metadataChanges, metadataScript, pathImplicitAfter, statQuery, type PathStat } from './fs-common.js';

export const directory: ResourceType<DirectorySpec, { stat: PathStat }> = {
  kind: 'directory',
  id: (spec) => `directory:${spec.path.replace(/\/+$/, '') || '/'}`,
  implicitAfter: (spec) => pathImplicitAfter(spec.path, spec),

  facts: (spec) => ({ stat: statQuery(spec.path) }),

  plan(spec, facts) {
    const st = facts.stat;
    if (spec.ensure === 'absent') return st.type === 'absent' ? [] : [{ path: 'directory', action: 'delete', before: st.type }];
    if (st.type !== 'absent' && st.type !== 'directory') {
      throw new HostError(`${spec.path} is a ${st.type}, not a directory`, 'remove it by hand or manage the path as a file');
    }
    const create = st.type === 'absent' ? [{ path: 'directory', action: 'create' as const, after: spec.path }] : [];
    return [...create, ...metadataChanges(spec, st)];
  },

  async apply(spec, _changes, _facts, ctx) {
    const p = shq(spec.path);
    if (spec.ensure === 'absent') {
      await ctx.run({ script: `rm -rf ${p}` }, `removing ${spec.path}`);
      return;
    }
    await ctx.run({ script: `set -e\nmkdir -p ${p}\n${metadataScript(spec, p)}` }, `creating ${spec.path}`);
  },
};
