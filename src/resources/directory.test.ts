import { describe, expect, it } from 'vitest';
import { planCtx } from '../../test/unit/fixtures.js';
import { recorder } from '../../test/unit/apply-recorder.js';
import { planInput } from '../../test/support/fixtures.js';
import { directory } from './directory.js';

// Facts captured from a container (test/fixtures/directory/, see capture.mjs):
// spec { path: /tmp/fx/dir, owner: nobody, group: nogroup, mode: '0750' }.
const plan = (name: string, extra: object = {}) => {
  const { spec, facts } = planInput(directory, name);
  return directory.plan({ ...spec, ...extra }, facts, planCtx());
};

describe('directory plan', () => {
  it('creates a missing directory with its owner, group and mode', () => {
    expect(plan('absent')).toEqual([
      { path: 'directory', action: 'create', after: '/tmp/fx/dir' },
      { path: 'owner', action: 'create', before: undefined, after: 'nobody' },
      { path: 'group', action: 'create', before: undefined, after: 'nogroup' },
      { path: 'mode', action: 'create', before: undefined, after: '0750' },
    ]);
  });
  it('is empty for a directory as wanted, whatever it holds', () => {
    expect(plan('same')).toEqual([]);
  });
  it('repairs owner, group and mode in place', () => {
    expect(plan('drifted')).toEqual([
      { path: 'owner', action: 'update', before: 'root', after: 'nobody' },
      { path: 'group', action: 'update', before: 'root', after: 'nogroup' },
      { path: 'mode', action: 'update', before: '0777', after: '0750' },
    ]);
  });
  it('leaves what the spec does not name alone', () => {
    expect(plan('drifted', { owner: undefined, group: undefined, mode: undefined })).toEqual([]);
  });
  it('refuses a file or a symlink in its place, naming the path', () => {
    expect(() => plan('file')).toThrow('/tmp/fx/dir is a file, not a directory');
    expect(() => plan('link')).toThrow(expect.objectContaining({ message: '/tmp/fx/dir is a link, not a directory', hint: expect.stringContaining('remove it by hand') }));
  });
  it('removes the directory (or whatever is there) when absent is wanted, and nothing when it is gone', () => {
    expect(plan('same', { ensure: 'absent' })).toEqual([{ path: 'directory', action: 'delete', before: 'directory' }]);
    expect(plan('link', { ensure: 'absent' })).toEqual([{ path: 'directory', action: 'delete', before: 'link' }]);
    expect(plan('absent', { ensure: 'absent' })).toEqual([]);
  });
});

describe('directory apply', () => {
  it('makes the directory with its parents, then sets owner, group and mode, stopping at the first failure', async () => {
    const { spec, facts } = planInput(directory, 'absent');
    const { ctx, scripts } = recorder();
    await directory.apply(spec, directory.plan(spec, facts, ctx), facts, ctx);
    expect(scripts()).toEqual(['set -e\nmkdir -p /tmp/fx/dir\nchown nobody:nogroup /tmp/fx/dir\nchmod 0750 /tmp/fx/dir']);
  });
  it('removes with rm -rf on the quoted path only', async () => {
    const { spec, facts } = planInput(directory, 'same');
    const gone = { ...spec, path: "/tmp/fx/it's dir", ensure: 'absent' as const };
    const { ctx, scripts } = recorder();
    await directory.apply(gone, directory.plan(gone, facts, ctx), facts, ctx);
    expect(scripts()).toEqual(["rm -rf '/tmp/fx/it'\\''s dir'"]);
  });
  it('names the path when the host refuses', async () => {
    const { spec, facts } = planInput(directory, 'absent');
    const { ctx } = recorder(() => ({ code: 1, stderr: 'chown: invalid user' }));
    await expect(directory.apply(spec, [], facts, ctx)).rejects.toThrow('creating /tmp/fx/dir failed');
  });
});

describe('directory identity', () => {
  it('is the path without trailing slashes, after managed parents and its owner and group', () => {
    expect(directory.id!({ path: '/srv/app/' })).toBe('directory:/srv/app');
    expect(directory.id!({ path: '/' })).toBe('directory:/');
    expect(directory.implicitAfter!({ path: '/srv/app/data', owner: 'app', group: 'www' })).toEqual(['directory:/srv/app', 'directory:/srv', 'user:app', 'group:www']);
  });
});
