import { describe, expect, it } from 'vitest';
import { planCtx } from '../../test/unit/fixtures.js';
import { recorder } from '../../test/unit/apply-recorder.js';
import { planInput, resolveSpec } from '../../test/support/fixtures.js';
import type { LineSpec } from '../generated/index.js';
import type { FileFacts } from './file.js';
import { editLines, line, wantedLine } from './line.js';

const kv = (key: string, value: string, extra: Partial<LineSpec> = {}): LineSpec => ({ path: '/etc/x', key, value, ...extra });

describe('editLines', () => {
  it('replaces the last setting of the key in place, whatever the spacing', () => {
    expect(editLines('a = 1\n  port=23\nport= 22\n', kv('port', '2222')).text).toBe('a = 1\n  port=23\nport = 2222\n');
  });
  it("with the docs' match pattern, edits redis.conf's live bind line, not a commented example before it", () => {
    const redis = '# bind 192.168.1.100 10.0.0.1\n# bind 127.0.0.1 ::1\nbind 127.0.0.1 -::1\nprotected-mode yes\n';
    const spec = kv('bind', '0.0.0.0', { separator: ' ', match: '^#?\\s*bind\\s' });
    expect(editLines(redis, spec).text).toBe('# bind 192.168.1.100 10.0.0.1\n# bind 127.0.0.1 ::1\nbind 0.0.0.0\nprotected-mode yes\n');
    expect(editLines(editLines(redis, spec).text, spec).text).toBe(editLines(redis, spec).text);
  });
  it('appends when nothing matches, ending the last line first', () => {
    expect(editLines('a = 1', kv('port', '22'))).toEqual({ text: 'a = 1\nport = 22\n', replaced: [] });
    expect(editLines('', { path: '/x', line: 'only' }).text).toBe('only\n');
  });
  it('with a blank separator, needs whitespace after the key', () => {
    const spec = kv('PermitRootLogin', 'no', { separator: ' ' });
    expect(editLines('PermitRootLoginX yes\n', spec).text).toBe('PermitRootLoginX yes\nPermitRootLogin no\n');
    expect(editLines('PermitRootLogin\tyes\n', spec)).toEqual({ text: 'PermitRootLogin no\n', replaced: ['PermitRootLogin\tyes'] });
  });
  it('takes over a line that `match` finds, and stays put once the line is there', () => {
    const spec = kv('PermitRootLogin', 'no', { separator: ' ', match: '^#?PermitRootLogin\\s' });
    const once = editLines('#PermitRootLogin prohibit-password\n', spec).text;
    expect(once).toBe('PermitRootLogin no\n');
    expect(editLines(once, spec).text).toBe(once);
  });
  it('without key or match, looks for the exact line', () => {
    expect(editLines('sshd: ALL \n', { path: '/x', line: 'sshd: ALL' }).text).toBe('sshd: ALL \nsshd: ALL\n');
  });
  it('removes every matching line for ensure: absent, keeping the rest as it was', () => {
    expect(editLines('http_proxy=a\nPATH=/bin\nhttp_proxy=b', { path: '/x', key: 'http_proxy', separator: '=', ensure: 'absent' })).toEqual({ text: 'PATH=/bin', replaced: ['http_proxy=a', 'http_proxy=b'] });
  });
  it('builds the wanted line from key, separator and value', () => {
    expect(wantedLine(kv('GRUB_TIMEOUT', '2', { separator: '=' }))).toBe('GRUB_TIMEOUT=2');
    expect(wantedLine({ path: '/x', key: 'k', value: 3 })).toBe('k = 3');
  });
});

