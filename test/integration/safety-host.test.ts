// Fault injection on one real host: converge's safety promises (docs/safety.md)
// checked by doing the damage and then looking at the host.
//   - a validate command that fails: old file kept, watcher not restarted, dependents skipped
//   - the disk full while a file is written: old file kept, the error names host, path and cause
//   - the SSH connection dropped mid-write (during validate, and mid-transfer), and a write
//     killed outright: never a partial file, no temp file left, the next run converges
//   - SIGINT / SIGTERM of the controller: the in-flight write finishes, nothing new starts, 130
//   - a restart owed by a run killed between the change and the restart happens next run, once
//   - two runs at once, and a lock left by a dead run
//   - apt killed half way through a transaction: the next run finishes dpkg's work
//   - the SSH connection dropped while the firewall changes: the change runs to its end
// Slow steps (a validate or cmd that sleeps) sleep only while /run/safety-slow exists, so
// the runs after the fault are fast.

import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { converge, resourcesOf, startConverge, type CliResult } from '../support/cli.js';
import { startFleet, type Fleet } from '../support/fleet.js';

const HOST = 'safe-1';
const SLOW = '/run/safety-slow';
/**
 * A validate command that, while SLOW exists, says it started (at `mark`) and sleeps `seconds` first.
 * (A test may end the sleep early: `|| true` makes that no failure.)
 */
const slowValidate = (mark: string, seconds: number, check: string) => `if [ -e ${SLOW} ]; then touch ${mark}; sleep ${seconds} || true; fi; ${check}`;
/** Ends every SSH connection to the host, as a network cut would (^: not this command's own sh -c). */
const DROP_CONNECTIONS = "pkill -f '^sshd: root@notty'";

