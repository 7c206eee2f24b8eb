// The drift table's bookworm rows (test/support/drift-table.ts) on one host:
// every non-PostgreSQL resource type in one state. One run converges them
// all, a second changes nothing; then each row's hand-made drift is reported
// by --check exactly as the table says, --check changes nothing (witnesses
// and a snapshot of /etc and /srv), apply repairs exactly the drifted
// resources, and a further --check is clean. The PostgreSQL rows run in
// postgres.test.ts, on its primary and replica.
//
// What the rows need that converge does not manage is built on the
// controller and copied in: a signed one-package apt repository
// (/srv/repo, its key in the state tree), a bare git repository
// (/srv/repo.git) and a wheelhouse (/srv/wheelhouse).

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { converge, resourcesOf } from '../support/cli.js';
import { docker } from '../support/docker.js';
import { driftCheckRepair, expectConverged, stateResources } from '../support/drift-harness.js';
import { BOOKWORM_HOST as HOST, rowsOf } from '../support/drift-table.js';
import { startFleet, type Fleet } from '../support/fleet.js';
import { wheel } from '../support/wheel.js';

const rows = rowsOf('bookworm');

/** Builds and signs (with a throwaway key) a one-package repository in `dir`/repo; returns the armored public key. */
function makeAptRepo(dir: string): string {
  const gnupg = mkdtempSync(join(tmpdir(), 'converge-gpg-'));
  try {
    return execFileSync(
      'bash',
      [
        '-ec',
        String.raw`d=$(mktemp -d); mkdir -p $d/DEBIAN $d/usr/share/converge-hello
printf 'Package: converge-hello\nVersion: 1.0\nArchitecture: all\nMaintainer: converge tests <t@example.invalid>\nDescription: tiny package from a local test repository\n' > $d/DEBIAN/control
echo hello > $d/usr/share/converge-hello/hello.txt
R="$1/repo"; mkdir -p $R/pool $R/dists/stable/main/binary-amd64
dpkg-deb --root-owner-group -b $d $R/pool/converge-hello_1.0_all.deb >/dev/null; rm -rf $d
cd $R; f=pool/converge-hello_1.0_all.deb
{ dpkg-deb -f $f; echo "Filename: $f"; echo "Size: $(stat -c %s $f)"; echo "SHA256: $(sha256sum < $f | cut -d' ' -f1)"; } > dists/stable/main/binary-amd64/Packages
cd dists/stable; p=main/binary-amd64/Packages
{ printf 'Origin: converge-test\nLabel: converge-test\nSuite: stable\nCodename: stable\nArchitectures: amd64\nComponents: main\nDate: %s\nSHA256:\n' "$(date -Ru)"; echo " $(sha256sum < $p | cut -d' ' -f1) $(stat -c %s $p) $p"; } > Release
gpg --batch --quiet --passphrase '' --quick-gen-key 'converge test repo <repo@example.invalid>' ed25519 sign never
gpg --batch --yes --clearsign -o InRelease Release
gpg --armor --export
gpgconf --kill all`,
        'make-repo',
        dir,
      ],
      { encoding: 'utf8', env: { ...process.env, GNUPGHOME: gnupg } },
    );
  } finally {
    rmSync(gnupg, { recursive: true, force: true });
  }
}

/** A bare repository with two commits on main, built with git on the controller (hermetic: no user config). */
function makeGitRepo(dir: string): void {
  const env = { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1', GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.com' };
  const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, env });
  const work = join(dir, 'work');
  mkdirSync(work);
  git(dir, 'init', '-q', '--bare', '-b', 'main', 'repo.git');
  git(work, 'init', '-q', '-b', 'main');
  for (const v of ['1', '2']) {
    writeFileSync(join(work, 'app.py'), `print(${v})\n`);
    git(work, 'add', 'app.py');
    git(work, 'commit', '-qm', `commit ${v}`);
  }
  git(work, 'push', '-q', join(dir, 'repo.git'), 'main');
}

describe('the drift table on a bookworm host: every non-PostgreSQL type', () => {
  let fleet: Fleet;
  let inventory: string;
  const timings: Record<string, number> = {};
  const run = (...args: string[]) => converge(['highstate', '-i', inventory, '--json', ...args]);

  beforeAll(async () => {
    let t = Date.now();
    fleet = await startFleet([HOST]);
    timings.start = Date.now() - t;
    t = Date.now();
    const build = join(fleet.dir, 'build');
    mkdirSync(join(build, 'wheelhouse'), { recursive: true });
    const key = makeAptRepo(build);
    expect(key).toMatch(/^-----BEGIN PGP PUBLIC KEY BLOCK-----\n/);
    makeGitRepo(build);
    const w = wheel('convergedemo', '1.0');
    writeFileSync(join(build, 'wheelhouse', w.filename), w.data);
    const id = fleet.host(HOST).containerId;
    for (const d of ['repo', 'repo.git', 'wheelhouse']) await docker(['cp', join(build, d), `${id}:/srv/${d}`]);
    const own = await fleet.exec(HOST, 'chown -R root:root /srv/repo /srv/repo.git /srv/wheelhouse && chmod -R a+rX /srv/repo /srv/repo.git /srv/wheelhouse');
    expect(own.code, own.stderr).toBe(0);
    // The image's package lists are as old as the image. Minutes old, the first run installs without a
    // refresh, and apt_repo's new source then leaves the lists out of date (package's apt-index change)
    // until a refresh: the drift check's package row would say so. Aged as on a host in service, the
    // first run refreshes them, whenever the test runs.
    const aged = await fleet.exec(HOST, "touch -d '3 hours ago' /var/lib/apt/lists/*_Packages*");
    expect(aged.code, aged.stderr).toBe(0);

    const states = join(fleet.dir, 'states');
    // file_tree's source (drift-table.ts, site-tree).
    mkdirSync(join(states, 'site/css'), { recursive: true });
    writeFileSync(join(states, 'site/index.html'), '<h1>table</h1>\n');
    writeFileSync(join(states, 'site/css/app.css'), 'body { margin: 0 }\n');
    mkdirSync(join(states, 'keys'), { recursive: true });
    writeFileSync(join(states, 'keys/converge-test.asc'), key);
    writeFileSync(join(states, 'top.yaml'), 'roles:\n  table: [table]\n');
    writeFileSync(join(states, 'table.yaml'), stringify({ resources: stateResources(rows) }));
    inventory = join(fleet.dir, 'inventory.yaml');
    fleet.writeInventory(inventory, { roles: { table: [HOST] }, states });
    writeFileSync(fleet.knownHostsFile, `${await fleet.hostKeyLine(HOST)}\n`);
    timings.prepare = Date.now() - t;
  });

  afterAll(async () => {
    console.log(`[drift-table] timings (ms): ${JSON.stringify(timings)}`);
    await fleet?.close();
  });

  it('converges every row in one run, and a second run changes nothing', async () => {
    let t = Date.now();
    const r = await run();
    timings.converge = Date.now() - t;
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const res = resourcesOf(r.json, HOST);
    for (const row of rows) expect(res[row.id]?.status, `${row.type} (${row.id})`).toBe('changed');
    t = Date.now();
    await expectConverged(run, [HOST]);
    timings.reconverge = Date.now() - t;
  });

  it('--check reports exactly each row\'s drift and changes nothing; apply repairs it; a further check is clean', async () => {
    const { timings: steps } = await driftCheckRepair(fleet, rows, run, ['/srv']);
    Object.assign(timings, steps);
  });
});

