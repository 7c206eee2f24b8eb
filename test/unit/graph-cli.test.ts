// `converge graph HOST` as a person runs it, without a host: DOT, SVG (drawn
// in-process by viz-js) and Mermaid pictures of one fixture tree that has
// every kind of edge, and --why explaining an order.

import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';
import { writeTree } from './tree.js';

const STATE = `resources:
  motd:
    file: { path: /etc/motd, content: "hi\\n" }
    before: [nginx]
  nginx:
    package: { name: nginx }
  sites:
    directory: { path: /etc/nginx/sites-enabled }
  site:
    file: { path: /etc/nginx/sites-enabled/app, content: "server {}\\n" }
    require: [nginx]
  nginx-running:
    service: { name: nginx, running: true }
    watch: [site]
  note:
    cmd: { run: "logger site changed" }
    onchanges: ["file:/etc/nginx/sites-enabled/app"]
`;
const IDS = ['motd', 'nginx', 'sites', 'site', 'nginx-running', 'note'];
const EDGES = [
  ['motd', 'nginx', 'before'],
  ['nginx', 'site', 'require'],
  ['sites', 'site', 'implicit'],
  ['nginx', 'nginx-running', 'implicit'],
  ['site', 'nginx-running', 'watch'],
  ['site', 'note', 'onchanges'],
];

describe('converge graph', () => {
  let inv: string;
  const graph = (...args: string[]) => runCli(['graph', 'web-1', '-i', inv, ...args]);
  beforeAll(() => {
    const dir = writeTree({
      'inventory.yaml': 'states: states\nroles: { web: {} }\nhosts:\n  web-1: { address: 127.0.0.1, roles: [web] }\n',
      'states/top.yaml': 'roles:\n  web: [web]\n',
      'states/web.yaml': STATE,
    });
    inv = join(dir, 'inventory.yaml');
  });

  it('prints DOT with one node per resource and every edge, styled by kind', async () => {
    const r = await graph();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^digraph "web-1" \{\n/);
    for (const id of IDS) expect(r.stdout).toContain(`  "${id}" [label=`);
    const edges = [...r.stdout.matchAll(/^ {2}"([^"]+)" -> "([^"]+)"(.*);$/gm)].map((m) => [m[1], m[2], m[3]]);
    expect(edges.map(([a, b]) => [a, b]).sort()).toEqual(EDGES.map(([a, b]) => [a, b]).sort());
    const style = Object.fromEntries(edges.map(([a, b, s]) => [`${a}>${b}`, s]));
    expect(style['site>nginx-running']).toContain('label="watch"');
    expect(style['site>note']).toContain('label="onchanges"');
    expect(style['sites>site']).toContain('style=dotted');
    expect(style['nginx>site']).toBe('');
  });

  it('draws an SVG picture with the same nodes and edges', async () => {
    const r = await graph('--format', 'svg');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/<svg [^>]*width="\d+pt" height="\d+pt"/);
    expect(r.stdout.trimEnd()).toMatch(/<\/svg>$/);
    const titles = (cls: string) => [...r.stdout.matchAll(new RegExp(`<g id="[^"]+" class="${cls}">\\s*<title>([^<]+)</title>`, 'g'))].map((m) => m[1].replace(/&#45;/g, '-').replace(/&gt;/g, '>'));
    expect(titles('node').sort()).toEqual([...IDS].sort());
    expect(titles('edge').sort()).toEqual(EDGES.map(([a, b]) => `${a}->${b}`).sort());
    // The watch edge is drawn in blue, and each node shows its natural id.
    expect(r.stdout).toMatch(/<title>site&#45;&gt;nginx&#45;running<\/title>\s*<path [^>]*stroke="blue"/);
    expect(r.stdout).toContain('>service:nginx</text>');
  });

  it('prints a Mermaid flowchart with an arrow per edge kind', async () => {
    const r = await graph('--format', 'mermaid');
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('flowchart LR');
    const node = new Map<string, string>();
    for (const l of lines) {
      const m = /^ {2}(r\d+)\["([^<]+)<br\/>([^"]+)"\]$/.exec(l);
      if (m) node.set(m[2], m[1]);
    }
    expect([...node.keys()].sort()).toEqual([...IDS].sort());
    const arrow = { before: '-- before -->', require: '-->', implicit: '-.->', watch: '== watch ==>', onchanges: '-. onchanges .->' };
    for (const [a, b, kind] of EDGES) expect(lines).toContain(`  ${node.get(a)} ${arrow[kind as keyof typeof arrow]} ${node.get(b)}`);
    expect(lines).toHaveLength(1 + IDS.length + EDGES.length);
  });

  it('--why prints the chain of edges that orders A before B, by state id or kind:name', async () => {
    const r = await graph('--why', 'motd', 'note');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('motd -(before)-> nginx\nnginx -(require)-> site\nsite -(onchanges)-> note\n');
    // The shortest chain: the package orders its service directly.
    expect((await graph('--why', 'motd', 'nginx-running')).stdout).toBe('motd -(before)-> nginx\nnginx -(implicit)-> nginx-running\n');
    expect((await graph('--why', 'directory:/etc/nginx/sites-enabled', 'cmd:note')).stdout).toBe('sites -(implicit)-> site\nsite -(onchanges)-> note\n');
  });

  it('--why says when nothing orders A before B, and suggests the other way round', async () => {
    expect((await graph('--why', 'nginx-running', 'motd')).stdout).toBe('nothing orders nginx-running before motd (but motd comes before nginx-running: try --why motd nginx-running)\n');
    expect((await graph('--why', 'sites', 'motd')).stdout).toBe('nothing orders sites before motd\n');
  });
});
