// Host facts parsed from the output of the facts script: Debian 12 and 13
// captured from the test images (test/fixtures/host-facts), Ubuntu 22.04
// and 24.04 written from their published os-release.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HOST_FACTS_SCRIPT, parseHostFacts } from '../../src/engine/host-facts.js';

const fixture = (name: string) => readFileSync(join(import.meta.dirname, '../fixtures/host-facts', `${name}.txt`), 'utf8');

describe('host facts', () => {
  it('Debian 12 in a container', () => {
    expect(parseHostFacts(fixture('debian-12'))).toMatchObject({
      os: { id: 'debian', id_like: [], version_id: '12', codename: 'bookworm', pretty_name: 'Debian GNU/Linux 12 (bookworm)' },
      architecture: 'x86_64',
      init: 'systemd',
      container: 'docker',
      hostname: 'web-1',
      fqdn: 'web-1',
    });
  });

  it('Debian 13', () => {
    const f = parseHostFacts(fixture('debian-13'));
    expect(f.os).toEqual({ id: 'debian', id_like: [], version_id: '13', codename: 'trixie', pretty_name: 'Debian GNU/Linux 13 (trixie)' });
    expect(f.cpus).toBeGreaterThan(0);
    expect(f.memory_mb).toBeGreaterThan(100);
    expect(f.ipv4).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
  });

  it('Ubuntu 22.04 on a VM', () => {
    expect(parseHostFacts(fixture('ubuntu-22.04'))).toEqual({
      os: { id: 'ubuntu', id_like: ['debian'], version_id: '22.04', codename: 'jammy', pretty_name: 'Ubuntu 22.04.4 LTS' },
      architecture: 'x86_64',
      kernel: '5.15.0-119-generic',
      cpus: 4,
      memory_mb: 7946,
      init: 'systemd',
      container: false,
      ipv4: '192.0.2.10',
      hostname: 'web-1',
      fqdn: 'web-1.example.com',
    });
  });

  it('Ubuntu 24.04 in LXC on arm64, with no default route: the first global address', () => {
    expect(parseHostFacts(fixture('ubuntu-24.04'))).toMatchObject({
      os: { id: 'ubuntu', id_like: ['debian'], version_id: '24.04', codename: 'noble' },
      architecture: 'aarch64',
      cpus: 2,
      memory_mb: 3912,
      container: 'lxc',
      ipv4: '198.51.100.7',
      fqdn: 'db-1.internal',
    });
  });

  it('refuses output that is not the script\'s', () => {
    expect(() => parseHostFacts('sh: 1: syntax error\n')).toThrow(/expected 8 sections, got 1/);
  });

  it('the script is read-only and needs no root: no sudo, no writes', () => {
    expect(HOST_FACTS_SCRIPT).not.toMatch(/sudo|>\s*\/(?!dev\/null)|\brm\b|\bmkdir\b|tee /);
  });
});
