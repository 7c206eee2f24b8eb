// symlink, line, file source, a file_tree (copied, then cleaned), cron, sysctl, timezone and locale on one real
// host, in one state tree: the first run converges everything, a network
// sysctl included (the test image makes the namespace's /proc/sys/net
// writable), but a kernel.* sysctl, which fails with the kernel's reason since
// Docker mounts /proc/sys read-only; with /proc/sys writable it converges
// too; a second run changes nothing; drift made by hand in each is what
// --check reports, exactly, and --check changes nothing.

import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { converge, resourcesOf } from '../support/cli.js';
import { startFleet, type Fleet } from '../support/fleet.js';
import { snapshot } from '../support/snapshot.js';
import type { FactQuery } from '../../src/core/resource.js';
import { batchScript, splitBatch } from '../../src/engine/facts.js';
import { fileFactQuery } from '../../src/resources/file.js';
import { statQuery } from '../../src/resources/lib/fs-common.js';

const HOST = 'fx-1';
const LOGO = '/usr/local/share/converge/logo.bin';
const CRON = '/etc/cron.d/converge-backup';
const SYSCTL = 'net.core.somaxconn';
// Per IPC namespace, so setting it in the test changes nothing outside the container; under /proc/sys/kernel, read-only.
const KERNEL_SYSCTL = 'kernel.msgmax';

const state = `
resources:
  site-link:
    symlink: { path: /etc/nginx/sites-enabled/app, target: /etc/nginx/sites-available/app }
  release-link:
    symlink: { path: /srv/app/current, target: /srv/app/releases/2, force: true }
  ssh-root:
    line: { path: /etc/ssh/sshd_config, key: PermitRootLogin, value: prohibit-password, separator: " ", match: '^#?\\s*PermitRootLogin\\s' }
  ssh-tries:
    line: { path: /etc/ssh/sshd_config, key: MaxAuthTries, value: 4, separator: " ", match: '^#?\\s*MaxAuthTries\\s' }
  app-default:
    line: { path: /etc/default/converge-app, key: WORKERS, value: 3, separator: "=", create: true }
  logo:
    file: { path: ${LOGO}, source: files/logo.bin }
  backup-cron:
    cron: { name: converge-backup, minute: 30, hour: 2, command: /usr/local/bin/backup --quiet, env: { MAILTO: "" } }
  somaxconn:
    sysctl: { name: ${SYSCTL}, value: 1024 }
  msgmax:
    sysctl: { name: ${KERNEL_SYSCTL}, value: 16384 }
  tz:
    timezone: { name: Europe/Paris }
  site:
    file_tree: { path: /srv/site, source: files/site, owner: www-data, group: www-data, clean: true, exclude: [cache] }
  en-us:
    locale: { name: en_US.UTF-8, default: true }
`;
const IDS = ['site-link', 'release-link', 'ssh-root', 'ssh-tries', 'app-default', 'logo', 'backup-cron', 'somaxconn', 'msgmax', 'tz', 'en-us', 'site'];

