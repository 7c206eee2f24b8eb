// pip_requirements: facts captured from a Debian 12 container
// (test/fixtures/pip_requirements/, see its README), plans from them, and
// the one pip run apply sends.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import type { PipRequirementsSpec } from '../generated/index.js';
import { recorder, unread } from '../../test/unit/apply-recorder.js';
import { factFixture, readFixture, type CapturedQuery } from '../../test/support/fixtures.js';
import { planCtx } from '../../test/unit/fixtures.js';
import { parsePipFacts, pipFactScript, pipRequirements, planPip } from './pip-requirements.js';

/** A fixture: its spec, the user its query ran as, the captured query. */
const fx = (name: string) => readFixture<CapturedQuery & { spec: PipRequirementsSpec; user: string }>('pip_requirements', name);
/** The fixture parsed by the query the code sends for its spec now (refused when stale). */
const facts = (name: string) => factFixture(pipRequirements.facts(fx(name).spec, planCtx()).pip, 'pip_requirements', name);
const plan = (name: string, over: Partial<PipRequirementsSpec> = {}) => planPip({ ...fx(name).spec, ...over }, facts(name));
const NAMES = ['installed', 'venv-absent', 'no-pip', 'requirements-missing', 'marker'];

describe('pip_requirements schema', () => {
  const schema = JSON.parse(readFileSync(join(import.meta.dirname, '../../schemas/resources/pip_requirements.schema.json'), 'utf8'));
  const validate = new Ajv({ strict: false }).compile(schema);

  it('takes a requirements file, packages or both, and no index with find_links', () => {
    for (const ex of schema.examples) expect(validate(ex)).toBe(true);
    expect(validate({ venv: '/v', requirements: '/r.txt', packages: ['x'] })).toBe(true);
    expect(validate({ venv: '/v' })).toBe(false);
    expect(validate({ venv: '/v', packages: ['x'], find_links: '/w', index_url: 'https://pypi.example.com/simple' })).toBe(false);
    expect(validate({ venv: '/v', packages: ['x'], index_url: 'https://pypi.example.com/simple' })).toBe(true);
  });
});

