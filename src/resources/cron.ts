// cron: one job in its own file, /etc/cron.d/<name>, owned by root, 0644,
// with the user field. A file of its own rather than a line in the user's
// crontab: it is written atomically like any file (no `crontab -e` race,
// no other job touched), cron picks it up without a reload, and removing
// the job removes the file. So cron is a file part.

import type { ResourceType } from '../core/resource.js';
import type { CronSpec } from '../generated/index.js';
import { planParts, partFacts, applyParts, type Part } from './lib/parts.js';
import { file } from './file.js';

export const cronPath = (name: string) => `/etc/cron.d/${name}`;

/** Pure: the cron.d file holding the job. */
export function cronFile(spec: CronSpec): string {
  const when = spec.special ?? [spec.minute, spec.hour, spec.day, spec.month, spec.weekday].map((f) => f ?? '*').join(' ');
  return [
    `# Managed by converge (cron ${spec.name}): edits here are overwritten.`,
    ...Object.entries(spec.env ?? {}).map(([k, v]) => `${k}=${v}`),
    ...(spec.comment ? [`# ${spec.comment}`] : []),
    `${when} ${spec.user ?? 'root'} ${spec.command}`,
    '',
  ].join('\n');
}

const parts = (spec: CronSpec): Part[] => [
  {
    name: 'file',
    type: file,
    spec: spec.ensure === 'absent' ? { path: cronPath(spec.name), ensure: 'absent' } : { path: cronPath(spec.name), content: cronFile(spec), owner: 'root', group: 'root', mode: '0644' },
  },
];

export const cron: ResourceType<CronSpec> = {
  kind: 'cron',
  id: (spec) => `cron:${spec.name}`,
  managedPaths: (spec) => (spec.ensure === 'absent' ? [] : [cronPath(spec.name)]),
  implicitAfter: (spec) => ['package:cron', 'directory:/etc/cron.d', `user:${spec.user ?? 'root'}`],
  facts: (spec, ctx) => partFacts(parts(spec), ctx),
  plan: (spec, facts, ctx) => planParts(parts(spec), facts, ctx),
  async apply(spec, _changes, facts, ctx) {
    await applyParts(parts(spec), facts, ctx);
  },
};
