#!/usr/bin/env node
// Controller cost at scale: the real engine (compile, graph, batched facts,
// plan, report) against a fake transport that answers fact scripts as a
// converged host would, with injected round-trip latency.
//   node bench/sim.mjs HOSTS RESOURCES LATENCY_MS   -> prints one JSON line
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadInventory } from '../dist/inventory/inventory.js';
import { loadStateTree } from '../dist/state/states.js';
import { prepareHosts, runFleet } from '../dist/engine/run.js';
import { FakeTransport } from '../dist/transport/fake.js';
import { inShard, parseShard } from '../dist/fleet/shard.js';
import { readFileSync } from 'node:fs';
import { HOST_FACTS_SCRIPT, parseHostFacts } from '../dist/engine/host-facts.js';

// Every simulated host answers its facts as the Debian 12 test image does, and was compiled with them (as from the cache).
const FACTS_OUTPUT = readFileSync(new URL('../test/fixtures/host-facts/debian-12.txt', import.meta.url), 'utf8');
const FACTS = parseHostFacts(FACTS_OUTPUT);

// Options for the sharding test (test/integration/shard-sim.test.ts):
//   --shard K/N       simulate one controller of N (src/fleet/shard.ts)
//   --drift-every M   every Mth host has one file drifted (else the fleet must be converged)
//   --out FILE        write the run's JSON report there
const argv = process.argv.slice(2);
const flag = (name) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const positional = argv.filter((a, i) => !a.startsWith('--') && !argv[i - 1]?.startsWith('--'));
const [hosts = 1000, resources = 100, latency = 20] = positional.map(Number);
const driftEvery = Number(flag('--drift-every') ?? 0);
const dir = mkdtempSync(join(tmpdir(), 'converge-sim-'));
mkdirSync(join(dir, 'states'));
writeFileSync(join(dir, 'inventory.yaml'), `states: states\nvars: { project: myproj }\nroles: { workers: {} }\nhosts:\n${Array.from({ length: hosts }, (_, i) => `  w${i}: { address: 10.0.0.${i % 250}, roles: [workers] }`).join('\n')}\n`);
writeFileSync(join(dir, 'states/top.yaml'), 'roles:\n  workers: [worker]\n');
const dirs = Math.max(1, Math.floor(resources / 10));
const lines = ['resources:'];
for (let d = 0; d < dirs; d++) lines.push(`  dir-${d}:`, `    directory: { path: "/srv/{{ project }}/d${d}", mode: "0755" }`);
for (let f = 0; f < resources - dirs; f++) lines.push(`  conf-${f}:`, `    file: { path: "/srv/{{ project }}/d${f % dirs}/conf-${f}.ini", content: "name={{ host.name }}\\nindex=${f}\\n", mode: "0644" }`);
writeFileSync(join(dir, 'states/worker.yaml'), lines.join('\n') + '\n');

// A converged host: every stat says "as desired"; file hashes are those of the rendered content.
// Its CPU counts in cpu_s too, so it finds each query (`converge_begin N`, then its script) with indexOf rather
// than a regex over the script, and joins its answer's parts once (`+=` made a tree of ~5 strings per query).
const BEGIN = '\nconverge_begin ';
const FILE = 'converge_file ';
const STAT_OUTPUT = 'type=directory\nowner=root\ngroup=root\nmode=755\nsize=4096\n';
const answer = (script, drifted) => {
  const at = script.indexOf('@@converge:') + '@@converge:'.length;
  const token = script.slice(at, script.indexOf(':', at));
  const open = `@@converge:${token}:`;
  // As batchScript prints it: the query's stdout, then its exit code and (empty) stderr.
  const close = `\n@@converge:${token}:end@@ 0\n\n@@converge:${token}:stderr-end@@\n`;
  const out = [];
  for (let i = script.indexOf(BEGIN); i >= 0; i = script.indexOf(BEGIN, i + 1)) {
    const nl = script.indexOf('\n', i + 1);
    const query = script.indexOf('\n', nl + 1) + 1; // past its one wrapper line (`err=$( (`, or `{` for an inline query)
    let body = 'type=absent\n';
    if (script.startsWith(HOST_FACTS_SCRIPT, query)) body = FACTS_OUTPUT;
    else if (script.startsWith('converge_stat ', query)) body = STAT_OUTPUT;
    else if (script.startsWith(FILE, query)) {
      // converge_file PATH SHA256 fetch (the paths here need no quotes)
      const hashAt = script.indexOf(' ', query + FILE.length) + 1;
      const hash = drifted && script.startsWith('/conf-0.ini ', hashAt - '/conf-0.ini '.length) ? '0'.repeat(64) : script.slice(hashAt, script.indexOf(' ', hashAt));
      body = `type=file\nowner=root\ngroup=root\nmode=644\nsize=20\nsha256=${hash}\n`;
    }
    out.push(open, script.slice(i + BEGIN.length, nl), '@@\n', body, close);
  }
  return { code: 0, stdout: out.join(''), stderr: '' };
};

const cpu0 = process.cpuUsage();
const t0 = performance.now();
const inv = loadInventory(join(dir, 'inventory.yaml'));
const tree = loadStateTree(join(dir, 'states'), inv.roles);
const shard = flag('--shard') ? parseShard(flag('--shard')) : undefined;
const prepared = prepareHosts(inv, tree, shard ? inShard(inv.hosts, shard) : inv.hosts, undefined, () => FACTS);
const tPrepared = performance.now();
const run = await runFleet(prepared, {
  check: true,
  forks: 1000,
  statesDir: tree.dir,
  signal: new AbortController().signal,
  connect: async (h) => new FakeTransport(h.name, (s) => answer(s, driftEvery > 0 && Number(h.name.slice(1)) % driftEvery === 0), latency),
});
if (shard) run.shard = shard;
if (flag('--out')) writeFileSync(flag('--out'), JSON.stringify(run));
const wall = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
const drift = run.hosts.filter((h) => h.status !== 'unchanged').length;
if (drift && !driftEvery) throw new Error(`simulation expected a converged fleet, ${drift} hosts differ: ${JSON.stringify(run.hosts.find((h) => h.status !== 'unchanged')?.resources.find((r) => r.status !== 'unchanged'))}`);
console.log(JSON.stringify({
  hosts, resources, latency_ms: latency,
  wall_s: +(wall / 1000).toFixed(3),
  prepare_s: +((tPrepared - t0) / 1000).toFixed(3),
  cpu_s: +((cpu.user + cpu.system) / 1e6).toFixed(3),
  peak_rss_mib: +(process.resourceUsage().maxRSS / 1024).toFixed(1),
  execs_per_host: run.hosts.reduce((s, h) => s + h.execCount, 0) / Math.max(1, run.hosts.length),
}));
