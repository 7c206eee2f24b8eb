import { describe, expect, it } from 'vitest';
import { selectHosts } from '../../src/inventory/target.js';
import type { Host } from '../../src/inventory/inventory.js';

const host = (name: string, roles: string[]): Host => ({ name, address: '127.0.0.1', port: 22, user: 'root', knownHostsFile: '/dev/null', transport: 'ssh', roles, vars: {} });
const hosts = [host('web-1', ['web']), host('web-2', ['web']), host('web-3', ['web', 'worker']), host('db-1', ['db'])];
const roles = ['web', 'worker', 'db'];
const names = (expr: string) => selectHosts(hosts, roles, expr).map((h) => h.name);

describe('targeting', () => {
  it('selects a role by bare name', () => expect(names('worker')).toEqual(['web-3']));
  it('selects hosts by glob', () => expect(names('web-*')).toEqual(['web-1', 'web-2', 'web-3']));
  it('selects one host by name', () => expect(names('db-1')).toEqual(['db-1']));
  it('evaluates compound expressions', () => {
    expect(names('role:web and not host:web-3')).toEqual(['web-1', 'web-2']);
    expect(names('role:db or host:web-1')).toEqual(['web-1', 'db-1']);
    expect(names('(role:web or role:db) and not (host:web-1 or host:web-2)')).toEqual(['web-3', 'db-1']);
  });
  it('targets everything by default', () => expect(selectHosts(hosts, roles, undefined)).toHaveLength(4));
  it('fails when nothing matches', () => expect(() => names('cache-*')).toThrow(/matches no host/));
  it('fails on an unknown role', () => expect(() => names('role:cache')).toThrow(/unknown role "cache"/));
  it('fails on a malformed expression', () => {
    expect(() => names('role:web and')).toThrow(/unexpected end/);
    expect(() => names('(role:web')).toThrow(/missing \)/);
  });
});
