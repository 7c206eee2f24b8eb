// What a person sees around a run, on a real host: live progress in a real
// terminal (tmux) and the plain log when stderr is not a terminal; the fleet
// drift report as HTML, opened in headless Chromium, and as Markdown; and
// the dependency graph coloured by a check. One container plus a host that
// cannot be reached, so the fleet line and the report show both outcomes.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, converge, resourcesOf } from '../support/cli.js';
import { startFleet, unreachableHost, type Fleet } from '../support/fleet.js';
import { snapshot } from '../support/snapshot.js';
import { runInTerminal } from '../support/terminal.js';

const SECRET = 'tok-3f9a1c-do-not-print';
const ENV = { CONVERGE_TEST_API_TOKEN: SECRET };
const STATE = `# yaml-language-server: $schema=${join(ROOT, 'schemas/state.schema.json')}
resources:
  app-dir:
    directory: { path: /srv/app, mode: "0755" }
  settle:
    cmd: { run: "sleep 2; touch /srv/app/settled", creates: /srv/app/settled }
    require: [app-dir]
  app-conf:
    file: { path: /srv/app/app.ini, content: "[app]\\nname = {{ project }}\\nworkers = 2\\n", mode: "0644" }
  app-secret:
    file: { path: /srv/app/secret.env, content: "API_TOKEN={{ api_token }}\\n", mode: "0600" }
  warm-cache:
    cmd: { run: "sleep 2; touch /srv/app/warm", creates: /srv/app/warm }
    require: [app-conf]
  motd:
    file: { path: /etc/motd, content: "{{ host.name }} is managed by converge\\n", mode: "0644" }
`;
const IDS = ['app-dir', 'settle', 'app-conf', 'app-secret', 'warm-cache', 'motd'];