describe('line plan', () => {
  it('shows the edit of the real sshd_config as a diff', () => {
    const { spec, facts } = planInput(line, 'sshd_default');
    expect((facts.file as FileFacts).content?.toString()).toContain('#PermitRootLogin prohibit-password\n');
    const [c, ...rest] = line.plan(spec, facts, planCtx());
    expect(rest).toEqual([]);
    expect(c).toMatchObject({ path: 'line', action: 'update', before: '#PermitRootLogin prohibit-password', after: 'PermitRootLogin no' });
    expect(c.diff).toContain('-#PermitRootLogin prohibit-password\n+PermitRootLogin no\n');
  });
  it('is empty once the line is there', () => {
    const { spec, facts } = planInput(line, 'sshd_set');
    expect(line.plan(spec, facts, planCtx())).toEqual([]);
  });
  it('shows no diff and no values of a sensitive line', () => {
    const { spec, facts } = planInput(line, 'sshd_default');
    const [c] = line.plan(spec, facts, planCtx(true));
    expect(c).toMatchObject({ sensitive: true });
    expect(c.diff).toBeUndefined();
  });
  it('creates a missing file only with create', () => {
    const { spec, facts } = planInput(line, 'absent');
    expect(() => line.plan(spec, facts, planCtx())).toThrow(/\/tmp\/fx\/nope does not exist/);
    const [c] = line.plan({ ...spec, create: true }, facts, planCtx());
    expect(c).toMatchObject({ path: 'line', action: 'create', after: 'LANG=C.UTF-8' });
    expect(c.diff).toContain('--- /dev/null');
    expect(line.plan({ ...spec, ensure: 'absent' }, facts, planCtx())).toEqual([]);
  });
  it('refuses a directory', () => {
    const { spec, facts } = planInput(line, 'directory');
    expect(() => line.plan(spec, facts, planCtx())).toThrow(/is a directory, not a file/);
  });
});

describe('line resolve', () => {
  it('says what is missing or wrong, at the entry', () => {
    expect(() => resolveSpec(line, { path: '/x', key: 'k' })).toThrow(/needs `line`, or `key` and `value`/);
    expect(() => resolveSpec(line, { path: '/x', ensure: 'absent' })).toThrow(/needs `line`, `key` or `match`/);
    expect(() => resolveSpec(line, { path: '/x', line: 'a', match: '(' })).toThrow(/match is not a valid regular expression/);
  });
});

describe('line apply', () => {
  it('edits the file as it is now, refusing to overwrite an edit made since', async () => {
    const { spec, facts } = planInput(line, 'sshd_default');
    const { ctx, commands: sent } = recorder((c) => ({ code: 0, stdout: c.script.startsWith('if [ -L') ? 'type=file\nsha256=abc\ncontent\nUG9ydCAyMgo=\n' : '', stderr: '' }));
    await line.apply(spec, line.plan(spec, facts, ctx), facts, ctx);
    expect(sent).toHaveLength(2);
    expect(sent[1].stdin).toBe('Port 22\nPermitRootLogin no\n');
    expect(sent[1].script).toMatch(/^\[ "\$\(sha256sum < \/tmp\/fx\/sshd_config \| cut -d' ' -f1\)" = abc \] \|\| /);
  });
  it('with follow, reads and writes the file a symlink points to (Debian 13\'s /etc/default/locale), never replacing the link', async () => {
    const spec: LineSpec = { path: '/etc/default/locale', key: 'LANG', value: 'en_US.UTF-8', separator: '=', create: true, follow: true };
    expect(line.facts(spec, planCtx()).file.script).toMatch(/^f="\$\(readlink -f -- \/etc\/default\/locale\)"\nif \[ -L "\$f" \]/);
    const { ctx, commands: sent } = recorder((c) => ({ code: 0, stdout: c.script.startsWith('f=') ? 'type=file\nsha256=abc\ncontent\nTEFORz1DLlVURi04Cg==\n' : '', stderr: '' }));
    await line.apply(spec, [], {} as { file: FileFacts }, ctx);
    expect(sent[1].stdin).toBe('LANG=en_US.UTF-8\n');
    expect(sent[1].script).toContain('\np="$(readlink -f -- /etc/default/locale)"\n');
  });
});
