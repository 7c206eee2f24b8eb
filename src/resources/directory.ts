// directory: exists (parents too) with owner, group, mode; or is absent.
// Exclusive, it also holds only declared entries (exclusive-dir.ts).

import { HostError } from '../core/diagnostics.js';
import type { Change, ResourceType } from '../core/resource.js';
import { shq } from '../core/shell.js';
import type { DirectorySpec } from '../generated/index.js';
import { removeUnmanagedScript, unmanagedChanges, unmanagedQuery, type ExclusiveSpec, type Unmanaged } from './lib/exclusive-dir.js';
import { runStep, runSteps, type Step } from './lib/steps.js';
import { metadataChanges, metadataScript, pathImplicitAfter, statQuery, type PathStat } from './lib/fs-common.js';

/** `managed` is filled in at compile from the host's other resources (state/exclusive.ts). */
type Spec = DirectorySpec & ExclusiveSpec;

const exclusive = (spec: Spec) => spec.exclusive && spec.ensure !== 'absent';

/** The one script that makes the directory match: remove it, or make it with its owner and mode (and move undeclared entries out). */
function directoryStep(spec: Spec, changes: Change[]): Step {
  const p = shq(spec.path);
  if (spec.ensure === 'absent') return { script: `rm -rf ${p}`, purpose: `removing ${spec.path}` };
  const make = `set -e\nmkdir -p ${p}\n${metadataScript(spec, p)}`;
  const unmanaged = changes.filter((c) => c.path.startsWith('entry:')).map((c) => c.path.slice('entry:'.length));
  if (!unmanaged.length) return { script: make, purpose: `creating ${spec.path}` };
  return { script: `${make}\n${removeUnmanagedScript(spec.path, unmanaged)}`, purpose: `creating ${spec.path} and moving entries nobody declared out of it` };
}

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

  apply: (spec, changes, _facts, ctx) => runStep(directoryStep(spec, changes), ctx),
  // A project's tree of directories is made in one exec for all that are ready.
  group: 'directory',
  together: 'made in one exec',
  applyGroup: (items, ctx) => runSteps(items.map((i) => directoryStep(i.spec, i.changes)), ctx),
};