describe('progress, reports and graph on a real host', () => {
  let fleet: Fleet;
  let inv: string;
  const cli = (...args: string[]) => converge([...args, '-i', inv], { env: ENV });

  beforeAll(async () => {
    fleet = await startFleet(['web-1']);
    mkdirSync(join(fleet.dir, 'states'));
    writeFileSync(join(fleet.dir, 'states/top.yaml'), 'roles:\n  web: [web]\n');
    writeFileSync(join(fleet.dir, 'states/web.yaml'), STATE);
    inv = join(fleet.dir, 'inventory.yaml');
    const gone = await unreachableHost('gone-1');
    const text = fleet.writeInventory(inv, { roles: { web: ['web-1', 'gone-1'] }, extraHosts: [gone], states: 'states', vars: { project: 'shop' } });
    writeFileSync(inv, `${text}secrets:\n  api_token: { env: CONVERGE_TEST_API_TOKEN }\n`);
  });
  afterAll(async () => fleet?.close());

  it('on a terminal, shows a line per host that updates in place under a fleet line', async () => {
    const r = await runInTerminal([process.execPath, BIN, 'highstate', '-i', inv, '--accept-new-host-keys'], { cwd: fleet.dir, env: ENV, cols: 160, rows: 40 });
    expect(r.code, r.final).toBe(1); // gone-1 is unreachable
    const hostLine = (screen: string) => /^ {2}web-1 {2,}(\S.*)$/m.exec(screen)?.[1];
    const states = [...new Set(r.screens.map(hostLine).filter((s): s is string => !!s))];
    // The slow commands show while they run: the line moved on from one to the other.
    expect(states, r.screens.join('\n=====\n')).toContain('applying 1/6 settle');
    expect(states).toContain('applying 4/6 warm-cache');
    expect(states.indexOf('applying 1/6 settle')).toBeLessThan(states.indexOf('applying 4/6 warm-cache'));
    // While web-1 works, the fleet line counts gone-1 as done (unreachable) and the clock runs.
    const during = r.screens.filter((s) => hostLine(s)?.startsWith('applying'));
    const clocks = during.map((s) => /^fleet: 1\/2 done \(1 unreachable\) (\d+\.\d)s$/m.exec(s)?.[1]).filter(Boolean).map(Number);
    expect(clocks.length, during.join('\n=====\n')).toBeGreaterThan(1);
    expect(Math.max(...clocks)).toBeGreaterThan(Math.min(...clocks));
    // gone-1's report is printed above the live lines as soon as it is known.
    expect(during.every((s) => /^gone-1 {2}unreachable/m.test(s))).toBe(true);
    // At the end: the reports, one fleet line (nothing left over from redraws), no live host line, the summary.
    expect(r.final.match(/^fleet: /gm), r.final).toHaveLength(1);
    expect(r.final).toMatch(/^fleet: 2\/2 done \(1 changed, 1 unreachable\) \d+\.\ds$/m);
    expect(r.final).not.toMatch(/^ {2}(web-1|gone-1) {2}/m);
    expect(r.final).toMatch(/^web-1 {2}changed {2}\(6 changed/m);
    expect(r.final).toMatch(/^apply: 2 host\(s\): 0 unchanged, 1 changed, 0 drifted, 0 failed, 1 unreachable;/m);
    expect(r.final).not.toContain(SECRET);
  });

  it('on a terminal with --json, the fleet line still counts every host and stdout stays JSON', async () => {
    const out = join(fleet.dir, 'check.json');
    const r = await runInTerminal(['sh', '-c', `exec "$0" "$@" > ${out}`, process.execPath, BIN, 'highstate', '-i', inv, '--check', '--json'], { cwd: fleet.dir, env: ENV });
    expect(r.code, r.final).toBe(1);
    expect(r.final).toMatch(/^fleet: 2\/2 done \(1 unchanged, 1 unreachable\) \d+\.\ds$/m);
    expect(r.final).not.toMatch(/^ {2}(web-1|gone-1) {2}/m);
    expect(JSON.parse(readFileSync(out, 'utf8')).mode).toBe('check');
  });

  it('when stderr is not a terminal, logs one plain line each time a host enters a phase and each time a resource finishes', async () => {
    const r = await cli('highstate');
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).not.toContain('\x1b');
    const lines = r.stderr.trimEnd().split('\n');
    for (const l of lines) expect(l).toMatch(/^\[\d+\.\ds\] (web-1|gone-1): \S/);
    // A line per resource as it finishes (n/m, id, result, seconds), between the phases.
    const RESOURCE_LINE = /^(\d+)\/(\d+) (\S+) (\S+) \((\d+\.\d)s\)$/;
    const phases = (host: string) => lines.filter((l) => l.includes(` ${host}: `)).map((l) => l.replace(/^.*?: /, '')).filter((l) => !RESOURCE_LINE.test(l));
    expect(phases('web-1')).toEqual(['connecting', 'facts', 'applying 6 resource(s)', 'done']);
    const finished = lines.filter((l) => l.includes(' web-1: ')).map((l) => RESOURCE_LINE.exec(l.replace(/^.*?: /, ''))).filter((m) => m !== null);
    expect(finished.map((m) => `${m[1]}/${m[2]} ${m[3]} ${m[4]}`)).toEqual(IDS.map((id, i) => `${i + 1}/6 ${id} unchanged`));
    expect(phases('gone-1')).toEqual(['connecting', 'failed']);
    // Reports and the summary go to stdout.
    expect(r.stdout).toMatch(/^web-1 {2}unchanged/m);
    expect(r.stdout).toMatch(/^apply: 2 host\(s\)/m);
  });

  describe('after drift by hand', () => {
    let reportDir: string;
    beforeAll(async () => {
      await fleet.exec('web-1', "sed -i 's/workers = 2/workers = 8/' /srv/app/app.ini && echo 'API_TOKEN=edited-by-hand' > /srv/app/secret.env && chmod 0644 /srv/app/secret.env");
      reportDir = join(fleet.dir, 'reports');
      mkdirSync(reportDir);
    });

    it('--check --report FILE.html writes the report and changes nothing', async () => {
      const before = await snapshot(fleet, 'web-1', ['/srv/app']);
      const r = await cli('highstate', '--check', '--json', '--report', join(reportDir, 'drift.html'));
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain(`report written to ${join(reportDir, 'drift.html')}`);
      const st = Object.fromEntries(Object.entries(resourcesOf(r.json, 'web-1')).map(([id, x]) => [id, x.status]));
      expect(st).toEqual({ 'app-dir': 'unchanged', settle: 'unchanged', 'app-conf': 'would-change', 'app-secret': 'would-change', 'warm-cache': 'unchanged', motd: 'unchanged' });
      expect(await snapshot(fleet, 'web-1', ['/srv/app'])).toBe(before);
    });

    it('the HTML report opens in Chromium with no network, right counts, expandable diffs and no secret', async () => {
      const file = join(reportDir, 'drift.html');
      const html = readFileSync(file, 'utf8');
      expect(html).not.toContain(SECRET);
      expect(html).not.toContain('edited-by-hand');
      const ctx: BrowserContext = await chromium.launchPersistentContext(join(fleet.dir, 'chromium-profile'), {
        executablePath: '/usr/bin/chromium',
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      });
      try {
        const requests: string[] = [];
        await ctx.route('**/*', (route) => {
          requests.push(route.request().url());
          return route.request().url() === pathToFileURL(file).href ? route.continue() : route.abort();
        });
        const page = await ctx.newPage();
        await page.goto(pathToFileURL(file).href);
        expect(await page.title()).toBe('converge report');
        expect(await page.locator('h1').innerText()).toBe('converge report: check of 2 host(s)');
        const row = async (host: string) => (await page.locator(`#summary tr[data-host="${host}"] td`).allInnerTexts()).map((s) => s.trim());
        // host, roles, status, unchanged, changed, would change (of which drift, pending, new), failed, skipped
        expect(await row('web-1')).toEqual(['web-1', 'web', 'drift', '4', '0', '2', '2', '0', '0', '0', '0']);
        expect(await row('gone-1')).toEqual(['gone-1', 'web', 'unreachable', '0', '0', '0', '0', '0', '0', '0', '0']);
        await expect(page.locator('details.host[data-host="gone-1"] .hint').innerText()).resolves.toMatch(/^hint: /);

        // A drifted file: collapsed at first; its summary opens it, and the diff's summary opens the diff.
        const conf = page.locator('details.resource[data-id="app-conf"]');
        const diff = conf.locator('pre.diff');
        expect(await diff.isVisible()).toBe(false);
        await conf.locator('> summary').click();
        expect(await conf.locator('li', { hasText: 'content' }).isVisible()).toBe(true);
        expect(await diff.isVisible()).toBe(false);
        await conf.locator('details.diff > summary').click();
        expect(await diff.isVisible()).toBe(true);
        expect(await diff.locator('.del').allInnerTexts()).toEqual(['-workers = 8']);
        expect(await diff.locator('.add').allInnerTexts()).toEqual(['+workers = 2']);

        // The file that holds a secret: marked sensitive, no diff, no value.
        const secret = page.locator('details.resource[data-id="app-secret"]');
        await secret.locator('> summary').click();
        const text = await secret.innerText();
        expect(text).toContain('(sensitive)');
        expect(text).toMatch(/mode: 0644 → 0600/);
        expect(await secret.locator('pre.diff').count()).toBe(0);
        expect(await page.content()).not.toContain(SECRET);

        // Self-contained: the page asked for nothing but itself.
        expect(requests).toEqual([pathToFileURL(file).href]);
      } finally {
        await ctx.close();
      }
    });

    it('--report FILE.md writes the same report as Markdown', async () => {
      const file = join(reportDir, 'drift.md');
      const r = await cli('highstate', '--check', '--report', file);
      expect(r.code, r.stderr).toBe(1);
      const md = readFileSync(file, 'utf8');
      expect(md).toContain('# converge report: check of 2 host(s)');
      expect(md).toContain('| web-1 | web | drift | 4 | 0 | 2 | 2 | 0 | 0 | 0 | 0 |');
      expect(md).toContain('| gone-1 | web | unreachable | 0 | 0 | 0 | 0 | 0 | 0 | 0 | 0 |');
      expect(md).toMatch(/```diff\n(.*\n)*-workers = 8\n\+workers = 2\n```/);
      expect(md).toMatch(/would-change \(drift\): <b>app-secret<\/b>/);
      expect(md).not.toContain(SECRET);
      expect(md).not.toContain('edited-by-hand');
    });

    it('Ctrl-C on a terminal: the notice shows above the live lines, the run stops at a safe point', async () => {
      writeFileSync(join(fleet.dir, 'states/slow.yaml'), 'resources:\n  slow:\n    cmd: { run: "sleep 3; touch /srv/slow", creates: /srv/slow }\n  after-slow:\n    file: { path: /srv/after-slow, content: "x\\n" }\n');
      const r = await runInTerminal([process.execPath, BIN, 'apply', 'slow', '-i', inv, '--target', 'web-1'], { cwd: fleet.dir, env: ENV, interruptWhen: /^ {2}web-1 +applying 0\/2 slow$/m });
      expect(r.code, r.final).toBe(130);
      expect(r.final).toMatch(/^SIGINT: stopping at a safe point/m);
      expect(r.final.match(/^fleet: /gm), r.final).toHaveLength(1);
      expect(r.final).toMatch(/^ {2}- after-slow \[file:\/srv\/after-slow\] skipped: not attempted: the run was interrupted$/m);
      expect(r.final).toMatch(/INTERRUPTED/);
      expect((await fleet.exec('web-1', 'test -e /srv/after-slow; echo $?')).stdout.trim()).toBe('1');
    });

    it('graph --check colours each resource by what the check found', async () => {
      const r = await cli('graph', 'web-1', '--check');
      expect(r.code, r.stderr).toBe(0);
      const node = (id: string) => new RegExp(`^ {2}"${id}" \\[label="${id}\\\\n[^"]+\\\\n\\((\\S+)\\)", fillcolor="(#[0-9a-f]{6})"\\];$`, 'm').exec(r.stdout)?.slice(1);
      for (const id of IDS) expect(node(id), `${id} in\n${r.stdout}`).toEqual(['app-conf', 'app-secret'].includes(id) ? ['would-change', '#e3f2fd'] : ['unchanged', '#e8f5e9']);
      const m = await cli('graph', 'web-1', '--check', '--format', 'mermaid');
      expect(m.stdout).toMatch(/^ {2}r2\["app-conf<br\/>file:\/srv\/app\/app\.ini"\]:::would_change$/m);
      expect(m.stdout).toMatch(/^ {2}classDef would_change fill:#e3f2fd$/m);
    });
  });
});
