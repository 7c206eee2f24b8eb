// group: a local group exists (with a gid) or is absent. Membership is the
// user resource's business (its `groups`), so one fact is enough here.

import type { ResourceType } from '../core/resource.js';
import { shq } from '../core/shell.js';
import type { GroupSpec } from '../generated/index.js';
import { getentMerge } from './lib/getent.js';

export interface GroupFacts {
  exists: boolean;
  gid?: number;
}

/** `getent group NAME` prints `name:x:gid:member,member` or nothing. */
export function parseGroupEntry(text: string): GroupFacts {
  const line = text.split('\n').find((l) => l.includes(':'));
  return line ? { exists: true, gid: Number(line.split(':')[2]) } : { exists: false };
}

/** "developers (gid 2000, system)": what a create will make, in one short line. */
function describe(spec: GroupSpec): string {
  const extra = [spec.gid !== undefined ? `gid ${spec.gid}` : '', spec.system ? 'system' : ''].filter(Boolean);
  return extra.length ? `${spec.name} (${extra.join(', ')})` : spec.name;
}

/** One getent for every group resource of a host. */
const GROUPS = getentMerge('group');

export const group: ResourceType<GroupSpec, { group: GroupFacts }> = {
  kind: 'group',
  id: (spec) => `group:${spec.name}`,

  facts: (spec) => ({ group: { key: `group:${spec.name}`, script: GROUPS.script([spec.name]), exitCodes: [0, 2], parse: parseGroupEntry, merge: { ...GROUPS, item: spec.name } } }),

  plan(spec, facts) {
    const g = facts.group;
    if (spec.ensure === 'absent') return g.exists ? [{ path: 'group', action: 'delete', before: spec.name }] : [];
    if (!g.exists) return [{ path: 'group', action: 'create', after: describe(spec) }];
    // `system` only picks the gid range at creation; an existing group keeps its kind.
    return spec.gid !== undefined && g.gid !== spec.gid ? [{ path: 'gid', action: 'update', before: g.gid, after: spec.gid }] : [];
  },

  async apply(spec, changes, _facts, ctx) {
    const n = shq(spec.name);
    const gid = spec.gid === undefined ? '' : ` -g ${spec.gid}`;
    if (spec.ensure === 'absent') {
      await ctx.run({ script: `groupdel ${n}` }, `removing group ${spec.name}`);
    } else if (changes.some((c) => c.path === 'group')) {
      await ctx.run({ script: `groupadd${gid}${spec.system ? ' -r' : ''} ${n}` }, `creating group ${spec.name}`);
    } else {
      await ctx.run({ script: `groupmod${gid} ${n}` }, `changing the gid of group ${spec.name}`);
    }
  },
};
