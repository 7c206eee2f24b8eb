// apt_repo, unattended_upgrades and supervisor_program on one real host.
// The host gets supervisor and unattended-upgrades from Debian, a signed
// local repository (file:/srv/repo, one tiny .deb, InRelease signed by a key
// made on the host, after which gpg is purged: apt must verify with the .asc
// keyring alone), and a non-root user. converge then adds the repository
// (key from the state tree), security-only unattended upgrades, and two
// supervisor programs, one of which watches a file. Checked by docker exec:
// the files, `apt-get install` from the repository with no `apt-get update`
// of its own, `unattended-upgrade --dry-run -d`, supervisorctl and /proc.
// Then: a second run changes nothing (same pids), a watched change restarts
// only its program, and drift by hand is reported exactly by --check, which
// changes nothing on the host.

import { mkdirSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { converge, resourcesOf } from '../support/cli.js';
import { startFleet, type Fleet } from '../support/fleet.js';
import { snapshot } from '../support/snapshot.js';
import { loadScript, restartScript, statusScript } from '../../src/resources/supervisor-program.js';

const HOST = 'aptsup-1';
const TOKEN = 'tok-3f9c1e77-very-secret';

/** Builds and signs a one-package repository in /srv/repo; prints the armored public key. */
const MAKE_REPO = String.raw`set -e
d=$(mktemp -d); mkdir -p $d/DEBIAN $d/usr/share/converge-hello
printf 'Package: converge-hello\nVersion: 1.0\nArchitecture: all\nMaintainer: converge tests <t@example.invalid>\nDescription: tiny package from a local test repository\n' > $d/DEBIAN/control
echo hello > $d/usr/share/converge-hello/hello.txt
R=/srv/repo; mkdir -p $R/pool $R/dists/stable/main/binary-amd64
dpkg-deb --root-owner-group -b $d $R/pool/converge-hello_1.0_all.deb >/dev/null
cd $R; f=pool/converge-hello_1.0_all.deb
{ dpkg-deb -f $f; echo "Filename: $f"; echo "Size: $(stat -c %s $f)"; echo "SHA256: $(sha256sum < $f | cut -d' ' -f1)"; } > dists/stable/main/binary-amd64/Packages
cd dists/stable; p=main/binary-amd64/Packages
{ printf 'Origin: converge-test\nLabel: converge-test\nSuite: stable\nCodename: stable\nArchitectures: amd64\nComponents: main\nDate: %s\nSHA256:\n' "$(date -Ru)"; echo " $(sha256sum < $p | cut -d' ' -f1) $(stat -c %s $p) $p"; } > Release
export GNUPGHOME=$(mktemp -d)
gpg --batch --quiet --passphrase '' --quick-gen-key 'converge test repo <repo@example.invalid>' ed25519 sign never
gpg --batch --yes --clearsign -o InRelease Release
gpg --armor --export
gpgconf --kill all`;

describe('apt_repo, unattended_upgrades and supervisor_program on a container', () => {
  let fleet: Fleet;
  let inv: string;
  let states: string;
  let repoKey: string;
  const run = (...extra: string[]) => converge(['highstate', '-i', inv, '--json', ...extra]);
  const statuses = (json: any) => Object.fromEntries(Object.entries(resourcesOf(json, HOST)).map(([id, r]) => [id, r.status]));
  const sh = async (cmd: string) => {
    const r = await fleet.exec(HOST, cmd);
    expect(r.code, `${cmd}: ${r.stdout}${r.stderr}`).toBe(0);
    return r.stdout;
  };
  const pid = async (program: string) => Number((await sh(`supervisorctl pid ${program}`)).trim());
  /** The host as seen by docker exec, plus apt's lists and cache and supervisor's view (without uptimes). */
  const snap = async () => (await snapshot(fleet, HOST, ['/var/lib/apt/lists', '/var/cache/apt'])) + (await sh("supervisorctl status | sed 's/, uptime .*//'"));
  const writeInventory = (settings: string) => {
    fleet.writeInventory(inv, { roles: { app: [HOST] }, states, vars: { ticker_settings: settings } });
    appendFileSync(inv, `secrets:\n  ticker_token: { value: ${JSON.stringify(TOKEN)} }\n`);
  };

  beforeAll(async () => {
    fleet = await startFleet([HOST]);
    const install = 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends supervisor unattended-upgrades gpg gpg-agent 2>&1';
    // The image's package lists may be older than the mirror: refresh once when an install fails.
    if ((await fleet.exec(HOST, install)).code !== 0) await sh(`apt-get update -q 2>&1 && ${install}`);
    await sh('useradd --system --create-home --shell /usr/sbin/nologin ticker');
    repoKey = await sh(MAKE_REPO);
    expect(repoKey).toMatch(/^-----BEGIN PGP PUBLIC KEY BLOCK-----\n/);
    await sh('apt-get purge -y -q gpg gpg-agent 2>&1 && ! command -v gpg');

    states = join(fleet.dir, 'states');
    mkdirSync(join(states, 'keys'), { recursive: true });
    writeFileSync(join(states, 'keys/converge-test.asc'), repoKey);
    writeFileSync(join(states, 'top.yaml'), 'roles:\n  app: [apt, supervisor]\n');
    writeFileSync(
      join(states, 'apt.yaml'),
      `resources:
  test-repo:
    apt_repo:
      name: converge-test
      uris: [file:/srv/repo]
      suites: [stable]
      components: [main]
      key_source: keys/converge-test.asc
  security-upgrades:
    unattended_upgrades:
      blacklist: [salt-.*, converge-hello]
      autoclean_interval: 14
`,
    );
    writeFileSync(
      join(states, 'supervisor.yaml'),
      `resources:
  ticker-settings:
    file: { path: /etc/ticker.conf, content: "{{ ticker_settings }}\\n" }
  ticker:
    supervisor_program:
      name: ticker
      command: "/bin/sh -c 'while true; do echo tick; sleep 5; done'"
      user: ticker
      directory: /tmp
      environment: { GREETING: 'say "hi" 100%', TOKEN: "{{ ticker_token }}" }
      autorestart: true
      stopasgroup: true
      stopwaitsecs: 5
    watch: [ticker-settings]
  tocker:
    supervisor_program:
      name: tocker
      command: /bin/sleep 100000
      user: ticker
`,
    );
    inv = join(fleet.dir, 'inventory.yaml');
    writeInventory('fast');
  });

  afterAll(async () => {
    await fleet?.close();
  });

  it('converges: repository with its key, security-only upgrades, programs running as their user', async () => {
    const r = await run('--accept-new-host-keys');
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(statuses(r.json)).toEqual({ 'test-repo': 'changed', 'security-upgrades': 'changed', 'ticker-settings': 'changed', ticker: 'changed', tocker: 'changed' });
    const res = resourcesOf(r.json, HOST);
    expect(res['test-repo'].changes.map((c: any) => c.path)).toEqual(['key', 'sources', 'index']);
    expect(res.ticker.changes.map((c: any) => [c.path, c.action])).toEqual([
      ['config', 'create'],
      ['running', 'create'],
    ]);
    // The program's environment holds a secret: its file shows as hashes only, and the secret is nowhere in the output.
    expect(res.ticker.changes[0]).toMatchObject({ sensitive: true });
    expect(res.ticker.changes[0].diff).toBeUndefined();
    expect(r.stdout + r.stderr).not.toContain(TOKEN);

    // apt_repo: deb822 file and key, root-owned and world-readable (apt reads keys as _apt).
    expect(await sh('cat /etc/apt/sources.list.d/converge-test.sources')).toBe(
      '# Managed by converge (apt_repo converge-test): changes made here are overwritten.\nTypes: deb\nURIs: file:/srv/repo\nSuites: stable\nComponents: main\nSigned-By: /etc/apt/keyrings/converge-test.asc\n',
    );
    expect(await sh('cat /etc/apt/keyrings/converge-test.asc')).toBe(repoKey);
    expect(await sh('stat -c "%a %U:%G" /etc/apt/sources.list.d/converge-test.sources /etc/apt/keyrings/converge-test.asc')).toBe('644 root:root\n644 root:root\n');
    // The repository's index was fetched by apply: the package installs with no apt-get update, signature checked without gpg.
    await sh('DEBIAN_FRONTEND=noninteractive apt-get install -y -q converge-hello 2>&1');
    expect(await sh("dpkg-query -W -f '${Status} ${Version}' converge-hello")).toBe('install ok installed 1.0');
    expect(await sh('apt-cache policy converge-hello')).toMatch(/500 file:\/srv\/repo stable\/main amd64 Packages/);

    // unattended_upgrades: unattended-upgrade itself reports security origins only, and the blacklist.
    const dry = await sh('unattended-upgrade --dry-run -d 2>&1');
    const origins = /^Allowed origins are: (.*)$/m.exec(dry)?.[1].split(', ');
    expect(origins).toEqual([
      'origin=Debian,codename=bookworm-security,label=Debian-Security',
      'origin=Debian,codename=bookworm,label=Debian-Security',
      'origin=Debian,archive=bookworm-security',
      'origin=DebianESMApps,archive=bookworm-apps-security',
      'origin=DebianESM,archive=bookworm-infra-security',
    ]);
    expect(dry).toMatch(/^Initial blacklist: salt-\.\* converge-hello$/m);
    expect(await sh('apt-config dump APT::Periodic')).toBe(
      'APT::Periodic "";\nAPT::Periodic::Update-Package-Lists "1";\nAPT::Periodic::Unattended-Upgrade "1";\nAPT::Periodic::AutocleanInterval "14";\n',
    );

    // supervisor_program: RUNNING as its user, with its environment read back literally, output to syslog.
    expect(await sh('supervisorctl status ticker tocker')).toMatch(/^ticker\s+RUNNING\s+pid \d+.*\ntocker\s+RUNNING\s+pid \d+/);
    const tickerPid = await pid('ticker');
    expect((await sh(`ps -o user= -p ${tickerPid}`)).trim()).toBe('ticker');
    const environ = (await sh(`tr '\\0' '\\n' < /proc/${tickerPid}/environ`)).split('\n');
    expect(environ).toEqual(expect.arrayContaining(['GREETING=say "hi" 100%', `TOKEN=${TOKEN}`]));
    expect(await sh('stat -c "%a %U" /etc/supervisor/conf.d/ticker.conf')).toBe('600 root\n');
    expect(await sh('cat /etc/supervisor/conf.d/ticker.conf')).toContain('\nredirect_stderr=true\nstdout_syslog=true\n');
  });

  it('a second run changes nothing and restarts nothing', async () => {
    const pids = [await pid('ticker'), await pid('tocker')];
    const r = await run();
    expect(r.code, r.stderr).toBe(0);
    expect(new Set(Object.values(statuses(r.json)))).toEqual(new Set(['unchanged']));
    expect([await pid('ticker'), await pid('tocker')]).toEqual(pids);
  });

  it('a watched change restarts only the program that watches it', async () => {
    const [ticker, tocker] = [await pid('ticker'), await pid('tocker')];
    writeInventory('slow');
    const r = await run();
    expect(r.code, r.stderr).toBe(0);
    expect(statuses(r.json)).toMatchObject({ 'ticker-settings': 'changed', ticker: 'changed', tocker: 'unchanged' });
    expect(resourcesOf(r.json, HOST).ticker.notified).toEqual(['restarted supervisor program ticker (ticker-settings changed)']);
    expect(await pid('ticker')).not.toBe(ticker);
    expect(await pid('tocker')).toBe(tocker);
    expect(await sh('supervisorctl status ticker')).toMatch(/RUNNING/);
  });

  it('--check reports a program stopped by hand, exactly, and changes nothing', async () => {
    await sh('supervisorctl stop ticker');
    const before = await snap();
    const r = await run('--check');
    expect(r.code, r.stderr).toBe(2);
    expect(statuses(r.json)).toEqual({ 'test-repo': 'unchanged', 'security-upgrades': 'unchanged', 'ticker-settings': 'unchanged', ticker: 'would-change', tocker: 'unchanged' });
    expect(resourcesOf(r.json, HOST).ticker.changes).toEqual([{ path: 'running', action: 'update', before: 'STOPPED', after: 'RUNNING' }]);
    expect(await snap()).toBe(before);

    const fix = await run();
    expect(fix.code, fix.stderr).toBe(0);
    expect(statuses(fix.json)).toMatchObject({ ticker: 'changed', tocker: 'unchanged' });
    expect(await sh('supervisorctl status ticker')).toMatch(/^ticker\s+RUNNING/);
  });

  it("programs' status is read from supervisord's socket as supervisorctl prints it, and from supervisorctl where it could differ", async () => {
    const query = statusScript({ name: 'ticker' });
    const noUptime = (s: string) => s.replace(/, uptime \S+/g, '');
    // A supervisorctl ahead on PATH that only says it ran: the socket's answer is the real supervisorctl's.
    await sh("mkdir -p /tmp/fakectl && printf '#!/bin/sh\\necho supervisorctl ran\\n' > /tmp/fakectl/supervisorctl && chmod 755 /tmp/fakectl/supervisorctl");
    const real = await fleet.exec(HOST, 'supervisorctl status');
    expect(real.stdout).toMatch(/^ticker\s+RUNNING\s+pid \d+/m);
    expect(noUptime(await sh(`PATH=/tmp/fakectl:$PATH\n${query}`))).toBe(noUptime(`rc=${real.code}\n${real.stdout}`));
    // A [supervisorctl] section in an included file may point elsewhere: supervisorctl itself is asked.
    await sh('printf "[supervisorctl]\\nserverurl=unix:///var/run/supervisor.sock\\n" > /etc/supervisor/conf.d/zz-ctl.conf');
    expect(await sh(`PATH=/tmp/fakectl:$PATH\n${query}`)).toBe('rc=0\nsupervisorctl ran\n');
    await sh('rm -r /etc/supervisor/conf.d/zz-ctl.conf /tmp/fakectl');
  });

  it("a program is loaded, restarted and waited for over supervisord's socket, and by supervisorctl where that could differ", async () => {
    const extra = { name: 'extra', command: '/bin/sleep infinity' };
    await sh("mkdir -p /tmp/fakectl && printf '#!/bin/sh\\necho supervisorctl ran\\n' > /tmp/fakectl/supervisorctl && chmod 755 /tmp/fakectl/supervisorctl");
    await sh("printf '[program:extra]\\ncommand=/bin/sleep infinity\\n' > /etc/supervisor/conf.d/extra.conf");
    // With a supervisorctl on PATH that does nothing, only the socket can have loaded and started it.
    await sh(`PATH=/tmp/fakectl:$PATH\n${loadScript(extra)}`);
    expect(await sh('supervisorctl status extra')).toMatch(/^extra\s+RUNNING/);
    const first = await pid('extra');
    await sh(`PATH=/tmp/fakectl:$PATH\n${restartScript(extra)}`);
    expect(await sh('supervisorctl status extra')).toMatch(/^extra\s+RUNNING/);
    expect(await pid('extra')).not.toBe(first);
    // Loading it again changes nothing: same process.
    const second = await pid('extra');
    await sh(`PATH=/tmp/fakectl:$PATH\n${loadScript(extra)}`);
    expect(await pid('extra')).toBe(second);
    // A [supervisorctl] section in an included file: supervisorctl (here the one that does nothing) is asked, so the wait cannot find the program.
    await sh('printf "[supervisorctl]\\nserverurl=unix:///var/run/supervisor.sock\\n" > /etc/supervisor/conf.d/zz-ctl.conf');
    const slow = await fleet.exec(HOST, `PATH=/tmp/fakectl:$PATH\n${loadScript(extra)}`);
    expect([slow.code, slow.stderr.trim()]).toEqual([4, 'extra: ERROR (no such process)']);
    await sh('rm -r /etc/supervisor/conf.d/zz-ctl.conf /etc/supervisor/conf.d/extra.conf /tmp/fakectl && supervisorctl reread >/dev/null && supervisorctl update extra');
    expect(await sh('supervisorctl status')).not.toMatch(/^extra/m);
  });

  it('a repository whose index is gone (an interrupted refresh) is fetched again', async () => {
    await sh('rm -f /var/lib/apt/lists/_srv_repo_*');
    const check = await run('--check');
    expect(check.code).toBe(2);
    expect(resourcesOf(check.json, HOST)['test-repo'].changes).toEqual([{ path: 'index', action: 'run', before: 'not fetched', after: 'apt-get update of this repository only' }]);
    const r = await run();
    expect(r.code, r.stderr).toBe(0);
    expect(statuses(r.json)['test-repo']).toBe('changed');
    expect(await sh('ls /var/lib/apt/lists')).toMatch(/_srv_repo_dists_stable_InRelease/);
  });
});
