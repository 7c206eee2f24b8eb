import { describe, expect, it } from 'vitest';
import { recorder, unread } from '../../test/unit/apply-recorder.js';
import { factFixture, planInput } from '../../test/support/fixtures.js';
import { planCtx } from '../../test/unit/fixtures.js';
import type { SupervisorProgramSpec } from '../generated/index.js';
import { sha256 } from './file.js';
import { LOAD_PY, STATUS_PY } from './lib/supervisor-socket.js';
import { programStatus, renderProgram, statusScript, supervisorProgram, type SupervisorStatus } from './supervisor-program.js';

// The spec whose rendering the config_* fixtures were captured against.
const spec: SupervisorProgramSpec = {
  name: 'ticker',
  command: "/bin/sh -c 'while true; do echo tick; sleep 5; done'",
  user: 'ticker',
  directory: '/tmp',
  environment: { SECRET: 'abc', FOO: 'x y' },
  autostart: true,
  autorestart: true,
  stopwaitsecs: 10,
};
/** A host's status list as captured (test/fixtures/supervisor_program/README.md), checked against the query the code sends. */
const all = (name: string) => factFixture(supervisorProgram.facts(spec, planCtx()).status, 'supervisor_program', name);
const status = (name: string, program = 'ticker') => programStatus(all(name), program);
/** The config fact of a captured scenario (its status there is not used: status_* fixtures hold the statuses). */
const config = (name: string) => planInput(supervisorProgram, name).facts.config;
/** The host's status list with ticker in the given state (or without it). */
const withTicker = (state: string): SupervisorStatus => {
  const { programs } = all('status_programs');
  if (state === 'absent') return { programs: { web: programs.web } };
  return { programs: { ...programs, ticker: state === 'STOPPED' ? { state: 'STOPPED', detail: 'ticker STOPPED Not started' } : programs.ticker } };
};
const facts = (configFixture: string, statusState: string | SupervisorStatus) => ({ config: config(configFixture), status: typeof statusState === 'string' ? withTicker(statusState) : statusState });
const compileCtx = { statesDir: '/states', vars: {}, renderTemplate: () => '', where: { file: 'states/app.yaml', line: 7 } };

describe('supervisor_program status facts', () => {
  it("ask supervisord's socket with a Python that fits in sh's single quotes, and a supervisorctl given its own path as given", () => {
    expect(STATUS_PY).not.toContain("'");
    expect(statusScript(spec)).toContain(`python3 -I -S -c '${STATUS_PY}'`);
    const custom = statusScript({ ...spec, supervisorctl: '/opt/sv/bin/supervisorctl -c /opt/sv/sv.conf' });
    expect(custom).not.toContain('python3');
    expect(custom).toContain('out=$(/opt/sv/bin/supervisorctl -c /opt/sv/sv.conf status 2>&1); rc=$?');
  });

  it('parse every program supervisorctl lists, with its process state and pid', () => {
    expect(status('status_programs')).toEqual({ state: 'RUNNING', pid: 339, detail: 'ticker                           RUNNING   pid 339, uptime 0:00:04' });
    expect(status('status_programs', 'stopped').state).toBe('STOPPED');
    expect(status('status_programs', 'slow').state).toBe('STARTING');
    expect(status('status_programs', 'broken')).toMatchObject({ state: 'FATAL', detail: expect.stringContaining('Exited too quickly') });
    expect(status('status_programs', 'flappy').state).toBe('BACKOFF');
    expect(Object.keys(all('status_programs').programs)).toEqual(['broken', 'flappy', 'slow', 'stopped', 'ticker', 'web']);
  });
  it('tell a program supervisord does not know (also when it knows none) from a supervisord that does not answer, and a missing supervisorctl', () => {
    expect(status('status_programs', 'nope').state).toBe('absent');
    expect(status('status_programs', 'toString').state).toBe('absent');
    expect(all('status_none')).toEqual({ programs: {} });
    expect(status('status_none').state).toBe('absent');
    expect(status('status_unreachable')).toEqual({ state: 'unreachable', detail: 'unix:///var/run/supervisor.sock no such file' });
    expect(status('status_no_supervisorctl').state).toBe('no-supervisorctl');
  });
  it('one status query for all programs of a host, through the configured supervisorctl, that only reads', () => {
    const q = (s: SupervisorProgramSpec) => supervisorProgram.facts(s, planCtx()).status;
    expect(q(spec).key).toBe(q({ name: 'web', command: 'run' }).key);
    expect(q(spec).key).not.toBe(q({ ...spec, supervisorctl: '/opt/bin/supervisorctl' }).key);
    const s = statusScript({ ...spec, supervisorctl: '/usr/local/bin/supervisorctl -c /etc/supervisord.conf' });
    expect(s).toContain('/usr/local/bin/supervisorctl -c /etc/supervisord.conf status 2>&1');
    expect(s).not.toMatch(/\b(reread|update|start|stop|restart)\b/);
  });
});

