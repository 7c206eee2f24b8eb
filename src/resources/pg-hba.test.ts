import { describe, expect, it } from 'vitest';
import { factFixture, readFixture } from '../../test/support/fixtures.js';
import { planCtx } from '../../test/unit/fixtures.js';
import { recorder, unread } from '../../test/unit/apply-recorder.js';
import { parsePsqlFact, serverData } from './lib/pg-common.js';
import { editHba, formatHbaLine, hbaFields, parseHbaLine, pgHba, type HbaFact } from './pg-hba.js';

const facts = (name: string) => ({ hba: factFixture(pgHba.facts({ type: 'local', method: 'peer' }, planCtx()).hba, 'pg_hba', name) });
const content = (name: string) => (serverData(facts(name).hba) as HbaFact).content;

describe('pg_hba.conf parsing', () => {
  it('comes from fixtures captured with the current fact script', () => {
    expect(readFixture('pg_hba', 'debian_default').command).toBe(pgHba.facts({ type: 'local', method: 'peer' }, planCtx()).hba.script);
  });
  it('reads the file and its path through SHOW hba_file', () => {
    const f = serverData(facts('debian_default').hba) as HbaFact;
    expect(f.hba_file).toBe('/etc/postgresql/15/main/pg_hba.conf');
    expect(f.content).toContain('local   all             postgres                                peer\n');
  });
  it('identifies rule lines by type, database, user and address, and skips comments', () => {
    const rules = content('edited').split('\n').flatMap((l) => parseHbaLine(l) ?? []);
    expect(rules.map((r) => `${r.key} | ${r.method} ${r.options.join(' ')}`.trim())).toEqual([
      'local all postgres  | peer',
      'local all all  | peer',
      'host all all 127.0.0.1/32 | scram-sha-256',
      'host all all ::1/128 | scram-sha-256',
      'local replication all  | peer',
      'host replication all 127.0.0.1/32 | scram-sha-256',
      'host replication all ::1/128 | scram-sha-256',
      // A separate IPv4 netmask column reads as its CIDR form.
      'host app app 10.1.0.0/16 | md5',
      // A quoted "all" is a role named all, not the keyword; the comment is not an option.
      'hostssl all "all" 192.168.0.0/16 | scram-sha-256 clientcert=verify-full',
      'host replication repl samenet | scram-sha-256',
    ]);
  });
  it('keeps quoted fields whole', () => {
    expect(hbaFields('host "my db" "a#b" 10.0.0.0/8 md5 # c')).toEqual(['host', '"my db"', '"a#b"', '10.0.0.0/8', 'md5']);
  });
  it('writes lines in the column layout of Debian', () => {
    expect(formatHbaLine({ type: 'local', database: 'all', user: 'postgres', method: 'peer' })).toBe('local   all             postgres                                peer');
    expect(formatHbaLine({ type: 'host', address: '127.0.0.1/32', method: 'scram-sha-256' })).toBe('host    all             all             127.0.0.1/32            scram-sha-256');
  });
});

describe('pg_hba plan', () => {
  const repl = { type: 'host' as const, database: 'replication', user: 'replicator', address: '172.16.0.0/12', method: 'scram-sha-256' };
  it('appends a missing line, keeping every other line byte for byte', () => {
    const before = content('debian_default');
    const { content: after, changes } = editHba(before, repl);
    expect(changes).toEqual([{ path: 'line', action: 'create', after: 'host    replication     replicator      172.16.0.0/12           scram-sha-256' }]);
    expect(after).toBe(`${before}host    replication     replicator      172.16.0.0/12           scram-sha-256\n`);
    const [c] = pgHba.plan(repl, facts('debian_default'), planCtx());
    expect(c.diff).toContain('+host    replication     replicator      172.16.0.0/12           scram-sha-256');
  });
  it('is empty when the line is there with the same method and options, however it is spaced', () => {
    expect(pgHba.plan({ type: 'local', user: 'postgres', method: 'peer' }, facts('edited'), planCtx())).toEqual([]);
    expect(pgHba.plan({ type: 'host', database: 'app', user: 'app', address: '10.1.0.0/16', method: 'md5' }, facts('edited'), planCtx())).toEqual([]);
    expect(pgHba.plan({ type: 'hostssl', user: '"all"', address: '192.168.0.0/16', method: 'scram-sha-256', options: { clientcert: 'verify-full' } }, facts('edited'), planCtx())).toEqual([]);
  });
  it('rewrites the method of the first matching line in place', () => {
    const spec = { type: 'host' as const, database: 'app', user: 'app', address: '10.1.0.0/16', method: 'scram-sha-256' };
    const { content: after, changes } = editHba(content('edited'), spec);
    expect(changes).toEqual([{ path: 'line', action: 'update', before: 'host    app             app             10.1.0.0        255.255.0.0     md5', after: 'host    app             app             10.1.0.0/16             scram-sha-256' }]);
    expect(after.split('\n').length).toBe(content('edited').split('\n').length);
    expect(editHba(after, spec).changes).toEqual([]);
  });
  it('changes options too', () => {
    const spec = { type: 'hostssl' as const, user: '"all"', address: '192.168.0.0/16', method: 'scram-sha-256' };
    expect(editHba(content('edited'), spec).changes.map((c) => c.action)).toEqual(['update']);
  });
  it('removes every matching line when absent', () => {
    const { content: after, changes } = editHba(content('edited'), { type: 'host', database: 'replication', user: 'repl', address: 'samenet', ensure: 'absent' });
    expect(changes).toEqual([{ path: 'line', action: 'delete', before: 'host    replication     repl            samenet                 scram-sha-256' }]);
    expect(after).toBe(content('edited').replace('host    replication     repl            samenet                 scram-sha-256\n', ''));
    expect(pgHba.plan({ type: 'local', database: 'nope', ensure: 'absent' }, facts('edited'), planCtx())).toEqual([]);
  });
  it('names a line by its identity', () => {
    expect(pgHba.id!(repl)).toBe('pg_hba:host:replication:replicator:172.16.0.0/12');
    expect(pgHba.id!({ type: 'local', method: 'peer' })).toBe('pg_hba:local:all:all');
  });
});

describe('pg_hba apply', () => {
  it('edits a fresh read, swaps it in only if unchanged since, validates on disk, then reloads', async () => {
    const fresh = serverData(facts('debian_default').hba) as HbaFact;
    const spec = { type: 'host' as const, database: 'replication', user: 'replicator', address: 'samenet', method: 'scram-sha-256' };
    const { ctx, commands } = recorder((cmd) => ({ code: 0, stdout: String(cmd.stdin).startsWith('SELECT') ? JSON.stringify(fresh) : '', stderr: '' }));
    await pgHba.apply(spec, [], unread(), ctx);
    expect(commands.map((c) => c.runAs)).toEqual(['postgres', 'postgres']);
    const [read, write] = commands;
    expect(read.stdin).toMatch(/pg_read_file\(current_setting\('hba_file'\)\)/);
    expect(write.stdin).toBe(editHba(fresh.content, spec).content);
    const s = write.script;
    expect(s.indexOf('sha256sum')).toBeLessThan(s.indexOf('mv -f "$tmp" "$f"'));
    expect(s.indexOf('mv -f "$tmp" "$f"')).toBeLessThan(s.indexOf('pg_hba_file_rules'));
    expect(s.indexOf('mv -f "$bak" "$f"')).toBeLessThan(s.indexOf('pg_reload_conf'));
  });
});
