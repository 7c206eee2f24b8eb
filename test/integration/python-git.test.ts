// git_checkout, virtualenv and pip_requirements on a real Debian 12
// container, the way a Django project is deployed: git and python3-venv from
// packages, a system user owning the checkout and the venv, requirements from
// a local wheelhouse (no package index is reachable), and a deploy hook (a
// cmd with onchanges on the checkout) that appends HEAD to a log, so "ran
// once" and "did not run" are exact. The remote is a bare repository on the
// host itself, built on the controller with git and copied in, since the
// container has no git until converge installs it; the wheels are written
// by test/support/wheel.ts.

import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { converge, resourcesOf } from '../support/cli.js';
import { docker } from '../support/docker.js';
import { startFleet, type Fleet } from '../support/fleet.js';
import { snapshot } from '../support/snapshot.js';
import { wheel } from '../support/wheel.js';

const HOST = 'py-1';
const APP = '/srv/myproj/app';
const VENV = '/srv/myproj/venv';
const DEPLOYS = '/srv/myproj/deploys.log';
const IDS = ['python3-venv', 'git', 'myproj', 'home', 'code', 'venv', 'requirements', 'deploy-hook'];

const appState = `
resources:
  python3-venv:
    package: { name: python3-venv }
  git:
    package: { name: git }
  myproj:
    user: { name: myproj, system: true, home: /srv/myproj, shell: /usr/sbin/nologin }
  home:
    directory: { path: /srv/myproj, owner: myproj, group: myproj, mode: "0755" }
  code:
    git_checkout: { path: ${APP}, remote: /srv/repo.git, rev: main, user: myproj }
  venv:
    virtualenv: { path: ${VENV}, user: myproj, system_site_packages: true }
  requirements:
    pip_requirements:
      venv: ${VENV}
      user: myproj
      packages: ["convergedemo=={{ demo_version }}"]
      find_links: /srv/wheelhouse
  deploy-hook:
    cmd: { run: "git rev-parse HEAD >> ${DEPLOYS}", runas: myproj, cwd: ${APP} }
    onchanges: [code]
`;

/** git on the controller, hermetic: no user or system config, fixed identity. */
function git(cwd: string, ...args: string[]): string {
  const env = { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1', GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.com' };
  return execFileSync('git', args, { cwd, env, encoding: 'utf8' }).trim();
}

