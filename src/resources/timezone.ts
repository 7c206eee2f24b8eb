// timezone: what Debian's tzdata does, as two parts: /etc/localtime a
// symlink to the zone's file, and /etc/timezone naming it. Done with files
// rather than timedatectl, which works only where systemd-timedated and
// D-Bus run, and does not write /etc/timezone.

import { HostError } from '../core/diagnostics.js';
import type { ResourceType } from '../core/resource.js';
import { shq } from '../core/shell.js';
import type { TimezoneSpec } from '../generated/index.js';
import { file } from './file.js';
import { applyParts, partFacts, planParts, type Part } from './lib/parts.js';
import { symlink } from './symlink.js';

export const zoneFile = (name: string) => `/usr/share/zoneinfo/${name}`;

const parts = (spec: TimezoneSpec): Part[] => [
  // force: a copied zone file (what some images ship) is replaced by the link.
  { name: 'localtime', type: symlink, label: '/etc/localtime', spec: { path: '/etc/localtime', target: zoneFile(spec.name), force: true } },
  { name: 'timezone', type: file, label: '/etc/timezone', spec: { path: '/etc/timezone', content: `${spec.name}\n` } },
];

export const timezone: ResourceType<TimezoneSpec> = {
  kind: 'timezone',
  // One per host, whatever the zone.
  id: () => 'timezone:system',
  implicitAfter: () => ['package:tzdata'],

  facts: (spec, ctx) => ({
    zone: { key: `zoneinfo:${spec.name}`, script: `[ -f ${shq(zoneFile(spec.name))} ] && echo present || echo absent`, parse: (out) => out.trim() === 'present' },
    ...partFacts(parts(spec), ctx),
  }),

  plan(spec, facts, ctx) {
    if (!facts.zone) throw new HostError(`unknown time zone ${spec.name}: ${zoneFile(spec.name)} does not exist`, 'check the name (e.g. Europe/Paris), and that tzdata is installed (package: { name: tzdata })');
    return planParts(parts(spec), facts, ctx);
  },

  async apply(spec, _changes, facts, ctx) {
    await applyParts(parts(spec), facts, ctx);
  },
};