describe('pip_requirements facts (captured)', () => {
  it('were captured with the script the resource sends, as the owner', () => {
    for (const n of NAMES) {
      expect(pipFactScript(fx(n).spec), n).toBe(fx(n).command);
      expect(pipRequirements.facts(fx(n).spec, planCtx()).pip.runAs, n).toBe(fx(n).user);
    }
  });

  it('reads what the venv has installed and the requirements file', () => {
    const f = facts('installed');
    expect(f.venv).toBe(true);
    expect(f.listExit).toBe(0);
    expect([...f.installed.keys()]).toEqual(['converge-extra', 'convergedemo', 'pip', 'setuptools', 'six']);
    expect(f.requirements).toMatch(/^# the app\n--find-links \/tmp\/w\nDjango==4.2.1 {2}# web\n/);
  });

  it('reads a missing venv, a venv without pip and a missing requirements file', () => {
    expect(facts('venv-absent')).toEqual({ venv: false, installed: new Map(), listOutput: '' });
    expect(facts('no-pip')).toMatchObject({ venv: true, listExit: 1, listOutput: '/srv/myproj/venv-nopip/bin/python: No module named pip' });
    expect(facts('requirements-missing').requirements).toBeUndefined();
    expect(facts('requirements-missing').installed.get('six')).toBe('1.16.0');
  });
});

describe('planPip', () => {
  it('lists each requirement that is missing or at a version the spec does not allow, by normalized name', () => {
    // Converge_Extra 2.0.post1 satisfies converge-extra>=2.0, convergedemo 1.0 both convergedemo and ==1.0.
    expect(plan('installed')).toEqual([
      { path: 'Django', action: 'create', after: '==4.2.1' },
      { path: 'celery', action: 'create', after: '~=5.3' },
    ]);
  });

  it('upgrades a pin, and is empty when every requirement is met', () => {
    expect(plan('requirements-missing', { requirements: undefined, packages: ['ConvergeDemo==1.1', 'converge.extra', 'SIX>=1.16'] })).toEqual([
      { path: 'ConvergeDemo', action: 'update', before: '1.0', after: '==1.1' },
    ]);
    expect(plan('requirements-missing', { requirements: undefined, packages: ['convergedemo==1.0.0', 'Converge_Extra'] })).toEqual([]);
  });

  it('installs everything into a venv that is not there yet', () => {
    expect(plan('venv-absent', { packages: ['convergedemo==1.0', 'gunicorn'] })).toEqual([
      { path: 'convergedemo', action: 'create', after: '==1.0' },
      { path: 'gunicorn', action: 'create', after: 'any version' },
    ]);
  });

  it('says so when the requirements file is not there yet (a checkout brings it at apply)', () => {
    expect(plan('requirements-missing', { packages: ['six'] })).toEqual([
      { path: 'requirements', action: 'create', after: '/srv/myproj/app/nothere.txt (not on the host or not readable by myproj)' },
    ]);
  });

  it('fails clearly on a venv without pip and on requirements it cannot check', () => {
    expect(() => plan('no-pip')).toThrow('pip list failed in /srv/myproj/venv-nopip: /srv/myproj/venv-nopip/bin/python: No module named pip');
    expect(() => plan('marker')).toThrow(/requirements-marker.txt: "requests; python_version < "3.8"" cannot be checked against the installed packages \(an environment marker\)/);
  });
});

describe('pip_requirements apply', () => {
  const spec: PipRequirementsSpec = {
    venv: '/srv/myproj/venv',
    user: 'myproj',
    requirements: '/srv/myproj/app/requirements.txt',
    packages: ['gunicorn==21.2.0', 'Django>=4.2,<5'],
    find_links: '/srv/wheels',
    extra_args: ['--prefer-binary'],
  };

  it('installs the whole set in one pip run as the owner, packages on stdin', async () => {
    const { ctx, commands: sent } = recorder();
    await pipRequirements.apply(spec, [{ path: 'gunicorn', action: 'create', after: '==21.2.0' }], unread(), ctx);
    expect(sent).toHaveLength(1);
    const [c] = sent;
    expect(c.runAs).toBe('myproj');
    expect(c.stdin).toBe('\ngunicorn==21.2.0\nDjango>=4.2,<5\n');
    expect(c.script).toContain('export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1');
    expect(c.script).toContain('/srv/myproj/venv/bin/python -m pip install --no-index --find-links /srv/wheels --prefer-binary -r /srv/myproj/app/requirements.txt -r "$req"');
  });

  it('passes the index URL on stdin, never in the script', async () => {
    const { ctx, commands: sent } = recorder();
    const url = 'https://token:s3cret@pypi.example.com/simple';
    await pipRequirements.apply({ venv: '/v', packages: ['x'], index_url: url }, [], unread(), ctx);
    expect(sent[0].stdin).toBe(`${url}\nx\n`);
    expect(sent[0].script).not.toContain('s3cret');
    expect(sent[0].script).toContain('[ -z "$index_url" ] || export PIP_INDEX_URL="$index_url"');
    expect(sent[0].runAs).toBeUndefined();
  });

  it('comes after its venv, its owner, and whatever brings the requirements file and the wheels', () => {
    expect(pipRequirements.id!(spec)).toBe('pip_requirements:/srv/myproj/venv');
    expect(pipRequirements.implicitAfter!(spec)).toEqual([
      'virtualenv:/srv/myproj/venv',
      'user:myproj',
      'file:/srv/myproj/app/requirements.txt',
      'git_checkout:/srv/myproj/app',
      'directory:/srv/myproj/app',
      'git_checkout:/srv/myproj',
      'directory:/srv/myproj',
      'git_checkout:/srv',
      'directory:/srv',
      'git_checkout:/srv/wheels',
      'directory:/srv/wheels',
    ]);
  });
});
