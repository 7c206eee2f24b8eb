import { describe, expect, it } from 'vitest';
import nunjucks from 'nunjucks';
import { Templates } from '../../src/state/template.js';
import { templateNames } from '../../src/state/template-names.js';
import { prepare } from './tree.js';

const top = 'roles:\n  web: [web]\n';
const inventory = (hosts: string, extra = '') => `states: states\nvars: { project: myproj }\n${extra}roles: { web: {} }\nhosts:\n${hosts}`;
const specs = (p: ReturnType<typeof prepare>, id: string) => p.map((h) => h.graph.order.find((r) => r.id === id)!.spec);

describe('compiled entries shared between hosts', () => {
  it('renders an entry once for hosts that agree on what it reads, and per host where they differ', () => {
    const prepared = prepare({
      'inventory.yaml': inventory('  a: { address: a, roles: [web], vars: { port: 1 } }\n  b: { address: b, roles: [web], vars: { port: 2 } }\n  c: { address: c, roles: [web], vars: { port: 1 } }\n'),
      'states/top.yaml': top,
      'states/web.yaml': ['resources:', '  dir: { directory: { path: "/srv/{{ project }}" } }', '  conf: { file: { path: "/srv/{{ project }}/port", content: "port={{ port }}" } }', '  motd: { file: { path: /etc/motd, content: "I am {{ host.name }}" } }'].join('\n'),
    });
    const [dirA, dirB, dirC] = specs(prepared, 'dir');
    expect(dirA).toEqual({ path: '/srv/myproj' });
    expect(dirB).toBe(dirA);
    expect(dirC).toBe(dirA);
    const [confA, confB, confC] = specs(prepared, 'conf');
    expect([confA.content, confB.content, confC.content]).toEqual(['port=1', 'port=2', 'port=1']);
    expect(confC).toBe(confA);
    expect(specs(prepared, 'motd').map((s) => s.content)).toEqual(['I am a', 'I am b', 'I am c']);
    // Each host's resources still name that host.
    expect(prepared.map((p) => p.graph.order[0].where.host)).toEqual(['a', 'b', 'c']);
  });

  it("never hands one host's secret to another", () => {
    const prepared = prepare({
      'inventory.yaml': inventory(
        '  a: { address: a, roles: [web], vars: { pw: "{{ secret_a }}" } }\n  b: { address: b, roles: [web], vars: { pw: "{{ secret_b }}" } }\n  c: { address: c, roles: [web] }\n',
        'secrets: { secret_a: { value: sekrit-a }, secret_b: { value: sekrit-b } }\n',
      ),
      'states/top.yaml': top,
      'states/web.yaml': 'resources:\n  db: { file: { path: /etc/db, content: "password={{ pw | default(\'none\') }}" } }\n',
    });
    expect(specs(prepared, 'db').map((s) => s.content)).toEqual(['password=sekrit-a', 'password=sekrit-b', 'password=none']);
    expect(prepared.map((p) => p.graph.order[0].sensitive)).toEqual([true, true, false]);
  });

  it('in an entry compiled per host (it reads host), renders each string by the values that string reads', () => {
    const prepared = prepare({
      'inventory.yaml': inventory('  a: { address: a, roles: [web], vars: { port: 1 } }\n  b: { address: b, roles: [web], vars: { port: 2 } }\n  c: { address: c, roles: [web], vars: { port: 1 } }\n'),
      'states/top.yaml': top,
      'states/web.yaml': 'resources:\n  conf: { file: { path: "/srv/{{ project }}/{{ port }}.ini", content: "host={{ host.name }}\\nport={{ port }}\\n", owner: "{{ owner | default(\'root\') }}" } }\n',
    });
    expect(specs(prepared, 'conf')).toEqual([
      { path: '/srv/myproj/1.ini', content: 'host=a\nport=1\n', owner: 'root' },
      { path: '/srv/myproj/2.ini', content: 'host=b\nport=2\n', owner: 'root' },
      { path: '/srv/myproj/1.ini', content: 'host=c\nport=1\n', owner: 'root' },
    ]);
  });

  it('expands for_each per distinct list', () => {
    const prepared = prepare({
      'inventory.yaml': inventory('  a: { address: a, roles: [web], vars: { users: [ann] } }\n  b: { address: b, roles: [web], vars: { users: [bob, cy] } }\n'),
      'states/top.yaml': top,
      'states/web.yaml': 'resources:\n  "home-{{ item }}":\n    for_each: "{{ users }}"\n    directory: { path: "/home/{{ item }}" }\n',
    });
    expect(prepared.map((p) => p.graph.order.map((r) => r.spec.path))).toEqual([['/home/ann'], ['/home/bob', '/home/cy']]);
  });
});

describe('template names', () => {
  it('are the symbols a template looks up', () => {
    expect([...templateNames('{{ host.name }}-{% for u in users %}{{ u | upper }}{% endfor %}')!].sort()).toEqual(['host', 'u', 'upper', 'users']);
  });
  it('are unknown when the output depends on more than the text names', () => {
    expect(templateNames('{% include "other.j2" %}')).toBeUndefined();
    expect(templateNames('{% import "macros.j2" as m %}{{ m.x() }}')).toBeUndefined();
    expect(templateNames('{{ [1, 2] | random }}')).toBeUndefined();
    expect(templateNames('{{ unclosed')).toBeUndefined();
  });
});

describe('templates of text and lookups only', () => {
  // Rendered by concatenation rather than by nunjucks: the result must be what nunjucks gives.
  const vars = { s: 'x', n: 8080, f: 1.5, t: true, no: false, list: [1, 2], m: { k: 'v', deep: { p: 22 } }, neg: -0, host: { name: 'web1' }, braces: '{{ s }}' };
  const templates = new Templates('/nonexistent');
  const nj = new nunjucks.Environment(null, { autoescape: false, throwOnUndefined: true });
  const where = () => ({ file: 'states/x.yaml' });
  it('render as nunjucks does, and a whole {{ lookup }} is its value', () => {
    for (const text of ['a{{ s }}b', '{{ n }}:{{ f }}', 'on={{ t }} off={{ no }}', 'l={{ list }}', '{{ m.k }}/{{ m["k"] }}/{{ m.deep.p }}', 'h={{ host.name }}\n', 'i={{ list[1] }}', 'len={{ s.length }}']) {
      expect(templates.renderString(text, vars, where), text).toBe(nj.renderString(text, vars));
    }
    expect(templates.renderString('{{ n }}', vars, where)).toBe(8080);
    expect(templates.renderString('{{ t }}', vars, where)).toBe(true);
    expect(templates.renderString('{{ m.deep }}', vars, where)).toEqual({ p: 22 });
    expect(templates.renderString('{{ list }}', vars, where)).toEqual([1, 2]);
    expect(Object.is(templates.renderString('{{ neg }}', vars, where), 0)).toBe(true);
  });
  it('still name what is missing, and refuse template text left in a value', () => {
    expect(() => templates.renderString('{{ m.nope }}', vars, where)).toThrow(/m\.nope is not defined \(m has k, deep\)/);
    expect(() => templates.renderString('x{{ nope }}', vars, where)).toThrow(/nope is not defined/);
    expect(() => templates.renderString('{{ braces }}!', vars, where)).toThrow(/left template text in the value/);
  });
});
