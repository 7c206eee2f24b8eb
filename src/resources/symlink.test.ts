import { describe, expect, it } from 'vitest';
import { planCtx } from '../../test/unit/fixtures.js';
import { recorder } from '../../test/unit/apply-recorder.js';
import { planInput, scenario } from '../../test/support/fixtures.js';
import { parseLinkFacts, symlink, symlinkFactScript } from './symlink.js';

const input = (name: string) => planInput(symlink, name);
const plan = (name: string, extra: object = {}) => {
  const { spec, facts } = input(name);
  return symlink.plan({ ...spec, ...extra }, facts, planCtx());
};

describe('symlink facts', () => {
  it('read the target and the owner of the link itself', () => {
    expect(parseLinkFacts(scenario('symlink', 'same').facts.link.output)).toEqual({ type: 'link', target: '/etc/hostname', owner: 'nobody', group: 'nogroup' });
  });
  it('tell a file, a directory and nothing apart', () => {
    expect(parseLinkFacts(scenario('symlink', 'file').facts.link.output).type).toBe('file');
    expect(parseLinkFacts(scenario('symlink', 'directory').facts.link.output).type).toBe('directory');
    expect(parseLinkFacts(scenario('symlink', 'absent').facts.link.output)).toEqual({ type: 'absent' });
  });
  it('only read', () => {
    expect(symlinkFactScript('/srv/app/current')).not.toMatch(/\b(rm|mv|ln|chmod|chown|mkdir)\b|>[^&]/);
  });
});

describe('symlink plan', () => {
  it('creates a missing link', () => {
    expect(plan('absent')).toEqual([{ path: 'target', action: 'create', before: undefined, after: '/etc/hostname' }]);
  });
  it('is empty when the link points at the target', () => {
    expect(plan('same')).toEqual([]);
  });
  it('changes only the owner of a right link', () => {
    expect(plan('same', { owner: 'root' })).toEqual([{ path: 'owner', action: 'update', before: 'nobody', after: 'root' }]);
  });
  it('replaces a link to somewhere else', () => {
    expect(plan('other')).toEqual([{ path: 'target', action: 'update', before: '/etc/hosts', after: '/etc/hostname' }]);
  });
  it('refuses to replace a file or a directory without force', () => {
    expect(() => plan('file')).toThrow(/\/tmp\/fx\/link is a file, not a symlink/);
    expect(() => plan('directory')).toThrow(expect.objectContaining({ hint: expect.stringContaining('removed with everything in it') }));
  });
  it('replaces them with force', () => {
    expect(plan('file', { force: true })).toEqual([{ path: 'target', action: 'replace', before: 'file', after: '/etc/hostname' }]);
    expect(plan('directory', { force: true })[0]).toMatchObject({ action: 'replace', before: 'directory' });
  });
  it('removes a link when absent is wanted', () => {
    expect(plan('other', { ensure: 'absent' })).toEqual([{ path: 'symlink', action: 'delete', before: '/etc/hosts' }]);
    expect(plan('absent', { ensure: 'absent' })).toEqual([]);
  });
});

describe('symlink apply', () => {
  it('swaps the link in one rename, removing a directory in the way only when forced', async () => {
    const { spec, facts } = input('directory');
    const forced = { ...spec, force: true };
    const { ctx, commands: sent } = recorder();
    await symlink.apply(forced, symlink.plan(forced, facts, ctx), facts, ctx);
    expect(sent).toHaveLength(1);
    expect(sent[0].script).toMatch(/^rm -rf \/tmp\/fx\/link\n/);
    expect(sent[0].script).toContain(`ln -s /etc/hostname "$tmp"`);
    expect(sent[0].script).toContain('mv -fT "$tmp" "$p"');
  });
  it('sets the owner of the link, not of its target', async () => {
    const { spec, facts } = input('same');
    const { ctx, commands: sent } = recorder();
    await symlink.apply({ ...spec, owner: 'root' }, [{ path: 'owner', action: 'update' }], facts, ctx);
    expect(sent.map((s) => s.script)).toEqual(['set -e\nchown -h root /tmp/fx/link']);
  });
});
