// `converge facts` on a Debian 12 and a Debian 13 host: read over SSH, one
// exec each, as the login user, and printed as YAML or JSON.

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { converge } from '../support/cli.js';
import { startFleet, type Fleet } from '../support/fleet.js';

describe('converge facts', () => {
  let fleet: Fleet;
  let inv: string;
  beforeAll(async () => {
    fleet = await startFleet(['facts-12', 'facts-13'], { releases: { 'facts-13': 'trixie' } });
    inv = join(fleet.dir, 'inventory.yaml');
    fleet.writeInventory(inv, { roles: { web: ['facts-12', 'facts-13'] } });
  });
  afterAll(async () => fleet?.close());

  it('reads each host\'s release, architecture, kernel, CPUs, memory, init, container, address and names', async () => {
    const r = await converge(['facts', '-i', inv, '--json', '--accept-new-host-keys']);
    expect(r.code, r.stderr).toBe(0);
    expect(Object.keys(r.json)).toEqual(['facts-12', 'facts-13']);
    expect(r.json['facts-12'].os).toEqual({ id: 'debian', id_like: [], version_id: '12', codename: 'bookworm', pretty_name: 'Debian GNU/Linux 12 (bookworm)' });
    expect(r.json['facts-13'].os).toMatchObject({ id: 'debian', version_id: '13', codename: 'trixie' });
    const uname = (await fleet.exec('facts-13', 'uname -m; uname -r; nproc')).stdout.split('\n');
    expect(r.json['facts-13']).toMatchObject({ architecture: uname[0], kernel: uname[1], cpus: Number(uname[2]), init: 'systemd', container: 'docker', hostname: 'facts-13' });
    expect(r.json['facts-13'].memory_mb).toBeGreaterThan(100);
    expect(r.json['facts-13'].ipv4).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
  });

  it('takes a target, and prints YAML by default', async () => {
    const r = await converge(['facts', 'facts-13', '-i', inv]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^facts-13:\n {2}os:\n {4}id: debian\n/);
    expect(r.stdout).toContain('codename: trixie');
    expect(r.stdout).not.toContain('facts-12');
  });
});
