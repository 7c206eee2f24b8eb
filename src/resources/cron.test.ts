import { describe, expect, it } from 'vitest';
import { planCtx } from '../../test/unit/fixtures.js';
import { planInput } from '../../test/support/fixtures.js';
import { cron, cronFile } from './cron.js';

describe('cron file', () => {
  it('holds the env, the comment and one job line with its user', () => {
    expect(cronFile({ name: 'app', user: 'app', minute: 17, hour: 3, command: 'run', env: { MAILTO: '', PATH: '/usr/bin:/bin' }, comment: 'nightly' })).toBe(
      '# Managed by converge (cron app): edits here are overwritten.\nMAILTO=\nPATH=/usr/bin:/bin\n# nightly\n17 3 * * * app run\n',
    );
  });
  it('uses a special schedule instead of the five fields, and root by default', () => {
    expect(cronFile({ name: 'c', special: '@daily', command: 'certbot renew -q' }).split('\n')[1]).toBe('@daily root certbot renew -q');
  });
});

describe('cron plan', () => {
  it('creates /etc/cron.d/<name>, root-owned and 0644', () => {
    const { spec, facts } = planInput(cron, 'absent');
    expect(cron.plan(spec, facts, planCtx()).map((c) => [c.path, c.action, c.after])).toEqual([
      ['content', 'create', expect.stringMatching(/^sha256:/)],
      ['owner', 'create', 'root'],
      ['group', 'create', 'root'],
      ['mode', 'create', '0644'],
    ]);
  });
  it('is empty when the file is as wanted', () => {
    const { spec, facts } = planInput(cron, 'same');
    expect(cron.plan(spec, facts, planCtx())).toEqual([]);
  });
  it('shows a hand edit of the schedule as a diff', () => {
    const { spec, facts } = planInput(cron, 'edited');
    const [c, ...rest] = cron.plan(spec, facts, planCtx());
    expect(rest).toEqual([]);
    expect(c.diff).toContain('-30 4 * * * root /usr/local/bin/backup --quiet\n+30 2 * * * root /usr/local/bin/backup --quiet');
  });
  it('removes the file for ensure: absent', () => {
    const { spec, facts } = planInput(cron, 'same');
    expect(cron.plan({ ...spec, ensure: 'absent' }, facts, planCtx())).toEqual([{ path: 'file', action: 'delete', before: 'file' }]);
  });
});
