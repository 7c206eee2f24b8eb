// One fleet, two Debian releases: the same states (with the repository's
// per-release table, states/vars.yaml) converge a bookworm and a trixie
// host, each getting its release's packages and paths from its own facts;
// the second run changes nothing and costs one exec per host.

import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { converge, resourcesOf, ROOT } from '../support/cli.js';
import { startFleet, type Fleet } from '../support/fleet.js';

const HOSTS = { 'rel-12': 'bookworm', 'rel-13': 'trixie' } as const;

const appState = `
resources:
  venv-package:
    package: { name: "{{ release.python.venv_package }}" }
  pg-client:
    package: { name: "postgresql-client-{{ release.postgresql.version }}" }
  facts-file:
    file:
      path: /etc/converge-release
      content: "{{ host.os.pretty_name }} {{ host.architecture }} python {{ release.python.version }} pg {{ release.postgresql.version }}\\n"
  trixie-only:
    when: "{{ host.os.codename == 'trixie' }}"
    file: { path: /etc/converge-trixie, content: "yes\\n" }
`;

describe('a fleet of Debian 12 and 13 hosts', () => {
  let fleet: Fleet;
  let inventory: string;
  const env = () => ({ CONVERGE_CACHE_DIR: join(fleet.dir, 'cache') });
  const run = (...args: string[]) => converge(['highstate', '-i', inventory, '--json', ...args], { env: env() });

  beforeAll(async () => {
    fleet = await startFleet(Object.keys(HOSTS), { releases: HOSTS });
    const states = join(fleet.dir, 'states');
    mkdirSync(states);
    writeFileSync(join(states, 'top.yaml'), 'roles:\n  app: [app]\n');
    writeFileSync(join(states, 'app.yaml'), appState);
    copyFileSync(join(ROOT, 'states/vars.yaml'), join(states, 'vars.yaml'));
    inventory = join(fleet.dir, 'inventory.yaml');
    fleet.writeInventory(inventory, { roles: { app: Object.keys(HOSTS) }, states });
  });

  afterAll(async () => {
    await fleet?.close();
  });

  it('the same states converge both, each from its own row of the release table', async () => {
    const t = Date.now();
    const r = await run('--accept-new-host-keys');
    console.log(`[releases] first run: ${Date.now() - t} ms`);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect((await fleet.exec('rel-12', 'cat /etc/converge-release; ls /etc/converge-trixie 2>&1 >/dev/null | wc -l')).stdout).toMatch(/^Debian GNU\/Linux 12 \(bookworm\) x86_64 python 3\.11 pg 15\n1\n$/);
    expect((await fleet.exec('rel-13', 'cat /etc/converge-release /etc/converge-trixie')).stdout).toMatch(/^Debian GNU\/Linux 13 \(trixie\) x86_64 python 3\.13 pg 17\nyes\n$/);
    expect((await fleet.exec('rel-13', "dpkg-query -W -f '${Status} ' python3-venv postgresql-client-17")).stdout).toBe('install ok installed install ok installed ');
  });

  it('a second run changes nothing and costs one exec per host', async () => {
    const r = await run();
    expect(r.code, r.stderr).toBe(0);
    for (const h of Object.keys(HOSTS)) {
      expect(Object.values(resourcesOf(r.json, h)).map((x: any) => x.status)).not.toContain('changed');
      expect((r.json as any).hosts.find((x: any) => x.host === h).execCount).toBe(1);
    }
  });
});
