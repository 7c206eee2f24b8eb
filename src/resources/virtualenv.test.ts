// virtualenv: facts captured from a Debian 12 container (test/fixtures/virtualenv/,
// see its README), plans from them, and the commands apply sends.

import { describe, expect, it } from 'vitest';
import type { Change } from '../core/resource.js';
import type { VirtualenvSpec } from '../generated/index.js';
import { recorder, unread } from '../../test/unit/apply-recorder.js';
import { factFixture, readFixture, type CapturedQuery } from '../../test/support/fixtures.js';
import { planCtx } from '../../test/unit/fixtures.js';
import { parsePyvenvCfg, parseVenvFacts, planVenv, venvFactScript, virtualenv, type VenvFacts } from './virtualenv.js';

/** A fixture: its spec, the user its query ran as, the captured query. */
const fx = (name: string) => readFixture<CapturedQuery & { spec: VirtualenvSpec; user: string }>('virtualenv', name);
/** The fixture parsed by the query the code sends for its spec now (refused when stale). */
const facts = (name: string) => factFixture(virtualenv.facts(fx(name).spec, planCtx()).venv, 'virtualenv', name);
/** The fixture's spec with overrides, planned against the fixture's facts. */
const plan = (name: string, over: Partial<VirtualenvSpec> = {}) => planVenv({ ...fx(name).spec, ...over }, facts(name));
const NAMES = ['site', 'nosite', 'absent', 'old-python', 'not-a-venv', 'empty-dir', 'python-missing', 'root-owned', 'python-not-installed'];

describe('virtualenv facts (captured)', () => {
  it('were captured with the script the resource sends, as the owner', () => {
    for (const n of NAMES) {
      expect(venvFactScript(fx(n).spec), n).toBe(fx(n).command);
      expect(virtualenv.facts(fx(n).spec, planCtx()).venv.runAs ?? 'root', n).toBe(fx(n).user);
    }
  });

  it('reads a venv: owner, both interpreters resolved, pyvenv.cfg', () => {
    expect(facts('site')).toEqual({
      type: 'directory',
      owner: 'myproj',
      group: 'myproj',
      mode: 0o755,
      size: 4096,
      venvPython: '/usr/bin/python3.11',
      python: '/usr/bin/python3.11',
      cfg: {
        home: '/usr/bin',
        'include-system-site-packages': 'true',
        version: '3.11.2',
        executable: '/usr/bin/python3.11',
        command: '/usr/bin/python3 -m venv --system-site-packages /srv/myproj/venv',
      },
    } satisfies VenvFacts);
  });

  it('reads a missing venv, an empty directory, a broken bin/python and a missing interpreter', () => {
    expect(facts('absent')).toEqual({ type: 'absent', python: '/usr/bin/python3.11' });
    expect(facts('empty-dir')).toMatchObject({ type: 'directory', empty: true });
    expect(facts('empty-dir').cfg).toBeUndefined();
    expect(facts('old-python').venvPython).toBeUndefined();
    expect(facts('python-missing').python).toBeUndefined();
    expect(facts('python-not-installed')).toEqual({ type: 'absent' });
    expect(facts('not-a-venv')).toMatchObject({ type: 'directory', python: '/usr/bin/python3.11' });
    expect(facts('not-a-venv').empty).toBeUndefined();
  });

  it('parses pyvenv.cfg the way venv does', () => {
    expect(parsePyvenvCfg('home=/usr/bin\nInclude-System-Site-Packages =  false \nnot a line\n')).toEqual({ home: '/usr/bin', 'include-system-site-packages': 'false' });
  });
});

