// unattended_upgrades: automatic upgrades of security updates only, as two
// apt.conf.d files. apt.conf lists ADD UP across files, so the package's own
// 50unattended-upgrades (which also allows the release pocket, and on Ubuntu
// sets Allowed-Origins) would widen any list written after it; our file sorts
// after it and `#clear`s those lists first, so the lists are exactly ours.
// Each file is checked with apt-config before it is swapped in: a syntax
// error in apt.conf.d would break every apt command on the host.

import type { ResourceType } from '../core/resource.js';
import type { UnattendedUpgradesSpec } from '../generated/index.js';
import type { FileFacts } from './file.js';
import { managedFileChanges, managedFileQuery, managedFileRemovals, removeFiles, writeChangedFiles, type ManagedFile } from './lib/managed-file.js';

export const ORIGINS_PATH = '/etc/apt/apt.conf.d/50unattended-upgrades-converge';
export const PERIODIC_PATH = '/etc/apt/apt.conf.d/20auto-upgrades';

/**
 * The security archives of both distributions. unattended-upgrade fills in
 * ${distro_id} and ${distro_codename}, and each pattern matches only its own
 * distribution (Debian's security Release files carry label Debian-Security,
 * Ubuntu's have archive CODENAME-security), so one default is right on
 * either, and the file does not depend on the host.
 */
export const DEFAULT_ORIGINS = [
  // Debian 11 and later (codename bookworm-security), then Debian 10 and earlier.
  'origin=${distro_id},codename=${distro_codename}-security,label=Debian-Security',
  'origin=${distro_id},codename=${distro_codename},label=Debian-Security',
  // Ubuntu, and its ESM security archives (Ubuntu Pro), as Ubuntu's own default has them.
  'origin=${distro_id},archive=${distro_codename}-security',
  'origin=${distro_id}ESMApps,archive=${distro_codename}-apps-security',
  'origin=${distro_id}ESM,archive=${distro_codename}-infra-security',
];

const HEADER = '// Managed by converge (unattended_upgrades): changes made here are overwritten.';
const list = (name: string, items: string[]) => [`Unattended-Upgrade::${name} {`, ...items.map((i) => `  "${i}";`), '};'];

export function renderOrigins(spec: UnattendedUpgradesSpec): string {
  return [
    HEADER,
    '#clear Unattended-Upgrade::Origins-Pattern;',
    '#clear Unattended-Upgrade::Allowed-Origins;',
    '#clear Unattended-Upgrade::Package-Blacklist;',
    ...list('Origins-Pattern', spec.origins ?? DEFAULT_ORIGINS),
    ...list('Package-Blacklist', spec.blacklist ?? []),
    '',
  ].join('\n');
}

export function renderPeriodic(spec: UnattendedUpgradesSpec): string {
  return [
    HEADER,
    `APT::Periodic::Update-Package-Lists "${spec.update_package_lists ?? 1}";`,
    `APT::Periodic::Unattended-Upgrade "${spec.unattended_upgrade ?? 1}";`,
    `APT::Periodic::AutocleanInterval "${spec.autoclean_interval ?? 7}";`,
    '',
  ].join('\n');
}

function files(spec: UnattendedUpgradesSpec): ManagedFile[] {
  // apt-config reads the candidate after the host's configuration and fails on a syntax error.
  const validate = 'apt-config -c "$tmp" dump >/dev/null';
  return [
    { label: 'origins', path: ORIGINS_PATH, content: renderOrigins(spec), mode: '0644', validate },
    { label: 'periodic', path: PERIODIC_PATH, content: renderPeriodic(spec), mode: '0644', validate },
  ];
}

export const unattendedUpgrades: ResourceType<UnattendedUpgradesSpec, { origins: FileFacts; periodic: FileFacts }> = {
  kind: 'unattended_upgrades',
  // One configuration per host.
  id: () => 'unattended_upgrades',
  implicitAfter: () => ['package:unattended-upgrades'],

  facts(spec) {
    const [origins, periodic] = files(spec);
    return { origins: managedFileQuery(origins), periodic: managedFileQuery(periodic) };
  },

  plan(spec, facts) {
    const fs = files(spec);
    const stats = [facts.origins, facts.periodic];
    if (spec.ensure === 'absent') return managedFileRemovals(fs, stats);
    return fs.flatMap((f, i) => managedFileChanges(f, stats[i]));
  },

  async apply(spec, changes, _facts, ctx) {
    const fs = files(spec);
    if (spec.ensure === 'absent') return removeFiles(fs, ctx, 'removing the unattended-upgrades configuration');
    await writeChangedFiles(fs, changes, ctx);
  },
};
