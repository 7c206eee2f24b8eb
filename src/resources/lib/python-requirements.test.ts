// Requirement and version rules pip_requirements plans with: PEP 503 names,
// PEP 440 order and specifiers, requirements files (one captured from a
// container), and `pip list --format=freeze` output.

import { describe, expect, it } from 'vitest';
import { readFixture } from '../../../test/support/fixtures.js';
import { compareVersions, normalizeName, parseInstalled, parseRequirement, parseRequirementsFile, parseVersion, satisfies } from './python-requirements.js';

const cmp = (a: string, b: string) => compareVersions(parseVersion(a)!, parseVersion(b)!);
const sat = (installed: string, spec: string) => satisfies(installed, parseRequirement(`x${spec}`, 't').specifiers);

describe('names (PEP 503)', () => {
  it('folds case and runs of - _ .', () => {
    for (const n of ['Django', 'DJANGO', 'django']) expect(normalizeName(n)).toBe('django');
    expect(normalizeName('zope.interface')).toBe(normalizeName('Zope_Interface'));
    expect(normalizeName('Converge_Extra')).toBe('converge-extra');
    expect(normalizeName('a-_.b')).toBe('a-b');
  });
});

describe('versions (PEP 440)', () => {
  it('orders dev < pre < release < post, and ignores trailing zeros', () => {
    const order = ['1.0.dev1', '1.0a1', '1.0a2.dev1', '1.0a2', '1.0b1', '1.0rc1', '1.0', '1.0.post1', '1.0.1', '1.1', '2!0.1'];
    for (let i = 1; i < order.length; i++) expect(cmp(order[i - 1], order[i]), `${order[i - 1]} < ${order[i]}`).toBe(-1);
    expect(cmp('1.0', '1.0.0')).toBe(0);
    expect(cmp('1.0', '1')).toBe(0);
    expect(cmp('1.10', '1.9')).toBe(1);
  });

  it('accepts the spellings pip normalizes', () => {
    expect(cmp('1.0-post1', '1.0.post1')).toBe(0);
    expect(cmp('1.0-1', '1.0.post1')).toBe(0);
    expect(cmp('v1.0RC1', '1.0rc1')).toBe(0);
    expect(cmp('1.0alpha1', '1.0a1')).toBe(0);
    expect(cmp('1.0+ubuntu1', '1.0')).toBe(0);
    expect(parseVersion('not-a-version')).toBeUndefined();
  });
});

describe('specifiers', () => {
  it('pins exactly, with trailing zeros and prefixes', () => {
    expect(sat('4.2.1', '==4.2.1')).toBe(true);
    expect(sat('4.2.0', '==4.2')).toBe(true);
    expect(sat('4.2.1', '==4.2')).toBe(false);
    expect(sat('4.2.7', '==4.2.*')).toBe(true);
    expect(sat('4.3', '==4.2.*')).toBe(false);
    expect(sat('4.3', '!=4.2.*')).toBe(true);
    expect(sat('1.0', '===1.0')).toBe(true);
    expect(sat('1.0.0', '===1.0')).toBe(false);
  });

  it('checks ranges and compatible releases', () => {
    expect(sat('4.2.1', '>=4.2,<5')).toBe(true);
    expect(sat('5.0', '>=4.2,<5')).toBe(false);
    expect(sat('4.1', '>=4.2')).toBe(false);
    expect(sat('5.3.6', '~=5.3')).toBe(true);
    expect(sat('6.0', '~=5.3')).toBe(false);
    expect(sat('1.4.9', '~=1.4.5')).toBe(true);
    expect(sat('1.5.0', '~=1.4.5')).toBe(false);
    expect(sat('2.0.post1', '>2.0')).toBe(true);
    expect(sat('1.0', '!=1.0.0')).toBe(false);
  });

  it('takes any version for a bare name, and only === or an identical == for a version that is not PEP 440', () => {
    expect(sat('0.0.1', '')).toBe(true);
    expect(parseVersion('1.0-foo')).toBeUndefined();
    expect(sat('1.0-foo', '===1.0-foo')).toBe(true);
    expect(satisfies('1.0-foo', [['==', '1.0-foo']])).toBe(true);
    expect(sat('1.0-foo', '>=1.0')).toBe(false);
  });
});

describe('requirements', () => {
  it('parses names, extras and specifiers', () => {
    expect(parseRequirement('Django==4.2.1', 'p')).toEqual({ name: 'Django', specifiers: [['==', '4.2.1']] });
    expect(parseRequirement('celery[redis] >= 5.3, <6', 'p')).toEqual({ name: 'celery', specifiers: [['>=', '5.3'], ['<', '6']] });
    expect(parseRequirement('gunicorn', 'p')).toEqual({ name: 'gunicorn', specifiers: [] });
    expect(parseRequirement('zope.interface (>=5)', 'p')).toEqual({ name: 'zope.interface', specifiers: [['>=', '5']] });
  });

  it('refuses what a name and a version cannot settle, saying where', () => {
    expect(() => parseRequirement('requests; python_version < "3.8"', 'packages')).toThrow(/packages: "requests; python_version < "3.8"" cannot be checked .*environment marker/);
    expect(() => parseRequirement('pkg @ https://example.com/pkg.whl', 'p')).toThrow(/a URL requirement/);
    expect(() => parseRequirement('Django=4.2', 'p')).toThrow(/"=4.2" is not a version specifier/);
    expect(() => parseRequirementsFile('-r base.txt\n', '/r.txt')).toThrow(/\/r.txt: "-r base.txt" .*included file/);
    expect(() => parseRequirementsFile('-e git+https://x/y.git#egg=y\n', '/r.txt')).toThrow(/editable/);
  });

  it('reads a requirements file as pip does: comments, options, continuations, hashes', () => {
    const { output } = readFixture('pip_requirements', 'installed');
    const file = output.slice(output.indexOf('[requirements]\n') + 15);
    expect(parseRequirementsFile(file, '/srv/myproj/app/requirements-full.txt')).toEqual([
      { name: 'Django', specifiers: [['==', '4.2.1']] },
      { name: 'converge-extra', specifiers: [['>=', '2.0']] },
      { name: 'celery', specifiers: [['~=', '5.3']] },
      { name: 'convergedemo', specifiers: [] },
    ]);
  });
});

describe('installed packages (pip list --format=freeze, captured)', () => {
  it('maps normalized names to versions, system site packages included', () => {
    const { output } = readFixture('pip_requirements', 'installed');
    const listing = output.slice(output.indexOf('[installed]\n'), output.indexOf('[requirements]'));
    expect(parseInstalled(listing)).toEqual(
      new Map([
        ['converge-extra', '2.0.post1'],
        ['convergedemo', '1.0'],
        ['pip', '23.0.1'],
        ['setuptools', '66.1.1'],
        ['six', '1.16.0'],
      ]),
    );
    expect(parseInstalled('WARNING: something == odd\n')).toEqual(new Map());
  });
});