describe('safety promises on one host', () => {
  let fleet: Fleet;
  let inv: string;
  let states: string;

  const state = (name: string, resources: Record<string, unknown>) => writeFileSync(join(states, `${name}.yaml`), JSON.stringify({ resources }, null, 2));
  const args = (name: string, extra: string[] = []) => ['apply', name, '-i', inv, '--json', ...extra];
  const run = (name: string, extra: string[] = []) => converge(args(name, extra));
  const hostOf = (res: CliResult) => res.json.hosts.find((h: { host: string }) => h.host === HOST);
  const sh = async (cmd: string) => {
    const r = await fleet.exec(HOST, cmd);
    expect(r.code, `${cmd}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };
  /** Polls on the host itself (no docker exec per try) until `cond` holds. */
  const waitOnHost = async (cond: string, seconds = 60) => {
    const r = await fleet.exec(HOST, `i=0; until ${cond}; do i=$((i+1)); [ $i -gt ${seconds * 50} ] && exit 1; sleep 0.02; done`);
    expect(r.code, `waited ${seconds}s for: ${cond}`).toBe(0);
  };
  const until = async (cond: () => boolean, seconds = 60) => {
    for (const end = Date.now() + seconds * 1000; !cond(); ) {
      if (Date.now() > end) throw new Error(`waited ${seconds}s for ${cond}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const unit = async (name: string) => (await sh(`systemctl show -p MainPID,ActiveEnterTimestamp --value ${name}`)).trim();
  const unitFile = (path: string) => ({ file: { path, content: '[Service]\nExecStart=/bin/sleep infinity\n' } });

  beforeAll(async () => {
    fleet = await startFleet([HOST]);
    states = join(fleet.dir, 'states');
    mkdirSync(states);
    writeFileSync(join(states, 'top.yaml'), 'roles:\n  safe: [base]\n');
    state('base', { srv: { directory: { path: '/srv/safety' } } });
    inv = join(fleet.dir, 'inventory.yaml');
    fleet.writeInventory(inv, { roles: { safe: [HOST] }, states });
    const first = await converge(['highstate', '-i', inv, '--json', '--accept-new-host-keys']);
    expect(first.code, first.stderr).toBe(0);
  });

  afterAll(async () => fleet?.close());

  it('a failing validate keeps the old file, restarts nothing, fails the host and skips dependents', async () => {
    const resources = (sudoers: string) => ({
      'app-unit': unitFile('/etc/systemd/system/safety-app.service'),
      app: { service: { name: 'safety-app', running: true }, require: ['app-unit'], watch: ['sudoers'] },
      sudoers: { file: { path: '/etc/sudoers.d/safety', content: sudoers, mode: '0440', validate: 'visudo -cf %s' } },
      after: { cmd: { run: 'touch /srv/safety/after-sudoers', creates: '/srv/safety/after-sudoers' }, require: ['sudoers'] },
      // Written in the same exec as sudoers (a file group): it changes though sudoers fails.
      note: { file: { path: '/srv/safety/note', content: `${sudoers.length}\n` } },
    });
    const good = '%safety ALL=(ALL) NOPASSWD: ALL\n';
    state('validate', resources(good));
    expect((await run('validate')).code).toBe(0);
    await sh('rm /srv/safety/after-sudoers');
    const before = await unit('safety-app');

    state('validate', resources('%safety ALL=(ALL) NOPASSWD: ALL\nthis is not sudoers syntax\n'));
    const res = await run('validate');
    expect(res.code).toBe(1);
    expect(hostOf(res).status).toBe('failed');
    const rs = resourcesOf(res.json, HOST);
    expect(rs.sudoers.status).toBe('failed');
    expect(rs.sudoers.reason).toMatch(/^writing \/etc\/sudoers\.d\/safety failed \(exit 3\): validate failed, old file kept: .*syntax error/);
    expect(rs.note).toMatchObject({ status: 'changed', reason: 'changed: content (written in one exec with 1 more)' });
    expect(rs.app).toMatchObject({ status: 'skipped', reason: 'requisite sudoers failed' });
    expect(rs.after).toMatchObject({ status: 'skipped', reason: 'requisite sudoers failed' });
    // The old file, and no temporary one beside it (the image's own drop-ins, README and converge-deploy, stay).
    expect(await sh('cat /etc/sudoers.d/safety; ls -A /etc/sudoers.d')).toBe(`${good}README\nconverge-deploy\nsafety\n`);
    expect(await sh('test -e /srv/safety/after-sudoers || echo absent')).toBe('absent\n');
    expect(await unit('safety-app')).toBe(before);

    // The user resource's sudoers drop-in goes through the same validated swap (visudo made to fail here).
    state('sudo-user', {
      dev: { user: { name: 'safety-dev', sudo: 'nopasswd' } },
      'dev-marker': { cmd: { run: 'touch /srv/safety/dev-ready', creates: '/srv/safety/dev-ready' }, require: ['dev'] },
    });
    expect((await run('sudo-user')).code).toBe(0);
    await sh("rm /srv/safety/dev-ready; echo '# edited by hand' > /etc/sudoers.d/converge-safety-dev");
    await sh(`printf '#!/bin/sh\\necho "visudo: >>> $2: syntax error near line 1 <<<"; exit 1\\n' > /usr/local/sbin/visudo && chmod 755 /usr/local/sbin/visudo`);
    try {
      const u = await run('sudo-user');
      expect(u.code).toBe(1);
      const us = resourcesOf(u.json, HOST);
      expect(us.dev.status).toBe('failed');
      expect(us.dev.reason).toMatch(/^writing \/etc\/sudoers\.d\/converge-safety-dev failed \(exit 3\): validate failed, old file kept/);
      expect(us['dev-marker'].status).toBe('skipped');
      expect(await sh('cat /etc/sudoers.d/converge-safety-dev; ls -A /etc/sudoers.d')).toBe('# edited by hand\nREADME\nconverge-deploy\nconverge-safety-dev\nsafety\n');
    } finally {
      await sh('rm -f /usr/local/sbin/visudo');
    }
    expect((await run('sudo-user')).code).toBe(0);
  });

  it('a full disk keeps the old file; the error names the host, the path and the cause', async () => {
    await sh('mkdir -p /srv/full && mount -t tmpfs -o size=64k tmpfs /srv/full');
    try {
      await sh("printf 'old-content\\n' > /srv/full/app.conf && { dd if=/dev/zero of=/srv/full/filler bs=1k 2>/dev/null; true; }");
      state('full', { conf: { file: { path: '/srv/full/app.conf', content: `${'x'.repeat(16 * 1024)}\n` } } });
      const res = await converge(['apply', 'full', '-i', inv]);
      expect(res.code).toBe(1);
      expect(res.stdout).toMatch(new RegExp(`^${HOST}  failed `, 'm'));
      expect(res.stdout).toMatch(/^ {2}! conf \[file:\/srv\/full\/app\.conf\] failed: writing \/srv\/full\/app\.conf failed \(exit 1\): cat: write error: No space left on device/m);
      expect(await sh('cat /srv/full/app.conf; ls -A /srv/full')).toBe('old-content\napp.conf\nfiller\n');
      await sh('rm /srv/full/filler');
      expect((await run('full')).code).toBe(0);
      expect(await sh('wc -c < /srv/full/app.conf; ls -A /srv/full')).toBe(`${16 * 1024 + 1}\napp.conf\n`);
    } finally {
      await sh('umount /srv/full');
    }
  });

  it('a connection dropped during validate: the old file stays whole, the write finishes on the host, the next run waits for it', async () => {
    await sh(`mkdir -p /srv/drop && printf 'old-content\\n' > /srv/drop/app.conf && touch ${SLOW}`);
    state('drop', { conf: { file: { path: '/srv/drop/app.conf', content: 'new-content\n', validate: slowValidate('/run/safety-validating', 60, 'grep -qx new-content %s') } } });
    const a = startConverge(args('drop'));
    await waitOnHost('[ -e /run/safety-validating ]');
    await sh(DROP_CONNECTIONS);
    const res = await a.done;
    expect(res.code).toBe(1);
    expect(resourcesOf(res.json, HOST).conf.reason).toMatch(/^writing \/srv\/drop\/app\.conf failed \(the SSH connection was lost; the command may still be running on the host\)/);
    expect(await sh('cat /srv/drop/app.conf')).toBe('old-content\n');

    // sshd lets the write run on: a new run must not start changing things beside it.
    const refused = await run('drop');
    expect(refused.code).toBe(1);
    expect(hostOf(refused).error.message).toMatch(/^commands an interrupted converge run started are still running on this host \(sleep 60 \(pid \d+\)\)$/);
    await sh(`rm ${SLOW}`);
    const next = startConverge(args('drop', ['--wait-lock', '60']));
    await until(() => /waiting up to 60s for commands of an interrupted run to finish: sleep 60 \(pid \d+\)/.test(next.output().stderr));
    // The leftover write goes on (its validate's sleep ends) and swaps the new file in; then the next run starts.
    await sh("pkill -f '^sleep 60'");
    const done = await next.done;
    expect(done.code, done.stderr).toBe(0);
    expect(resourcesOf(done.json, HOST).conf.status).toBe('unchanged');
    expect(await sh('cat /srv/drop/app.conf; ls -A /srv/drop')).toBe('new-content\napp.conf\n');
  });

  it('a connection dropped mid-transfer: the content arrived cut short is never renamed in', async () => {
    const line = `${'0123456789abcdef'.repeat(6)}\n`;
    const big = line.repeat(Math.ceil((8 << 20) / line.length));
    // An old file too big to diff (a diff of 8 MB would only slow the run down).
    const oldHash = (await sh("yes old-content | head -c 300000 > /srv/drop/big.dat && sha256sum < /srv/drop/big.dat")).trim();
    state('bigdrop', { big: { file: { path: '/srv/drop/big.dat', content: big } } });
    const a = startConverge(args('bigdrop'));
    // On the host: the moment the temp file has some but not all bytes, cut the connection.
    await sh(`end=$(($(date +%s) + 60)); until s=$(stat -c %s /srv/drop/.converge-* 2>/dev/null) && [ "$s" -gt 0 ]; do [ $(date +%s) -lt $end ] || exit 1; done; ${DROP_CONNECTIONS}`);
    const res = await a.done;
    expect(res.code).toBe(1);
    expect(resourcesOf(res.json, HOST).big.reason).toMatch(/the SSH connection was lost/);
    // The writer saw its stdin end early, refused the partial content and removed its temp file.
    await waitOnHost('! ls /srv/drop/.converge-* >/dev/null 2>&1', 20);
    expect(await sh('sha256sum < /srv/drop/big.dat; ls -A /srv/drop')).toBe(`${oldHash}\napp.conf\nbig.dat\n`);
    const next = await run('bigdrop');
    expect(next.code, next.stderr).toBe(0);
    expect(await sh('sha256sum < /srv/drop/big.dat')).toBe(`${createHash('sha256').update(big).digest('hex')}  -\n`);
  });

  it('a write killed outright leaves its temp file, and the next write removes it', async () => {
    await sh(`printf 'old-content\\n' > /srv/drop/app.conf && touch ${SLOW} && rm -f /run/safety-validating`);
    state('drop', { conf: { file: { path: '/srv/drop/app.conf', content: 'newer-content\n', validate: slowValidate('/run/safety-validating', 30, 'grep -qx newer-content %s') } } });
    const a = startConverge(args('drop'));
    await waitOnHost('[ -e /run/safety-validating ]');
    // SIGKILL every process of the write (as the OOM killer or a crash would): no trap runs.
    await sh("kill -9 -$(ps -o pgid= -p $(pgrep -f '^sleep 30') | tr -d ' ')");
    const res = await a.done;
    expect(res.code).toBe(1);
    expect(resourcesOf(res.json, HOST).conf.reason).toMatch(/^writing \/srv\/drop\/app\.conf failed \(killed by SIGKILL\)/);
    expect(await sh('cat /srv/drop/app.conf; ls -A /srv/drop | sed "s/^\\.converge-[A-Za-z0-9]\\{8\\}$/TEMP/"')).toBe('old-content\nTEMP\napp.conf\nbig.dat\n');
    await sh(`rm ${SLOW}`);
    const next = await run('drop');
    expect(next.code, next.stderr).toBe(0);
    expect(await sh('cat /srv/drop/app.conf; ls -A /srv/drop')).toBe('newer-content\napp.conf\nbig.dat\n');
  });

  describe('an interrupted controller stops at a safe point', () => {
    const resources = (a: string) => ({
      a: { file: { path: '/srv/sig/a.conf', content: a, validate: slowValidate('/run/safety-sig', 4, 'true %s') } },
      b: { file: { path: '/srv/sig/b.conf', content: 'b\n' }, require: ['a'] },
      c: { cmd: { run: 'touch /srv/sig/c', creates: '/srv/sig/c' }, require: ['b'] },
    });
    const interrupt = async (signal: NodeJS.Signals, json: boolean) => {
      await sh(`touch ${SLOW}; rm -f /run/safety-sig`);
      const r = startConverge(['apply', 'sigint', '-i', inv, ...(json ? ['--json'] : [])]);
      await waitOnHost('[ -e /run/safety-sig ]');
      r.child.kill(signal);
      return r.done;
    };

    it('SIGINT: the write in flight completes, later resources are not attempted, exit 130', async () => {
      state('sigint', resources('a-1\n'));
      const res = await interrupt('SIGINT', true);
      expect(res.code).toBe(130);
      expect(res.stderr).toContain('SIGINT: stopping at a safe point (commands in flight finish; nothing new starts)');
      expect(res.json.interrupted).toBe(true);
      const rs = resourcesOf(res.json, HOST);
      expect(rs.a.status).toBe('changed');
      for (const id of ['b', 'c']) expect(rs[id]).toMatchObject({ status: 'skipped', reason: 'not attempted: the run was interrupted' });
      expect(await sh('cat /srv/sig/a.conf; ls -A /srv/sig')).toBe('a-1\na.conf\n');
    });

    it('SIGTERM likewise, and the text summary says what was and was not applied', async () => {
      state('sigint', resources('a-2\n'));
      const res = await interrupt('SIGTERM', false);
      expect(res.code).toBe(130);
      expect(res.stderr).toContain('SIGTERM: stopping at a safe point');
      expect(res.stdout).toMatch(/^ {2}~ a \[file:\/srv\/sig\/a\.conf\] changed \(pending\): content$/m);
      expect(res.stdout).toMatch(/^ {2}- b \[file:\/srv\/sig\/b\.conf\] skipped: not attempted: the run was interrupted$/m);
      expect(res.stdout).toMatch(/^ {2}- c \[cmd:c\] skipped: not attempted: the run was interrupted$/m);
      expect(res.stdout).toMatch(/resources: 1 changed, 0 failed, 2 skipped; .*\(INTERRUPTED: resources not listed as changed were not applied\)$/m);
      expect(await sh('cat /srv/sig/a.conf; ls -A /srv/sig')).toBe('a-2\na.conf\n');
      await sh(`rm ${SLOW}`);
      const rest = await run('sigint');
      expect(rest.code).toBe(0);
      expect(Object.values(resourcesOf(rest.json, HOST)).map((r: any) => `${r.id}:${r.status}`)).toEqual(['a:unchanged', 'b:changed', 'c:changed']);
    });
  });

  it('a restart owed by a run killed between the change and the restart happens in the next run, once', async () => {
    const resources = (conf: string) => ({
      'web-unit': unitFile('/etc/systemd/system/safety-web.service'),
      conf: { file: { path: '/srv/web/web.conf', content: conf } },
      // Ordered between the change and the restart; slow while SLOW exists.
      pause: { cmd: { run: `if [ -e ${SLOW} ]; then touch /run/safety-pausing; sleep 30; fi` }, onchanges: ['conf'] },
      web: { service: { name: 'safety-web', running: true }, require: ['web-unit', 'pause'], watch: ['conf'] },
    });
    state('journal', resources('v1\n'));
    expect((await run('journal')).code).toBe(0);
    const before = await unit('safety-web');

    state('journal', resources('v2\n'));
    await sh(`touch ${SLOW}; rm -f /run/safety-pausing`);
    const killed = startConverge(args('journal'));
    await waitOnHost('[ -e /run/safety-pausing ]');
    killed.child.kill('SIGKILL');
    await killed.done;
    expect(await sh('cat /srv/web/web.conf; sort /var/lib/converge/pending')).toBe('v2\npause\nweb\n');
    expect(await unit('safety-web')).toBe(before);

    // The killed run's pause is still sleeping on the host: end it (the run lock waits for it otherwise).
    await sh(`rm ${SLOW}; pkill -f '^sleep 30'`);
    const next = await run('journal', ['--wait-lock', '30']);
    expect(next.code, next.stderr).toBe(0);
    const rs = resourcesOf(next.json, HOST);
    expect(rs.conf.status).toBe('unchanged');
    expect(rs.web).toMatchObject({ status: 'changed', notified: ['restarted (owed by an earlier run that did not finish it)'] });
    const restarted = await unit('safety-web');
    expect(restarted.split('\n')[0]).not.toBe(before.split('\n')[0]);
    expect(await sh('cat /var/lib/converge/pending')).toBe('');

    const third = await run('journal');
    expect(Object.values(resourcesOf(third.json, HOST)).map((r: any) => r.status)).toEqual(['unchanged', 'unchanged', 'unchanged', 'unchanged']);
    expect(await unit('safety-web')).toBe(restarted);
  });

  it('two runs at once: the second is refused naming the first, or queues with --wait-lock; a dead run holds nothing', async () => {
    state('lock', {
      slow: { cmd: { run: `if [ -e ${SLOW} ]; then touch /run/safety-locked-in; sleep 60 || true; fi; echo ran >> /srv/safety/lock.log; touch /srv/safety/lock.done`, creates: '/srv/safety/lock.done' } },
    });
    /** Starts a run that waits for the lock, and lets the slow command end once it says so. */
    const queueBehind = async (waitingFor: RegExp) => {
      const q = startConverge(args('lock', ['--wait-lock', '60']));
      await until(() => waitingFor.test(q.output().stderr));
      await sh("pkill -f '^sleep 60'");
      return q.done;
    };
    await sh(`touch ${SLOW}; rm -f /run/safety-locked-in /srv/safety/lock.*`);
    const first = startConverge(args('lock'));
    await waitOnHost('[ -e /run/safety-locked-in ]');
    const refused = await run('lock');
    expect(refused.code).toBe(1);
    expect(hostOf(refused).error.message).toMatch(new RegExp(`^another converge run holds this host's lock \\(\\S+ pid ${first.child.pid} since \\S+\\)$`));
    expect(hostOf(refused).error.hint).toMatch(/--wait-lock/);
    const queued = await queueBehind(new RegExp(`${HOST}: waiting up to 60s for another converge run: \\S+ pid ${first.child.pid} since`));
    expect(queued.code, queued.stderr).toBe(0);
    // It planned again once it had the lock: the first run had done the work.
    expect(resourcesOf(queued.json, HOST).slow.status).toBe('unchanged');
    expect((await first.done).code).toBe(0);
    expect(await sh('cat /srv/safety/lock.log')).toBe('ran\n');

    // A run killed mid-command: its lock dies with its connection, its command runs on.
    await sh('rm -f /run/safety-locked-in /srv/safety/lock.done');
    const dead = startConverge(args('lock'));
    await waitOnHost('[ -e /run/safety-locked-in ]');
    dead.child.kill('SIGKILL');
    await dead.done;
    const early = await run('lock');
    expect(early.code).toBe(1);
    expect(hostOf(early).error.message).toMatch(/^commands an interrupted converge run started are still running on this host \(sleep 60 \(pid \d+\)\)$/);
    const after = await queueBehind(/waiting up to 60s for commands of an interrupted run to finish: sleep 60 \(pid \d+\)/);
    expect(after.code, after.stderr).toBe(0);
    expect(after.stderr).not.toMatch(/waiting up to 60s for another converge run/);
    expect(resourcesOf(after.json, HOST).slow.status).toBe('unchanged');
    // The command ran once per run that started it, never twice at once.
    expect(await sh(`cat /srv/safety/lock.log; rm ${SLOW}`)).toBe('ran\nran\n');
  });

  it('apt killed half way through a transaction: the next run finishes what dpkg left and converges', async () => {
    // A local apt repository with one package whose first configure is slow.
    await sh(String.raw`set -e
      b=/tmp/slowpkg; r=/srv/repo
      mkdir -p $b/DEBIAN $b/usr/share/converge-slow $r
      printf 'Package: converge-slow\nVersion: 1.0\nArchitecture: all\nMaintainer: converge tests <t@example.invalid>\nDescription: slow to configure the first time\n' > $b/DEBIAN/control
      printf '#!/bin/sh\nif [ "$1" = configure ] && [ ! -e /run/slow-once ]; then touch /run/slow-once /run/slow-configuring; sleep 60; fi\nexit 0\n' > $b/DEBIAN/postinst
      chmod 755 $b/DEBIAN/postinst; echo data > $b/usr/share/converge-slow/data
      dpkg-deb -b $b $r/converge-slow_1.0_all.deb >/dev/null
      cd $r; { dpkg-deb -f converge-slow_1.0_all.deb; echo "Filename: ./converge-slow_1.0_all.deb"; echo "Size: $(stat -c %s converge-slow_1.0_all.deb)"; echo "SHA256: $(sha256sum < converge-slow_1.0_all.deb | cut -d' ' -f1)"; echo; } > Packages
      echo 'deb [trusted=yes] file:/srv/repo ./' > /etc/apt/sources.list.d/converge-slow.list
      apt-get update -q -o Dir::Etc::sourcelist=/etc/apt/sources.list.d/converge-slow.list -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0 >/dev/null
      mkdir -p /var/lib/apt/periodic; touch /var/lib/apt/periodic/update-success-stamp`);
    state('apt', { slow: { package: { name: 'converge-slow' } } });
    const a = startConverge(args('apt'));
    await waitOnHost('[ -e /run/slow-configuring ]', 120);
    // Everything of the transaction dies at once, and the connection with it (unless the run saw apt die first and ended).
    await sh(`pkill -9 -x apt-get; pkill -9 -x dpkg; pkill -9 -f '^sleep 60'; ${DROP_CONNECTIONS}; true`);
    const res = await a.done;
    expect(res.code).toBe(1);
    expect(resourcesOf(res.json, HOST).slow.status).toBe('failed');
    expect(await sh("dpkg-query -W -f '${db:Status-Abbrev}\\n' converge-slow; ls /var/lib/dpkg/updates | wc -l")).toMatch(/^iF \n[1-9]\d*\n$/);

    const next = await run('apt');
    expect(next.code, next.stdout).toBe(0);
    expect(resourcesOf(next.json, HOST).slow).toMatchObject({ status: 'changed', changes: [{ path: 'installed', before: '1.0 (half-configured)', after: 'installed' }] });
    expect(await sh("dpkg-query -W -f '${db:Status-Abbrev}\\n' converge-slow; ls /var/lib/dpkg/updates | wc -l; dpkg --audit")).toBe('ii \n0\n');
    expect(Object.values(resourcesOf((await run('apt')).json, HOST)).map((r: any) => r.status)).toEqual(['unchanged']);
  });

  it('a connection dropped while the firewall changes: the whole change is applied, never half of it', async () => {
    state('fw-pkg', { ufw: { package: { name: 'ufw' } } });
    const pkg = await run('fw-pkg');
    expect(pkg.code, pkg.stderr).toBe(0);
    const ports = Array.from({ length: 25 }, (_, i) => 7000 + i);
    const rules = [{ port: 22, proto: 'tcp', comment: 'ssh' }, ...ports.map((port) => ({ port, proto: 'tcp' }))];
    state('fw', { firewall: { ufw: { enabled: true, default: { incoming: 'deny', outgoing: 'allow' }, rules } } });
    const a = startConverge(args('fw'));
    // ufw prints a line per rule: cut the connection once the first web rule is in.
    await waitOnHost("grep -q '^### tuple ### allow tcp 7000 ' /etc/ufw/user.rules", 120);
    await sh(DROP_CONNECTIONS);
    const res = await a.done;
    expect(res.code).toBe(1);
    // The change goes on without the connection, to its last step (enable).
    await waitOnHost("grep -q '^ENABLED=yes' /etc/ufw/ufw.conf && ! pgrep -x ufw >/dev/null", 60);
    const tuples = await sh("sed -n 's/^### tuple ### allow tcp \\([0-9]*\\) .*/\\1/p' /etc/ufw/user.rules");
    expect(tuples.trim().split('\n').map(Number)).toEqual([22, ...ports]);
    expect(await sh('ufw status | head -1')).toBe('Status: active\n');
    const next = await run('fw');
    expect(next.code, next.stderr).toBe(0);
    expect(resourcesOf(next.json, HOST).firewall.status).toBe('unchanged');
  });
});