describe('file extras on a real host', () => {
  let fleet: Fleet;
  let inventory: string;
  let exec: (cmd: string) => Promise<string>;
  // Binary, with NUL bytes, and larger than one SSH channel window.
  const logo = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0]), randomBytes(200 * 1024)]);
  const run = (...args: string[]) => converge(['highstate', '-i', inventory, '--json', ...args]);
  const statuses = (json: unknown) => Object.fromEntries(Object.entries(resourcesOf(json, HOST)).map(([id, r]) => [id, r.status]));
  const allBut = (status: string, others: Record<string, string>) => Object.fromEntries(IDS.map((id) => [id, others[id] ?? status]));
  // What --check must leave as it was: /etc (snapshot), the other managed paths, and the running kernel value.
  const hostState = async () => `${await snapshot(fleet, HOST, ['/srv', '/usr/local/share/converge'])}\n${await exec(`sysctl -n ${SYSCTL}; locale -a`)}`;

  beforeAll(async () => {
    const t = Date.now();
    fleet = await startFleet([HOST]);
    exec = async (cmd) => {
      const r = await fleet.exec(HOST, cmd);
      if (r.code !== 0) throw new Error(`${cmd}: exit ${r.code}: ${r.stderr}`);
      return r.stdout;
    };
    // locale needs the locales package (tzdata is in the image); a directory is where a release link goes.
    await exec('apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq locales >/dev/null && mkdir -p /srv/app/current && echo old > /srv/app/current/index.html');
    const states = join(fleet.dir, 'states');
    mkdirSync(join(states, 'files'), { recursive: true });
    writeFileSync(join(states, 'top.yaml'), 'roles:\n  fx: [extras]\n');
    writeFileSync(join(states, 'extras.yaml'), state);
    writeFileSync(join(states, 'files/logo.bin'), logo);
    mkdirSync(join(states, 'files/site/css'), { recursive: true });
    writeFileSync(join(states, 'files/site/index.html'), '<h1>site</h1>\n');
    writeFileSync(join(states, 'files/site/css/app.css'), 'body { margin: 0 }\n');
    writeFileSync(join(states, 'files/site/logo.bin'), logo);
    inventory = join(fleet.dir, 'inventory.yaml');
    fleet.writeInventory(inventory, { roles: { fx: [HOST] }, states });
    console.log(`[file-extras] host ready with locales in ${Date.now() - t} ms`);
  });

  afterAll(async () => {
    await fleet?.close();
  });

  it('converges everything, network sysctls included, but a kernel sysctl the kernel refuses, which fails with the reason and persists nothing', async () => {
    expect(await exec('mount | grep " /proc/sys "')).toContain('(ro,');
    expect(await exec('mount | grep " /proc/sys/net "')).toContain('(rw,');
    const t = Date.now();
    const r = await run('--accept-new-host-keys');
    console.log(`[file-extras] first run: ${Date.now() - t} ms`);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(statuses(r.json)).toEqual(allBut('changed', { msgmax: 'failed' }));
    const failed = resourcesOf(r.json, HOST).msgmax;
    expect(failed.reason).toMatch(/^the kernel refused kernel\.msgmax = 16384: sysctl: permission denied on key "kernel\.msgmax"/);
    expect(failed.hint).toMatch(/read-only/);
    expect((await fleet.exec(HOST, `test -e /etc/sysctl.d/99-converge-${KERNEL_SYSCTL}.conf`)).code).toBe(1);
    expect(await exec(`sysctl -n ${SYSCTL}`)).toBe('1024\n');
  });

  it('converges the kernel sysctl once /proc/sys is writable, as on a real host', async () => {
    await exec('mount -o remount,rw,bind /proc/sys');
    const t = Date.now();
    const r = await run();
    console.log(`[file-extras] run with writable /proc/sys: ${Date.now() - t} ms`);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(statuses(r.json)).toEqual(allBut('unchanged', { msgmax: 'changed' }));
    expect(await exec(`sysctl -n ${KERNEL_SYSCTL}`)).toBe('16384\n');

    expect(await exec('readlink /etc/nginx/sites-enabled/app /srv/app/current')).toBe('/etc/nginx/sites-available/app\n/srv/app/releases/2\n');
    expect(await exec("grep -nE '^#?(PermitRootLogin|MaxAuthTries) ' /etc/ssh/sshd_config")).toMatch(/^\d+:PermitRootLogin prohibit-password\n\d+:MaxAuthTries 4\n$/);
    await exec('sshd -t');
    expect(await exec('cat /etc/default/converge-app; stat -c %a /etc/default/converge-app')).toBe('WORKERS=3\n644\n');
    expect((await exec(`sha256sum < ${LOGO}`)).split(' ')[0]).toBe(createHash('sha256').update(logo).digest('hex'));
    expect(await exec(`cat ${CRON}; stat -c '%U:%G %a' ${CRON}`)).toBe(
      '# Managed by converge (cron converge-backup): edits here are overwritten.\nMAILTO=\n30 2 * * * root /usr/local/bin/backup --quiet\nroot:root 644\n',
    );
    expect(await exec(`sysctl -n ${SYSCTL}; cat /etc/sysctl.d/99-converge-${SYSCTL}.conf`)).toBe(`1024\n# Managed by converge.\n${SYSCTL} = 1024\n`);
    expect(await exec('readlink /etc/localtime; cat /etc/timezone; date +%Z')).toMatch(/^\/usr\/share\/zoneinfo\/Europe\/Paris\nEurope\/Paris\nCES?T\n$/);
    expect(await exec('locale -a; grep -x "en_US.UTF-8 UTF-8" /etc/locale.gen; grep ^LANG= /etc/default/locale')).toMatch(/\nen_US\.utf8\n[^]*en_US\.UTF-8 UTF-8\nLANG=en_US\.UTF-8\n$/);
    expect(await exec("cd /srv/site && find . -printf '%p %u:%g %m\\n' | sort && cat index.html && sha256sum < logo.bin")).toBe(
      `. www-data:www-data 755\n./css www-data:www-data 755\n./css/app.css www-data:www-data 644\n./index.html www-data:www-data 644\n./logo.bin www-data:www-data 644\n<h1>site</h1>\n${createHash('sha256').update(logo).digest('hex')}  -\n`,
    );
  });

  it('changes nothing on a second run', async () => {
    const t = Date.now();
    const r = await run();
    console.log(`[file-extras] second run: ${Date.now() - t} ms`);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(statuses(r.json)).toEqual(allBut('unchanged', {}));
  });

  it('--check reports exactly the drift made by hand, hashes only for binary content, and changes nothing', async () => {
    await exec(
      [
        'rm /etc/nginx/sites-enabled/app',
        "sed -i 's/^MaxAuthTries 4$/MaxAuthTries 6/' /etc/ssh/sshd_config",
        `sed -i 's/^30 2 /30 5 /' ${CRON}`,
        `sysctl -qw ${SYSCTL}=4096`,
        'ln -sfn /usr/share/zoneinfo/Etc/UTC /etc/localtime && echo Etc/UTC > /etc/timezone',
        `printf 'x' >> ${LOGO}`,
        "echo '<p>hand edit</p>' >> /srv/site/index.html && chmod 700 /srv/site/css && echo stray > /srv/site/notes.txt && mkdir /srv/site/cache && echo c > /srv/site/cache/page",
      ].join(' && '),
    );
    const before = await hostState();
    const t = Date.now();
    const r = await run('--check');
    console.log(`[file-extras] check with drift: ${Date.now() - t} ms`);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(await hostState()).toBe(before);

    const drifted = { 'site-link': 'would-change', 'ssh-tries': 'would-change', 'backup-cron': 'would-change', somaxconn: 'would-change', tz: 'would-change', logo: 'would-change', site: 'would-change' };
    expect(statuses(r.json)).toEqual(allBut('unchanged', drifted));
    const res = resourcesOf(r.json, HOST);
    expect(res['site-link'].changes).toEqual([{ path: 'target', action: 'create', after: '/etc/nginx/sites-available/app' }]);
    expect(res['ssh-tries'].changes).toMatchObject([{ path: 'line', action: 'update', before: 'MaxAuthTries 6', after: 'MaxAuthTries 4' }]);
    expect(res['ssh-tries'].changes[0].diff).toContain('-MaxAuthTries 6\n+MaxAuthTries 4\n');
    expect(res['backup-cron'].changes.map((c: { path: string }) => c.path)).toEqual(['content']);
    expect(res['backup-cron'].changes[0].diff).toContain('-30 5 * * * root /usr/local/bin/backup --quiet\n+30 2 * * * root /usr/local/bin/backup --quiet\n');
    expect(res.somaxconn.changes).toEqual([{ path: 'value', action: 'update', before: '4096', after: '1024' }]);
    expect(res.tz.changes.map((c: { path: string; before: string }) => [c.path, c.before])).toEqual([
      ['/etc/localtime target', '/usr/share/zoneinfo/Etc/UTC'],
      ['/etc/timezone content', expect.stringMatching(/^sha256:/)],
    ]);
    expect(res.site.changes.map(({ diff: _d, ...c }: { diff?: string }) => c)).toEqual([
      { path: 'mode:css', action: 'update', before: '0700', after: '0755' },
      { path: 'content:index.html', action: 'update', before: expect.stringMatching(/^sha256:/), after: expect.stringMatching(/^sha256:/) },
      { path: 'entry:notes.txt', action: 'delete', before: 'file' },
    ]);
    expect(res.site.changes[1].diff).toContain(' <h1>site</h1>\n-<p>hand edit</p>\n');
    expect(res.logo.changes).toEqual([{ path: 'content', action: 'update', before: expect.stringMatching(/^sha256:/), after: `sha256:${createHash('sha256').update(logo).digest('hex')}` }]);
  });

  it('puts the drift right, and only the drift', async () => {
    const r = await run();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(statuses(r.json)).toEqual(allBut('unchanged', { 'site-link': 'changed', 'ssh-tries': 'changed', 'backup-cron': 'changed', somaxconn: 'changed', tz: 'changed', logo: 'changed', site: 'changed' }));
    expect(await exec(`sysctl -n ${SYSCTL}; readlink /etc/localtime; grep -c '^MaxAuthTries 4$' /etc/ssh/sshd_config`)).toBe('1024\n/usr/share/zoneinfo/Europe/Paris\n1\n');
    // The stray file is gone, the excluded cache stays.
    expect(await exec('cd /srv/site && ls -A && cat index.html && stat -c %a css')).toBe('cache\ncss\nindex.html\nlogo.bin\n<h1>site</h1>\n755\n');
    expect(statuses((await run('--check')).json)).toEqual(allBut('unchanged', {}));
  });

  it("a batch's stat and sha256sum tables answer every file and directory query as the query alone does, in two commands", async () => {
    const dir = '/tmp/tables';
    const odd = ['two  spaces', 'new\nline', 'tab\tname', 'back\\slash'].map((n) => `${dir}/${n}`);
    const plain = ['file', 'file2', 'sub/file', 'with space', 'secret', 'dir', 'link', 'fifo', 'absent'].map((n) => `${dir}/${n}`);
    // /tmp/tables/file is a prefix of file2 and a suffix of nothing else; sub/file has the same content; nothing reads the FIFO (it would block).
    await exec(`mkdir -p ${dir}/sub ${dir}/dir && cd ${dir} && echo a > file && echo b > file2 && echo a > sub/file && echo c > 'with space' && echo s > secret && chmod 600 secret && ln -s file link && mkfifo fifo && for f in 'two  spaces' "$(printf 'new\\nline')" "$(printf 'tab\\tname')" 'back\\slash'; do echo odd > "$f"; done`);
    const sum = (text: string) => createHash('sha256').update(text).digest('hex');
    const queries = (paths: string[], fetch: boolean): FactQuery[] =>
      paths.flatMap((p, i) => [statQuery(p), fileFactQuery(`f${i}`, p, i % 2 ? sum('a\n') : undefined, fetch), fileFactQuery(`g${i}`, p, sum('nope'), fetch)]);
    const withoutTables = (qs: FactQuery[]) => qs.map(({ tables: _t, tableArg: _a, ...q }) => q);
    const answers = async (qs: FactQuery[], user: string) => {
      const script = batchScript(qs, 'tok');
      const r = await fleet.exec(HOST, ['runuser', '-u', user, '--', 'env', 'PATH=/tmp/tables-bin:/usr/bin:/bin', 'sh', '-c', script]);
      expect(r.code, r.stderr).toBe(0);
      return [...splitBatch(r.stdout, qs, 'tok')];
    };
    for (const user of ['root', 'nobody']) {
      const qs = queries([...plain, ...odd], true);
      const answered = await answers(qs, user);
      expect(answered.length).toBe(qs.length);
      expect(answered).toEqual(await answers(withoutTables(qs), user));
    }
    // Each stat and sha256sum logged: over plain paths and expected hashes (nothing to fetch), one of each in all.
    await exec("mkdir -p /tmp/tables-bin && for c in stat sha256sum; do printf '#!/bin/sh\\necho %s >> /tmp/tables-log\\nexec /usr/bin/%s \"$@\"\\n' $c $c > /tmp/tables-bin/$c && chmod 755 /tmp/tables-bin/$c; done");
    await answers(queries(plain, false), 'root');
    expect(await exec('sort /tmp/tables-log | uniq -c | tr -s " "')).toBe(' 1 sha256sum\n 1 stat\n');
    await exec(`rm -rf ${dir} /tmp/tables-bin /tmp/tables-log`);
  });
});