describe('planVenv', () => {
  it('is empty for a venv as wanted', () => {
    expect(plan('site')).toEqual([]);
    expect(plan('nosite')).toEqual([]);
  });

  it('creates a missing venv or one in an empty directory, naming the interpreter', () => {
    expect(plan('absent', { system_site_packages: true })).toEqual([{ path: 'virtualenv', action: 'create', after: '/usr/bin/python3.11 with system site packages' }]);
    expect(plan('empty-dir')).toEqual([{ path: 'virtualenv', action: 'create', after: '/usr/bin/python3.11' }]);
    // On a fresh host python3 comes from a package installed earlier in the run.
    expect(plan('python-not-installed')).toEqual([{ path: 'virtualenv', action: 'create', after: 'python3 (not found on the host)' }]);
  });

  it('recreates a venv whose interpreter is gone or is not the one wanted', () => {
    expect(plan('old-python')).toEqual([{ path: 'python', action: 'replace', before: 'bin/python does not resolve (a Python 3.11 venv)', after: '/usr/bin/python3.11' }]);
    expect(plan('python-missing')).toEqual([{ path: 'python', action: 'replace', before: '/usr/bin/python3.11 (a Python 3.11 venv)', after: 'python3.12 (not found on the host)' }]);
    const other: VenvFacts = { ...facts('site'), python: '/usr/local/bin/python3.11' };
    expect(planVenv(fx('site').spec, other)).toEqual([{ path: 'python', action: 'replace', before: '/usr/bin/python3.11 (a Python 3.11 venv)', after: '/usr/local/bin/python3.11' }]);
  });

  it('recreates a venv whose python3 link now leads to a newer Python (a distro upgrade)', () => {
    const upgraded: VenvFacts = { ...facts('site'), venvPython: '/usr/bin/python3.12', python: '/usr/bin/python3.12' };
    expect(planVenv(fx('site').spec, upgraded)).toEqual([{ path: 'python', action: 'replace', before: '/usr/bin/python3.12 (a Python 3.11 venv)', after: '/usr/bin/python3.12' }]);
    // A patch release (3.11.2 -> 3.11.9) keeps the venv.
    expect(planVenv(fx('site').spec, { ...facts('site'), cfg: { ...facts('site').cfg, version: '3.11.9' } })).toEqual([]);
  });

  it('flips system_site_packages in place, either way', () => {
    expect(plan('site', { system_site_packages: false })).toEqual([{ path: 'system_site_packages', action: 'update', before: true, after: false }]);
    expect(plan('nosite', { system_site_packages: true })).toEqual([{ path: 'system_site_packages', action: 'update', before: false, after: true }]);
  });

  it('hands a venv another user owns to its owner', () => {
    expect(plan('root-owned')).toEqual([{ path: 'owner', action: 'update', before: 'root', after: 'myproj' }]);
    expect(plan('root-owned', { user: undefined })).toEqual([]);
  });

  it('never clears a directory that is not a venv, nor takes a file for one', () => {
    expect(() => plan('not-a-venv')).toThrow(/\/srv\/myproj\/app exists and is not a virtualenv \(it has no pyvenv.cfg\)/);
    expect(() => planVenv({ path: '/srv/x' }, { type: 'file' })).toThrow(/is a file, not a directory/);
  });

  it('removes a venv with ensure: absent', () => {
    expect(plan('site', { ensure: 'absent' })).toEqual([{ path: 'virtualenv', action: 'delete', before: '/srv/myproj/venv' }]);
    expect(plan('absent', { ensure: 'absent' })).toEqual([]);
  });
});

describe('virtualenv apply', () => {
  const commands = async (spec: VirtualenvSpec, changes: Change[]) => {
    const { ctx, commands: sent } = recorder();
    await virtualenv.apply(spec, changes, unread(), ctx);
    return sent;
  };
  const spec: VirtualenvSpec = { path: '/srv/myproj/venv', user: 'myproj', system_site_packages: true };

  it('creates: root hands the directory over, the owner runs venv with the interpreter the facts resolved', async () => {
    const [prepare, make] = await commands(spec, plan('absent', { system_site_packages: true }));
    expect(prepare.runAs).toBeUndefined();
    expect(prepare.script).toContain('mkdir -p /srv/myproj/venv\nchown -h myproj: /srv/myproj/venv');
    expect(make.runAs).toBe('myproj');
    expect(make.script).toContain('py=$(command -v python3)');
    expect(make.script).toContain('exec "$py" -m venv --clear --system-site-packages /srv/myproj/venv');
  });

  it('recreates in place, after handing it over when another user owns it', async () => {
    const sent = await commands(spec, [{ path: 'owner', action: 'update', before: 'root', after: 'myproj' }, ...plan('old-python')]);
    expect(sent.map((c) => c.runAs)).toEqual([undefined, 'myproj']);
    expect(sent[0].script).toBe('chown -R myproj: /srv/myproj/venv');
    expect(sent[1].script).toContain('-m venv --clear --system-site-packages /srv/myproj/venv');
  });

  it('edits pyvenv.cfg for the site flag, as the owner', async () => {
    const [edit] = await commands({ ...spec, system_site_packages: false }, plan('site', { system_site_packages: false }));
    expect(edit.runAs).toBe('myproj');
    expect(edit.script).toContain("sed -i 's/^include-system-site-packages *=.*/include-system-site-packages = false/' /srv/myproj/venv/pyvenv.cfg");
  });

  it('removes as root', async () => {
    expect(await commands({ ...spec, ensure: 'absent' }, plan('site', { ensure: 'absent' }))).toEqual([{ script: 'rm -rf /srv/myproj/venv' }]);
  });

  it('comes after its directory, its owner and python3-venv', () => {
    expect(virtualenv.id!(spec)).toBe('virtualenv:/srv/myproj/venv');
    expect(virtualenv.implicitAfter!(spec)).toEqual(['directory:/srv/myproj', 'directory:/srv', 'user:myproj', 'package:python3-venv']);
  });
});
