// Fault injection across a fleet: converge's safety promises (docs/safety.md)
// that need more than one host, on two containers (and names that alias them).
//   - an unreachable host and a host that fails mid-run: the others converge, the
//     report tells "unreachable" from "failed", exit 1
//   - rolling runs: --batch N|N% converges hosts batch after batch; --max-fail stops
//     starting hosts, and the report says which were not attempted
//   - secrets: canary values in every secret input and failure path never show in
//     anything converge prints or writes, nor in the target's process list

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { converge, resourcesOf, type CliResult } from '../support/cli.js';
import { startFleet, unreachableHost, type Fleet, type HostEntry, type InventoryOptions } from '../support/fleet.js';

const HOSTS = ['fleet-1', 'fleet-2'];

describe('safety promises across a fleet', () => {
  let fleet: Fleet;
  let states: string;

  const state = (name: string, resources: Record<string, unknown>) => writeFileSync(join(states, `${name}.yaml`), JSON.stringify({ resources }, null, 2));
  const inventory = (name: string, opts: InventoryOptions, extra: Record<string, unknown> = {}) => {
    const path = join(fleet.dir, `${name}.yaml`);
    const doc = { ...parse(fleet.writeInventory(path, { states, ...opts })), ...extra };
    writeFileSync(path, stringify(doc));
    return path;
  };
  const byHost = (res: CliResult) => Object.fromEntries(res.json.hosts.map((h: { host: string; status: string }) => [h.host, h.status]));
  const sh = async (host: string, cmd: string) => {
    const r = await fleet.exec(host, cmd);
    expect(r.code, `${host}: ${cmd}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };

  beforeAll(async () => {
    fleet = await startFleet(HOSTS);
    states = join(fleet.dir, 'states');
    mkdirSync(states);
    writeFileSync(join(states, 'top.yaml'), 'roles:\n  app: [base]\n');
    state('base', { srv: { directory: { path: '/srv/safety' } } });
    const first = await converge(['highstate', '-i', inventory('inventory', { roles: { app: HOSTS } }), '--json', '--accept-new-host-keys']);
    expect(first.code, first.stderr).toBe(0);
  });

  afterAll(async () => fleet?.close());

  it('an unreachable host and a host failing mid-run: the others converge, the report tells them apart', async () => {
    state('mid', {
      first: { file: { path: '/srv/safety/first', content: 'first\n' } },
      boom: { cmd: { run: 'if [ "{{ broken }}" = yes ]; then echo "boom on purpose" >&2; exit 3; fi; touch /srv/safety/boom-ok', creates: '/srv/safety/boom-ok' }, require: ['first'] },
      last: { file: { path: '/srv/safety/last', content: 'last\n' }, require: ['boom'] },
    });
    const gone = await unreachableHost('gone-1');
    const inv = inventory('inventory-mid', { roles: { app: [...HOSTS, 'gone-1'] }, extraHosts: [gone], vars: { broken: 'no' }, hostVars: { 'fleet-2': { broken: 'yes' } } });
    const res = await converge(['apply', 'mid', '-i', inv, '--json']);
    expect(res.code).toBe(1);
    expect(byHost(res)).toEqual({ 'fleet-1': 'changed', 'fleet-2': 'failed', 'gone-1': 'unreachable' });
    const failed = resourcesOf(res.json, 'fleet-2');
    expect([failed.first.status, failed.boom.status, failed.last.status]).toEqual(['changed', 'failed', 'skipped']);
    expect(failed.boom.reason).toMatch(/^running ".*" failed \(exit 3\): boom on purpose$/);
    expect(res.json.hosts.find((h: { host: string }) => h.host === 'gone-1').error.message).toMatch(/^cannot connect to root@127\.0\.0\.1:\d+/);
    expect(await sh('fleet-1', 'cat /srv/safety/first /srv/safety/last')).toBe('first\nlast\n');
    expect(await sh('fleet-2', 'cat /srv/safety/first; test -e /srv/safety/last || echo "no last"')).toBe('first\nno last\n');

    const text = await converge(['apply', 'mid', '-i', inv]);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^fleet-1 {2}unchanged /m);
    expect(text.stdout).toMatch(/^fleet-2 {2}failed /m);
    expect(text.stdout).toMatch(/^gone-1 {2}unreachable /m);
    expect(text.stdout).toMatch(/^apply: 3 host\(s\): 1 unchanged, 0 changed, 0 drifted, 1 failed, 1 unreachable; resources: 0 changed, 1 failed, 1 skipped;/m);
  });

  describe('rolling runs', () => {
    // Two more names for the same two containers: four hosts, each batch of two on different machines.
    const aliases = (): HostEntry[] => HOSTS.map((h) => ({ ...fleet.host(h), name: `${h}b`, containerId: null }));
    const ORDER = ['fleet-1', 'fleet-2', 'fleet-1b', 'fleet-2b'];
    const machine = (name: string) => name.replace(/b$/, '');
    /** When each host's command started and ended (seconds, from the host's clock: the containers share the kernel's). */
    const times = async (names: string[]) =>
      Object.fromEntries(
        await Promise.all(names.map(async (n) => [n, (await sh(machine(n), `cat /srv/roll/${n}.start /srv/roll/${n}.end`)).trim().split('\n').map(Number)] as const)),
      );

    beforeAll(() => {
      state('roll', {
        work: {
          cmd: {
            run: 'if [ "{{ roll_fail }}" = yes ]; then exit 1; fi; mkdir -p /srv/roll; date +%s.%N > /srv/roll/{{ host.name }}.start; sleep 2; date +%s.%N > /srv/roll/{{ host.name }}.end',
            creates: '/srv/roll/{{ host.name }}.end',
          },
        },
      });
    });
    const rollInventory = (failing: string[] = []) =>
      inventory(`inventory-roll-${failing.join('-')}`, {
        roles: { app: ORDER },
        extraHosts: aliases(),
        vars: { roll_fail: 'no' },
        hostVars: Object.fromEntries(failing.map((h) => [h, { roll_fail: 'yes' }])),
      });

    it('--batch 1 converges one host after another', async () => {
      await Promise.all(HOSTS.map((h) => sh(h, 'rm -rf /srv/roll')));
      const res = await converge(['apply', 'roll', '-i', rollInventory(), '--json', '--batch', '1']);
      expect(res.code, res.stderr).toBe(0);
      expect(res.json.hosts.map((h: { host: string }) => h.host)).toEqual(ORDER);
      const t = await times(ORDER);
      for (let i = 1; i < ORDER.length; i++) expect(t[ORDER[i]][0], `${ORDER[i]} started after ${ORDER[i - 1]} ended`).toBeGreaterThanOrEqual(t[ORDER[i - 1]][1]);
    });

    it('--batch 50% converges two at a time, the second pair after the first', async () => {
      await Promise.all(HOSTS.map((h) => sh(h, 'rm -rf /srv/roll')));
      const res = await converge(['apply', 'roll', '-i', rollInventory(), '--json', '--batch', '50%']);
      expect(res.code, res.stderr).toBe(0);
      const t = await times(ORDER);
      const [a, b, c, d] = ORDER.map((n) => t[n]);
      // The first pair ran at once (each started before the other ended)...
      expect(a[0]).toBeLessThan(b[1]);
      expect(b[0]).toBeLessThan(a[1]);
      // ...and the second started only when both had ended.
      for (const later of [c, d]) expect(later[0]).toBeGreaterThanOrEqual(Math.max(a[1], b[1]));
    });

    it('--max-fail stops starting hosts once exceeded; the report and exit code say which were not attempted', async () => {
      await Promise.all(HOSTS.map((h) => sh(h, 'rm -rf /srv/roll')));
      const inv = rollInventory(['fleet-2']);
      const res = await converge(['apply', 'roll', '-i', inv, '--json', '--batch', '25%', '--max-fail', '0']);
      expect(res.code).toBe(1);
      expect(byHost(res)).toEqual({ 'fleet-1': 'changed', 'fleet-2': 'failed', 'fleet-1b': 'not-attempted', 'fleet-2b': 'not-attempted' });
      for (const h of ['fleet-1b', 'fleet-2b']) {
        expect(res.json.hosts.find((x: { host: string }) => x.host === h).error.message).toBe('not attempted: more than 0 host(s) failed (--max-fail)');
      }
      expect(await sh('fleet-1', 'ls /srv/roll')).toBe('fleet-1.end\nfleet-1.start\n');
      expect(await sh('fleet-2', 'ls /srv/roll 2>/dev/null; true')).toBe('');

      const text = await converge(['apply', 'roll', '-i', inv, '--batch', '1', '--max-fail', '0']);
      expect(text.code).toBe(1);
      expect(text.stdout).toMatch(/^fleet-1b {2}not-attempted .*\n {2}! not attempted: more than 0 host\(s\) failed \(--max-fail\)$/m);
      expect(text.stdout).toMatch(/^apply: 4 host\(s\): 1 unchanged, 0 changed, 0 drifted, 1 failed, 0 unreachable, 2 not attempted;/m);
    });
  });

  it('secrets never show in output, reports, diffs, errors or the target process list', async () => {
    const CANARY = { env: 'canary-env-5e1d7a93', file: 'canary-file-0c4b82f6', inline: 'canary-inline-a7e3915d' };
    writeFileSync(join(fleet.dir, 'canary.txt'), `${CANARY.file}\n`);
    const inv = inventory('inventory-secrets', { roles: { app: HOSTS } }, {
      secrets: { db_password: { env: 'SAFETY_CANARY_ENV' }, api_key: { file: 'canary.txt' }, token: { value: CANARY.inline } },
    });
    const env = { SAFETY_CANARY_ENV: CANARY.env };
    mkdirSync(join(states, 'templates'), { recursive: true });
    writeFileSync(join(states, 'templates/app.env.j2'), 'DB_PASSWORD={{ db_password }}\nAPI_KEY={{ api_key }}\nTOKEN={{ token }}\n');
    state('secrets', {
      'env-file': { file: { path: '/srv/sec/app.env', template: 'templates/app.env.j2', mode: '0600' } },
      // A validate command holding a secret (sh builtins only, as the user's own commands could show it): the write script is never on a command line.
      'inline-file': { file: { path: '/srv/sec/token', content: '{{ token }}\n', validate: 'sleep 1; read -r l < %s && test "$l" = \'{{ token }}\'' } },
      'with-env': { cmd: { run: 'sleep 2; test -n "$TOKEN" && touch /srv/sec/cmd-ran', env: { TOKEN: '{{ token }}' }, creates: '/srv/sec/cmd-ran' } },
      'fails-holding-secrets': { cmd: { run: 'echo "connecting with $TOKEN and $DB" >&2; exit 4', env: { TOKEN: '{{ api_key }}', DB: '{{ db_password }}' }, creates: '/srv/sec/never' } },
    });
    state('bad-secret', { bad: { file: { path: '/srv/sec/bad', content: '{{ token }}', mode: '{{ db_password }}', owner: '{{ api_key }}', bogus: '{{ token }}' } } });
    const outputs: string[] = [];
    const cv = async (args: string[]) => {
      const r = await converge([...args, '-i', inv], { env });
      outputs.push(r.stdout, r.stderr);
      return r;
    };
    const report = (name: string) => join(fleet.dir, name);

    // The target's process list, polled on the host for the whole first run.
    const ps = fleet.exec('fleet-1', 'rm -f /run/ps.log /run/ps.stop; until [ -e /run/ps.stop ]; do ps -eo args >> /run/ps.log; sleep 0.02; done');
    const first = await cv(['apply', 'secrets', '--json', '--diff', '--report', report('r1.html')]);
    await sh('fleet-1', 'touch /run/ps.stop');
    await ps;
    const processes = await sh('fleet-1', 'cat /run/ps.log');
    expect(processes).toContain('flock -s -o /var/lib/converge/run.active'); // the poller saw converge's commands...
    expect(processes).toMatch(/^sleep 2$/m); // ...and the command holding a secret in its env
    outputs.push(processes);

    expect(first.code).toBe(1);
    const rs = resourcesOf(first.json, 'fleet-1');
    expect(rs['env-file'].status).toBe('changed');
    expect(rs['with-env'].status).toBe('changed');
    expect(rs['fails-holding-secrets']).toMatchObject({ status: 'failed', reason: expect.stringContaining('connecting with (sensitive) and (sensitive)') });
    // A file rendered from secrets: changed, with content hashes and no diff.
    expect(rs['env-file'].changes).toEqual([
      { path: 'content', action: 'create', after: expect.stringMatching(/^sha256:[0-9a-f]{64}$/), sensitive: true },
      expect.objectContaining({ path: 'mode' }),
    ]);
    // What was written is the real thing.
    expect(await sh('fleet-1', 'cat /srv/sec/app.env /srv/sec/token; ls /srv/sec')).toBe(`DB_PASSWORD=${CANARY.env}\nAPI_KEY=${CANARY.file}\nTOKEN=${CANARY.inline}\n${CANARY.inline}\napp.env\ncmd-ran\ntoken\n`);

    // Drift on a secret file, seen by --check and repaired, with --diff, text and Markdown.
    await Promise.all(HOSTS.map((h) => sh(h, 'echo "DB_PASSWORD=changed-by-hand" > /srv/sec/app.env')));
    const check = await cv(['apply', 'secrets', '--check', '--diff', '--verbose']);
    expect(check.stdout).toMatch(/^ {2}\? env-file \[file:\/srv\/sec\/app\.env\] would-change \(drift\): content\n {4}content: sha256:[0-9a-f]{64} -> sha256:[0-9a-f]{64} \(sensitive\)$/m);
    const repair = await cv(['apply', 'secrets', '--diff', '--verbose', '--report', report('r2.md')]);
    expect(repair.stdout).toMatch(/^ {2}~ env-file \[file:\/srv\/sec\/app\.env\] changed \(drift\): content\n {4}content: sha256:[0-9a-f]{64} -> sha256:[0-9a-f]{64} \(sensitive\)$/m);
    await cv(['apply', 'secrets', '--check', '--json', '--diff', '--report', report('r3.html')]);
    await cv(['show', 'fleet-1']);
    // A schema error next to secrets, and one in a secret-valued field.
    const bad = await cv(['apply', 'bad-secret']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/bad-secret\.yaml:\d+: resources\.bad\.file\.bogus: unknown field "bogus"/);
    expect(bad.stderr).toMatch(/resources\.bad\.file\.mode: does not match/);
    outputs.push(...['r1.html', 'r2.md', 'r3.html'].map((f) => readFileSync(report(f), 'utf8')));

    const everything = outputs.join('\n');
    for (const [source, value] of Object.entries(CANARY)) expect(everything.includes(value), `the ${source} secret leaked`).toBe(false);
    expect(everything).toContain('(sensitive)');
  });
});