describe('supervisor_program config', () => {
  it('renders the program section, with output to syslog', () => {
    expect(renderProgram(spec)).toBe(
      [
        '; Managed by converge (supervisor_program ticker): changes made here are overwritten.',
        '[program:ticker]',
        "command=/bin/sh -c 'while true; do echo tick; sleep 5; done'",
        'directory=/tmp',
        'user=ticker',
        'environment=SECRET="abc",FOO="x y"',
        'autostart=true',
        'autorestart=true',
        'stopwaitsecs=10',
        'redirect_stderr=true',
        'stdout_syslog=true',
        '',
      ].join('\n'),
    );
    const own = renderProgram({ name: 'w', command: 'run', redirect_stderr: false, syslog: true });
    expect(own).toContain('redirect_stderr=false\nstdout_syslog=true\nstderr_syslog=true\n');
    expect(renderProgram({ name: 'w', command: 'run', syslog: false })).not.toMatch(/syslog/);
  });
  it('writes values supervisor reads back literally: % doubled, quotes chosen per value', () => {
    const text = renderProgram({ name: 'w', command: 'date +%s', environment: { A: 'pa%ss', B: 'say "hi" now', C: "it's", D: 'a,b=c' } });
    expect(text).toContain('command=date +%%s\n');
    expect(text).toContain(`environment=A="pa%%ss",B='say "hi" now',C="it's",D="a,b=c"\n`);
  });
  it('refuses, at compile time and without showing the value, what supervisor cannot read back', () => {
    const bad = (environment: Record<string, string>, command = 'run') => () => supervisorProgram.resolve!({ name: 'w', command, environment }, compileCtx);
    expect(bad({ S: `a'b"c` })).toThrow(/environment S contains both kinds of quote/);
    expect(bad({ S: '"quoted"' })).toThrow(/environment S begins or ends with a quote/);
    expect(bad({ S: 'pass #word' })).toThrow(/environment S contains a space before ";" or "#"/);
    expect(bad({ S: 'two\nlines' })).toThrow(/environment S contains a line break/);
    expect(bad({}, 'run ; other')).toThrow(/command contains a space before/);
    expect(bad({ S: 'pass #word' })).not.toThrow(/pass #word/);
    expect(supervisorProgram.resolve!({ name: 'w', ensure: 'absent' }, compileCtx)).toEqual({ name: 'w', ensure: 'absent' });
  });
});

describe('supervisor_program plan', () => {
  it('is empty when the file matches and the program is RUNNING', () => {
    expect(supervisorProgram.plan(spec, facts('config_same', 'RUNNING'), planCtx())).toEqual([]);
  });
  it('a program stopped by hand is started, nothing else', () => {
    expect(supervisorProgram.plan(spec, facts('config_same', 'STOPPED'), planCtx())).toEqual([{ path: 'running', action: 'update', before: 'STOPPED', after: 'RUNNING' }]);
  });
  it('a new program: its file is created and it is loaded and started', () => {
    const changes = supervisorProgram.plan(spec, facts('config_absent', 'absent'), planCtx());
    expect(changes.map((c) => [c.path, c.action, c.before])).toEqual([
      ['config', 'create', undefined],
      ['running', 'create', 'not loaded'],
    ]);
    expect(changes[0].diff).toContain('+[program:ticker]');
  });
  it('a hand-written file is rewritten (diff and root-only mode) while the program runs on', () => {
    const changes = supervisorProgram.plan(spec, facts('config_differs', 'RUNNING'), planCtx());
    expect(changes.map((c) => [c.path, c.before, c.after])).toEqual([
      ['config', 'sha256:c3447b6cb2f17cba93e79fe8103e95c8af189007f7ebd4b3b6b36a5db75736f1', `sha256:${sha256(renderProgram(spec))}`],
      ['config.mode', '0644', '0600'],
    ]);
    expect(changes[0].diff).toContain('-stderr_syslog=true');
  });
  it('a sensitive program shows hashes only (its content was never fetched)', () => {
    const [c] = supervisorProgram.plan(spec, facts('config_differs_sensitive', 'RUNNING'), planCtx(true));
    expect(c).toMatchObject({ path: 'config', sensitive: true });
    expect(c.diff).toBeUndefined();
    expect(supervisorProgram.facts(spec, planCtx(true)).config.script).not.toContain('base64');
  });
  it('says why the program is not running when supervisord is down or supervisorctl is missing', () => {
    expect(supervisorProgram.plan(spec, facts('config_same', all('status_unreachable')), planCtx())[0]).toMatchObject({ path: 'running', action: 'create', before: 'supervisord not answering (unix:///var/run/supervisor.sock no such file)' });
    expect(supervisorProgram.plan(spec, facts('config_same', all('status_no_supervisorctl')), planCtx())[0].before).toBe('supervisorctl not found');
  });
  it('absent removes the file and unloads a loaded program', () => {
    const gone = { name: 'ticker', ensure: 'absent' as const };
    expect(supervisorProgram.plan(gone, facts('config_same', 'STOPPED'), planCtx())).toEqual([
      { path: 'config', action: 'delete', before: 'file' },
      { path: 'program', action: 'delete', before: 'STOPPED' },
    ]);
    expect(supervisorProgram.plan(gone, facts('config_absent', 'absent'), planCtx())).toEqual([]);
  });
  it('orders itself after supervisor, its user and its directories', () => {
    expect(supervisorProgram.implicitAfter!(spec)).toEqual(['package:supervisor', 'directory:/etc/supervisor/conf.d', 'user:ticker', 'directory:/tmp']);
    expect(supervisorProgram.watchVerb!(spec)).toBe('restart');
  });
});

describe('supervisor_program apply', () => {
  it('writes the file on stdin (root-only), then rereads and updates this program alone and waits for RUNNING', async () => {
    const rec = recorder();
    await supervisorProgram.apply(spec, supervisorProgram.plan(spec, facts('config_absent', 'absent'), planCtx()), unread(), rec.ctx);
    const [write, load] = rec.commands;
    expect(write.stdin).toBe(renderProgram(spec));
    expect(write.script).toContain('chmod 0600 "$tmp"');
    expect(write.script).not.toContain('SECRET');
    // Over supervisord's socket first (one Python: load, then wait), supervisorctl where that path does not apply.
    expect(LOAD_PY).not.toContain("'");
    expect(load.script).toMatch(new RegExp(`^out=\\$\\(python3 -I -S -c '[^']+' "\\$\\(command -v supervisorctl\\)" load ticker 11 2>/dev/null\\); rc=\\$\\?\n`));
    expect(load.script).toContain('supervisorctl reread');
    expect(load.script).toContain('supervisorctl update ticker');
    expect(load.script).not.toMatch(/update\s*(\)|$)/m);
    expect(load.script).toMatch(/RUNNING\) exit 0/);
  });
  it('only starts (no file write) a program stopped by hand', async () => {
    const rec = recorder();
    await supervisorProgram.apply(spec, [{ path: 'running', action: 'update', before: 'STOPPED', after: 'RUNNING' }], unread(), rec.ctx);
    expect(rec.commands).toHaveLength(1);
    expect(rec.commands[0].stdin).toBeUndefined();
  });
  it('explains a program that does not stay up, and one supervisord does not include', async () => {
    const fatal = recorder(() => ({ code: 3, stderr: 'ticker   FATAL     Exited too quickly (process log may have details)\n' }));
    await expect(supervisorProgram.apply(spec, [{ path: 'running', action: 'update' }], unread(), fatal.ctx)).rejects.toMatchObject({
      message: 'program ticker did not stay running: ticker   FATAL     Exited too quickly (process log may have details)',
      hint: expect.stringContaining('syslog'),
    });
    const unknown = recorder(() => ({ code: 4, stderr: 'ticker: ERROR (no such process)\n' }));
    await expect(supervisorProgram.apply({ ...spec, conf_dir: '/etc/supervisord.d' }, [{ path: 'running', action: 'create' }], unread(), unknown.ctx)).rejects.toMatchObject({
      hint: 'the [include] files= of supervisord.conf must cover /etc/supervisord.d/ticker.conf',
    });
  });
  it('absent removes the file, then unloads the program if it was loaded', async () => {
    const rec = recorder();
    await supervisorProgram.apply({ name: 'ticker', ensure: 'absent' }, [{ path: 'config', action: 'delete' }, { path: 'program', action: 'delete' }], unread(), rec.ctx);
    expect(rec.scripts()).toEqual(['rm -f /etc/supervisor/conf.d/ticker.conf', 'set -e\nsupervisorctl reread >/dev/null\nsupervisorctl update ticker']);
  });
  it('a watched change restarts this program alone, unless apply just (re)started it', async () => {
    const rec = recorder();
    expect(await supervisorProgram.onWatch!(spec, unread(), [], rec.ctx)).toBe('restarted supervisor program ticker');
    expect(rec.scripts()[0]).toContain(`"$(command -v supervisorctl)" restart ticker 11 `);
    expect(rec.scripts()[0]).toMatch(/\nsupervisorctl restart ticker /);
    const custom = recorder();
    await supervisorProgram.onWatch!({ ...spec, supervisorctl: '/opt/sv/bin/supervisorctl' }, unread(), [], custom.ctx);
    expect(custom.scripts()[0]).toMatch(/^\/opt\/sv\/bin\/supervisorctl restart ticker /);
    const none = recorder();
    expect(await supervisorProgram.onWatch!(spec, unread(), [{ path: 'config', action: 'update' }], none.ctx)).toBeUndefined();
    expect(await supervisorProgram.onWatch!(spec, unread(), [{ path: 'running', action: 'update' }], none.ctx)).toBeUndefined();
    expect(none.commands).toEqual([]);
  });
});