describe('git checkout, virtualenv and pip requirements on a container', () => {
  let fleet: Fleet;
  let inventory: string;
  let second: string;
  const timings: Record<string, number> = {};

  const setPin = (version: string) => fleet.writeInventory(inventory, { roles: { app: [HOST] }, states: join(fleet.dir, 'states'), vars: { demo_version: version } });
  const run = async (label: string, ...args: string[]) => {
    const started = Date.now();
    const r = await converge(['highstate', '-i', inventory, '--json', ...args]);
    timings[label] = Date.now() - started;
    return r;
  };
  const sh = async (cmd: string) => {
    const r = await fleet.exec(HOST, cmd);
    expect(r.code, `${cmd}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };
  /** As myproj (git refuses another user's repository, and the venv is its code). */
  const asMyproj = (cmd: string) => sh(`su -s /bin/sh -c ${JSON.stringify(`cd / && ${cmd}`)} myproj`);
  const head = async () => (await asMyproj(`git -C ${APP} rev-parse HEAD`)).trim();
  const deploys = async () => (await sh(`cat ${DEPLOYS}`)).split('\n').filter(Boolean);
  const statuses = (json: unknown) => Object.fromEntries(Object.entries(resourcesOf(json, HOST)).map(([id, r]) => [id, r.status]));
  const allBut = (status: string, others: Record<string, string>) => ({ ...Object.fromEntries(IDS.map((id) => [id, status])), ...others });
  /** The host as docker exec sees it, plus what the venv has installed and where the checkout is. */
  const snap = async () =>
    (await snapshot(fleet, HOST, ['/srv', '/var/tmp'])) +
    (await asMyproj(`PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 ${VENV}/bin/python -m pip freeze --all 2>/dev/null; git -C ${APP} rev-parse HEAD`));
  /** --check reports exactly `expected` drift (exit 2) and changes nothing. */
  const checkDrift = async (label: string, expected: Record<string, string>) => {
    const before = await snap();
    const r = await run(label, '--check');
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(statuses(r.json)).toEqual(allBut('unchanged', expected));
    expect(await snap()).toBe(before);
    return resourcesOf(r.json, HOST);
  };
  /** Pushes a commit to /srv/repo.git from a scratch clone in the container; returns its id. */
  const pushCommit = async (line: string) => {
    await sh(
      [
        'set -e',
        'rm -rf /root/push && git clone -q /srv/repo.git /root/push && cd /root/push',
        `echo ${JSON.stringify(line)} >> app.py`,
        'git -c user.name=t -c user.email=t@example.com commit -qam change',
        'git push -q origin main',
      ].join('\n'),
    );
    return (await sh('git -C /srv/repo.git rev-parse main')).trim();
  };

  beforeAll(async () => {
    let started = Date.now();
    fleet = await startFleet([HOST]);
    timings.start = Date.now() - started;
    started = Date.now();
    // The remote: a bare repository with two commits on main and a tag on the first.
    const work = join(fleet.dir, 'work');
    mkdirSync(work);
    git(fleet.dir, 'init', '-q', '--bare', '-b', 'main', 'repo.git');
    git(work, 'init', '-q', '-b', 'main');
    writeFileSync(join(work, 'app.py'), 'print(1)\n');
    git(work, 'add', 'app.py');
    git(work, 'commit', '-qm', 'one');
    git(work, 'tag', '-a', 'v1', '-m', 'v1');
    writeFileSync(join(work, 'app.py'), 'print(2)\n');
    git(work, 'commit', '-qam', 'two');
    git(work, 'push', '-q', join(fleet.dir, 'repo.git'), 'main', '--tags');
    second = git(work, 'rev-parse', 'HEAD');
    // The wheelhouse pip installs from.
    const wheels = join(fleet.dir, 'wheelhouse');
    mkdirSync(wheels);
    for (const v of ['1.0', '1.1']) {
      const w = wheel('convergedemo', v);
      writeFileSync(join(wheels, w.filename), w.data);
    }
    const id = fleet.host(HOST).containerId;
    await docker(['cp', join(fleet.dir, 'repo.git'), `${id}:/srv/repo.git`]);
    await docker(['cp', wheels, `${id}:/srv/wheelhouse`]);
    // Owned by root, as a shared repository would be by its own user: git lets
    // myproj read another user's repository only when the system config says so.
    await sh("chown -R root:root /srv/repo.git /srv/wheelhouse && chmod -R a+rX /srv/repo.git /srv/wheelhouse && printf '[safe]\\n\\tdirectory = /srv/repo.git\\n' > /etc/gitconfig");
    timings.prepare = Date.now() - started;

    const states = join(fleet.dir, 'states');
    mkdirSync(states);
    writeFileSync(join(states, 'top.yaml'), 'roles:\n  app: [app]\n');
    writeFileSync(join(states, 'app.yaml'), appState);
    inventory = join(fleet.dir, 'inventory.yaml');
    setPin('1.0');
  });

  afterAll(async () => {
    console.log(`[python-git] timings (ms): ${JSON.stringify(timings)}`);
    await fleet?.close();
  });

  it('check on a fresh host plans everything and changes nothing', async () => {
    const before = await snapshot(fleet, HOST, ['/srv', '/var/tmp']);
    const r = await run('fresh check', '--check', '--accept-new-host-keys');
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(statuses(r.json)).toEqual(allBut('would-change', {}));
    const res = resourcesOf(r.json, HOST);
    // myproj does not exist yet: what it reads is read once it does.
    expect(res.code.reason).toMatch(/cannot be planned until upstream changes apply/);
    expect(res['deploy-hook'].notified).toEqual(['would run (code would change)']);
    expect(await snapshot(fleet, HOST, ['/srv', '/var/tmp'])).toBe(before);
  });

  it('converges: checkout at main and venv owned by myproj, requirements from the wheelhouse, the hook run once', async () => {
    const r = await run('first run');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(statuses(r.json)).toEqual(allBut('changed', {}));
    const res = resourcesOf(r.json, HOST);
    expect(res.code.changes).toEqual([{ path: 'checkout', action: 'create', after: `/srv/repo.git main (${second})` }]);
    expect(res.venv.changes).toEqual([{ path: 'virtualenv', action: 'create', after: expect.stringMatching(/^\/usr\/bin\/python3\.\d+ with system site packages$/) }]);
    expect(res.requirements.changes).toEqual([{ path: 'convergedemo', action: 'create', after: '==1.0' }]);
    expect(res['deploy-hook'].notified).toEqual(['ran (code changed)']);

    expect(await sh(`find ${APP} ${VENV} ! -user myproj | head -5`)).toBe('');
    expect(await sh(`stat -c '%U %G' ${APP} ${VENV}`)).toBe('myproj myproj\nmyproj myproj\n');
    expect(await head()).toBe(second);
    expect(await asMyproj(`git -C ${APP} symbolic-ref --short HEAD`)).toBe('main\n');
    expect(await sh(`cat ${APP}/app.py`)).toBe('print(2)\n');
    expect(await asMyproj(`${VENV}/bin/python -c 'import convergedemo; print(convergedemo.VERSION)'`)).toBe('1.0\n');
    expect(await sh(`grep include-system-site-packages ${VENV}/pyvenv.cfg`)).toBe('include-system-site-packages = true\n');
    expect(await deploys()).toEqual([second]);
  });

  it('converges again with no change, and the hook does not run', async () => {
    const r = await run('no-op run');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(statuses(r.json)).toEqual(allBut('unchanged', {}));
    expect(await deploys()).toEqual([second]);
  });

  it('check reports a new pin as exactly that upgrade, and apply makes it without running the hook', async () => {
    setPin('1.1');
    const res = await checkDrift('pin check', { requirements: 'would-change' });
    expect(res.requirements.changes).toEqual([{ path: 'convergedemo', action: 'update', before: '1.0', after: '==1.1' }]);

    const r = await run('pin apply');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(statuses(r.json)).toEqual(allBut('unchanged', { requirements: 'changed' }));
    expect(await asMyproj(`${VENV}/bin/python -c 'import convergedemo; print(convergedemo.VERSION)'`)).toBe('1.1\n');
    expect(await deploys()).toEqual([second]);
  });

  it('check reports a package uninstalled by hand, and apply puts it back', async () => {
    await asMyproj(`${VENV}/bin/python -m pip uninstall -q -y convergedemo`);
    const res = await checkDrift('uninstalled check', { requirements: 'would-change' });
    expect(res.requirements.changes).toEqual([{ path: 'convergedemo', action: 'create', after: '==1.1' }]);

    const r = await run('reinstall');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(statuses(r.json)).toEqual(allBut('unchanged', { requirements: 'changed' }));
    expect(await asMyproj(`${VENV}/bin/python -m pip list --format=freeze 2>/dev/null | grep convergedemo`)).toBe('convergedemo==1.1\n');
  });

  it('a commit pushed to the remote: check says the checkout would move, apply moves it and runs the hook once', async () => {
    const third = await pushCommit('print(3)');
    const res = await checkDrift('push check', { code: 'would-change', 'deploy-hook': 'would-change' });
    expect(res.code.changes).toEqual([{ path: 'commit', action: 'update', before: second, after: third }]);
    expect(res['deploy-hook'].notified).toEqual(['would run (code would change)']);
    expect(await head()).toBe(second);

    const r = await run('push apply');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(statuses(r.json)).toEqual(allBut('unchanged', { code: 'changed', 'deploy-hook': 'changed' }));
    expect(resourcesOf(r.json, HOST)['deploy-hook'].notified).toEqual(['ran (code changed)']);
    expect(await head()).toBe(third);
    expect(await deploys()).toEqual([second, third]);

    const again = await run('after push');
    expect(statuses(again.json)).toEqual(allBut('unchanged', {}));
    expect(await deploys()).toEqual([second, third]);
  });

  it('a checkout with local changes is not moved: the resource fails and the hook is skipped', async () => {
    await asMyproj(`echo '# hotfix' >> ${APP}/app.py`);
    const at = await head();
    await pushCommit('print(4)');
    const r = await run('dirty check', '--check');
    expect(r.code, r.stdout + r.stderr).toBe(1);
    const res = resourcesOf(r.json, HOST);
    expect(res.code.status).toBe('failed');
    expect(res.code.reason).toBe(`cannot plan: ${APP} has local changes (M app.py), so it is not moved to main`);
    expect(res['deploy-hook'].status).toBe('skipped');

    const apply = await run('dirty apply');
    expect(apply.code).toBe(1);
    expect(await head()).toBe(at);
    expect(await sh(`tail -n 1 ${APP}/app.py`)).toBe('# hotfix\n');
  });
});
