import { describe, expect, it } from 'vitest';
import { recorder, unread } from '../../test/unit/apply-recorder.js';
import { planInput } from '../../test/support/fixtures.js';
import { planCtx } from '../../test/unit/fixtures.js';
import { parseFileFacts, sha256 } from './file.js';
import { DEFAULT_ORIGINS, renderOrigins, renderPeriodic, unattendedUpgrades } from './unattended-upgrades.js';

/** A host with the package's 20auto-upgrades and no file of ours (test/fixtures/unattended_upgrades/from_package.json). */
const fromPackage = () => planInput(unattendedUpgrades, 'from_package').facts;
const same = (content: string) => parseFileFacts(`type=file\nowner=root\ngroup=root\nmode=644\nsize=${content.length}\nsha256=${sha256(content)}\n`);

describe('unattended_upgrades files', () => {
  it('replace (#clear) the lists of the package defaults with security origins and the blacklist', () => {
    const text = renderOrigins({ blacklist: ['salt-.*', 'postgresql-15'] });
    expect(text).toMatch(/^#clear Unattended-Upgrade::Origins-Pattern;\n#clear Unattended-Upgrade::Allowed-Origins;\n#clear Unattended-Upgrade::Package-Blacklist;$/m);
    expect(text).toContain('Unattended-Upgrade::Package-Blacklist {\n  "salt-.*";\n  "postgresql-15";\n};\n');
    expect(text).toContain('  "origin=${distro_id},codename=${distro_codename}-security,label=Debian-Security";\n');
    // Security archives only: no pattern allows the release or -updates archives of either distribution.
    for (const o of DEFAULT_ORIGINS) expect(o).toMatch(/security|label=Debian-Security/);
    expect(renderOrigins({ origins: ['origin=Ubuntu,archive=${distro_codename}-security'] })).toContain('Origins-Pattern {\n  "origin=Ubuntu,archive=${distro_codename}-security";\n};');
  });
  it('set the periodic apt settings, with defaults', () => {
    expect(renderPeriodic({ autoclean_interval: 14 })).toContain('APT::Periodic::Update-Package-Lists "1";\nAPT::Periodic::Unattended-Upgrade "1";\nAPT::Periodic::AutocleanInterval "14";\n');
  });
  it('are written only when they differ, each checked with apt-config before it replaces the old one', async () => {
    const rec = recorder();
    await unattendedUpgrades.apply({}, [{ path: 'origins', action: 'create' }], unread(), rec.ctx);
    expect(rec.commands).toHaveLength(1);
    expect(rec.commands[0].stdin).toBe(renderOrigins({}));
    expect(rec.scripts()[0]).toContain('p=/etc/apt/apt.conf.d/50unattended-upgrades-converge');
    expect(rec.scripts()[0]).toContain('apt-config -c "$tmp" dump >/dev/null');
  });
});

describe('unattended_upgrades plan', () => {
  const spec = { blacklist: ['salt-.*'] };
  it('on a host with the package defaults: creates our file, rewrites 20auto-upgrades with a diff', () => {
    const changes = unattendedUpgrades.plan(spec, fromPackage(), planCtx());
    expect(changes.map((c) => [c.path, c.action])).toEqual([
      ['origins', 'create'],
      ['periodic', 'update'],
    ]);
    expect(changes[1].diff).toContain('+APT::Periodic::AutocleanInterval "7";');
  });
  it('is empty when both files match', () => {
    expect(unattendedUpgrades.plan(spec, { origins: same(renderOrigins(spec)), periodic: same(renderPeriodic(spec)) }, planCtx())).toEqual([]);
  });
  it('absent removes the files that exist', () => {
    expect(unattendedUpgrades.plan({ ensure: 'absent' }, fromPackage(), planCtx())).toEqual([{ path: 'periodic', action: 'delete', before: 'file' }]);
  });
});
