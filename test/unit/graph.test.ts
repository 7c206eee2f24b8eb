import { describe, expect, it } from 'vitest';
import { toDot } from '../../src/graph/graph.js';
import { prepare, prepareError } from './tree.js';

const top = 'roles:\n  web: [web]\n';
const order = (yaml: string) => prepare({ 'states/top.yaml': top, 'states/web.yaml': yaml })[0].graph.order.map((r) => r.id);

describe('graph', () => {
  it('keeps declaration order when nothing constrains it', () => {
    expect(order('resources:\n  c: { file: { path: /c } }\n  a: { file: { path: /a } }\n  b: { file: { path: /b } }\n')).toEqual(['c', 'a', 'b']);
  });

  it('orders by require, before and watch, by state id or natural id', () => {
    const yaml = [
      'resources:',
      '  conf: { file: { path: /etc/x.conf }, require: [dir] }',
      '  late: { file: { path: /late }, before: [conf] }',
      '  dir: { directory: { path: /opt/d } }',
      '  other: { file: { path: /o }, require: ["file:/etc/x.conf"] }',
    ].join('\n');
    expect(order(yaml)).toEqual(['late', 'dir', 'conf', 'other']);
  });

  it('adds implicit edges: a managed parent directory before its files', () => {
    expect(order('resources:\n  f: { file: { path: /srv/app/conf/x } }\n  d: { directory: { path: /srv/app } }\n')).toEqual(['d', 'f']);
  });

  it('prints the cycle path', () => {
    const msg = prepareError({ 'states/top.yaml': top, 'states/web.yaml': 'resources:\n  a: { file: { path: /a }, require: [b] }\n  b: { file: { path: /b }, require: [c] }\n  c: { file: { path: /c }, require: [a] }\n' });
    expect(msg).toMatch(/dependency cycle: (a -\(require\)-> c -\(require\)-> b -\(require\)-> a|b -\(require\)-> a -\(require\)-> c -\(require\)-> b|c -\(require\)-> b -\(require\)-> a -\(require\)-> c)/);
  });

  it('rejects an unknown requisite with file and line', () => {
    expect(prepareError({ 'states/top.yaml': top, 'states/web.yaml': 'resources:\n  a:\n    file: { path: /a }\n    require: [nginx]\n' })).toMatch(/web\.yaml:4: resources\.a\.require\[0\]: require names "nginx", which is not a resource of this host/);
  });

  it('gives the same order on every load', () => {
    const yaml = 'resources:\n' + Array.from({ length: 30 }, (_, i) => `  r${i}: { file: { path: /r${i} }${i % 3 ? `, require: [r${i - 1}]` : ''} }`).join('\n');
    expect(order(yaml)).toEqual(order(yaml));
  });

  it('draws watch edges apart from require edges in DOT', () => {
    const [p] = prepare({ 'states/top.yaml': top, 'states/web.yaml': 'resources:\n  a: { file: { path: /a } }\n  b: { file: { path: /b }, require: [a] }\n' });
    expect(toDot('web-1', p.graph)).toContain('"a" -> "b";');
  });
});
