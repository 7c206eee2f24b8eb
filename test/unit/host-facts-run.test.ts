// Host facts in a run: states compile with them, a converged host whose
// facts are unchanged costs one exec, a host whose facts changed is
// compiled and planned again (two), and a host never read before has its
// facts read first (one exec) without stopping the others when it cannot.

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FactsCache } from '../../src/engine/facts-cache.js';
import { readMissingFacts } from '../../src/engine/first-facts.js';
import { HOST_FACTS_SCRIPT, parseHostFacts, type HostFacts } from '../../src/engine/host-facts.js';
import { prepareHosts, runHost } from '../../src/engine/run.js';
import { loadInventory } from '../../src/inventory/inventory.js';
import { loadStateTree } from '../../src/state/states.js';
import { LocalTransport } from '../../src/transport/local.js';
import { UnreachableError } from '../../src/transport/ssh.js';
import { prepareError, writeTree } from './tree.js';

const DEBIAN_12 = parseHostFacts(readFileSync(join(import.meta.dirname, '../fixtures/host-facts/debian-12.txt'), 'utf8'));
const UBUNTU_24 = parseHostFacts(readFileSync(join(import.meta.dirname, '../fixtures/host-facts/ubuntu-24.04.txt'), 'utf8'));

describe('host facts in states', () => {
  it('states branch on them; a misspelt fact is an input error naming it, with file:line and host', () => {
    const dir = writeTree({
      'inventory.yaml': 'states: states\nroles: { web: {} }\nhosts:\n  web-1: { address: h, roles: [web] }\n',
      'states/top.yaml': 'roles:\n  web: [web]\n',
      'states/web.yaml': 'resources:\n  rel:\n    file: { path: /etc/release-seen, content: "{{ host.os.codename }} {{ host.cpus }}" }\n  ubuntu-only:\n    when: "{{ host.os.id == \'ubuntu\' }}"\n    file: { path: /etc/ubuntu }\n',
    });
    const inv = loadInventory(join(dir, 'inventory.yaml'));
    const tree = loadStateTree(join(dir, 'states'), inv.roles);
    const [deb] = prepareHosts(inv, tree, inv.hosts, undefined, () => DEBIAN_12);
    expect(deb.graph.order.map((r) => [r.id, r.spec.content])).toEqual([['rel', 'bookworm 2']]);
    const [ubu] = prepareHosts(inv, tree, inv.hosts, undefined, () => UBUNTU_24);
    expect(ubu.graph.order.map((r) => r.id)).toEqual(['rel', 'ubuntu-only']);
    const typo = writeTree({ 'inventory.yaml': 'states: states\nroles: { web: {} }\nhosts:\n  web-1: { address: h, roles: [web] }\n', 'states/top.yaml': 'roles:\n  web: [web]\n', 'states/web.yaml': 'resources:\n  a:\n    file: { path: "/etc/{{ host.os.codenam }}" }\n' });
    const tinv = loadInventory(join(typo, 'inventory.yaml'));
    expect(() => prepareHosts(tinv, loadStateTree(join(typo, 'states'), tinv.roles), tinv.hosts, undefined, () => DEBIAN_12)).toThrow(/web\.yaml:3: resources\.a\.file: host\.os\.codenam is not defined \(host\.os has id, id_like, version_id, codename, pretty_name\)/);
    const msg = prepareError({ 'states/top.yaml': 'roles:\n  web: [web]\n', 'states/web.yaml': 'resources:\n  a:\n    file: { path: "/etc/{{ host.os.codenam }}" }\n' });
    expect(msg).toMatch(/web\.yaml:3: resources\.a\.file: host\.os is not defined.*\(host web-1\)/);
    expect(msg).toContain('converge facts');
  });
});

describe('host facts in a run', () => {
  const setup = () => {
    const dir = writeTree({
      'inventory.yaml': 'states: states\nroles: { web: {} }\nhosts:\n  local-1: { address: localhost, transport: local, roles: [web] }\n',
      'states/top.yaml': 'roles:\n  web: [web]\n',
      'states/web.yaml': `resources:\n  seen:\n    file: { path: "${dir2}/seen", content: "{{ host.os.codename }}" }\n`,
    });
    const inv = loadInventory(join(dir, 'inventory.yaml'));
    return { inv, tree: loadStateTree(join(dir, 'states'), inv.roles) };
  };
  const dir2 = mkdtempSync(join(tmpdir(), 'converge-hf-'));
  const run = (p: ReturnType<typeof prepareHosts>[number], cache: FactsCache) =>
    runHost(p, { check: true, forks: 1, statesDir: '/', signal: new AbortController().signal, connect: async () => new LocalTransport('local-1'), factsCache: cache });

  it('unchanged facts: one exec; changed facts: compiled and planned again, two execs, and kept', async () => {
    const here = parseHostFacts((await new LocalTransport().exec(HOST_FACTS_SCRIPT)).stdout);
    const { inv, tree } = setup();
    const cache = new FactsCache(mkdtempSync(join(tmpdir(), 'converge-fc-')));
    const [same] = prepareHosts(inv, tree, inv.hosts, undefined, () => here);
    const a = await run(same, cache);
    expect(a.execCount).toBe(1);
    expect(a.resources[0].changes[0]).toMatchObject({ path: 'content' });
    // Compiled with another host's facts (kept by an older run): the run finds out and compiles again.
    const stale: HostFacts = { ...here, os: { ...here.os, codename: 'stale-codename' } };
    const [old] = prepareHosts(inv, tree, inv.hosts, undefined, () => stale);
    expect(old.graph.order[0].spec.content).toBe('stale-codename');
    const b = await run(old, cache);
    expect(b.execCount).toBe(2);
    expect(b.resources[0].reason).not.toContain('stale-codename');
    expect(cache.get(inv.hosts[0])).toEqual(here);
  });

  it('a host never read: facts first (one exec), kept; one that cannot be reached fails alone', async () => {
    const cache = new FactsCache(mkdtempSync(join(tmpdir(), 'converge-fc-')));
    const { inv } = setup();
    const gone = { ...inv.hosts[0], name: 'gone-1', address: 'gone' };
    const cached = { ...inv.hosts[0], name: 'cached-1' };
    cache.set(cached, DEBIAN_12);
    const connects: string[] = [];
    const first = await readMissingFacts([inv.hosts[0], gone, cached], cache, async (h) => {
      connects.push(h.name);
      if (h.name === 'gone-1') throw new UnreachableError('gone-1: connection refused');
      return new LocalTransport(h.name);
    }, 5);
    expect(connects.sort()).toEqual(['gone-1', 'local-1']);
    expect(first.execs.get(inv.hosts[0])).toBe(1);
    expect(first.facts.get(cached)).toEqual(DEBIAN_12);
    expect(cache.get(inv.hosts[0])?.os.id).toBeTruthy();
    expect(first.failed).toMatchObject([{ host: 'gone-1', status: 'unreachable', error: { message: 'gone-1: connection refused' } }]);
  });
});
