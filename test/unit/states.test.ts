import { describe, expect, it } from 'vitest';
import { prepare, prepareError } from './tree.js';

const top = 'roles:\n  web: [web]\n';

describe('state files', () => {
  it('renders vars, for_each and includes in declaration order', () => {
    const [p] = prepare({
      'states/top.yaml': top,
      'states/base.yaml': 'resources:\n  srv:\n    directory: { path: "/srv/{{ project }}" }\n',
      'states/web.yaml': [
        'include: [base]',
        'resources:',
        '  dev-{{ item }}:',
        '    for_each: [alice, bob]',
        '    file: { path: "/srv/{{ project }}/{{ item }}", content: "port={{ port }}\\n" }',
        '  skipped:',
        '    when: "{{ project == \'other\' }}"',
        '    file: { path: /tmp/x }',
      ].join('\n'),
    });
    expect(p.graph.order.map((r) => r.id)).toEqual(['srv', 'dev-alice', 'dev-bob']);
    expect(p.graph.order[1].spec).toEqual({ path: '/srv/myproj/alice', content: 'port=8000\n' });
  });

  it('drops an entry whose when is false, as a YAML boolean or a rendered expression', () => {
    const [p] = prepare({
      'states/top.yaml': top,
      'states/web.yaml': 'resources:\n  a: { file: { path: /a }, when: false }\n  b: { file: { path: /b }, when: "{{ port > 9000 }}" }\n  c: { file: { path: /c }, when: true }\n  d: { file: { path: /d }, when: "{{ project == \'myproj\' }}" }\n',
    });
    expect(p.graph.order.map((r) => r.id)).toEqual(['c', 'd']);
  });

  it('keeps a list var a list when a value is exactly one expression', () => {
    const [p] = prepare({
      'inventory.yaml': 'states: states\nvars: { modes: ["0644"] }\nroles: { web: {} }\nhosts: { web-1: { address: h, roles: [web] } }\n',
      'states/top.yaml': top,
      'states/web.yaml': 'resources:\n  f:\n    file: { path: /x, mode: "{{ modes[0] }}" }\n',
    });
    expect(p.graph.order[0].spec.mode).toBe('0644');
  });

  it('names file, line and path of a schema violation, and the expected shape', () => {
    const msg = prepareError({
      'states/top.yaml': top,
      'states/web.yaml': 'resources:\n  motd:\n    file:\n      path: /etc/motd\n      mode: 644x\n      colour: red\n',
    });
    expect(msg).toMatch(/states\/web\.yaml:5: resources\.motd\.file\.mode: does not match/);
    expect(msg).toMatch(/states\/web\.yaml:6: resources\.motd\.file\.colour: unknown field "colour"/);
    expect(msg).toMatch(/allowed fields: path, ensure, content/);
  });

  it('reports a YAML syntax error with its line', () => {
    expect(prepareError({ 'states/top.yaml': top, 'states/web.yaml': 'resources:\n  a:\n    file: { path: /x\n' })).toMatch(/states\/web\.yaml:\d+: YAML syntax error/);
  });

  it('reports an unknown resource type with the known ones', () => {
    expect(prepareError({ 'states/top.yaml': top, 'states/web.yaml': 'resources:\n  a:\n    fiel: { path: /x }\n' })).toMatch(/web\.yaml:3: resources\.a\.fiel: unknown resource type or field "fiel".*\n  hint: resource types: .*file/);
  });

  it('reports an undefined template variable where it is used', () => {
    expect(prepareError({ 'states/top.yaml': top, 'states/web.yaml': 'resources:\n  a:\n    file: { path: "/srv/{{ nope }}" }\n' })).toMatch(/web\.yaml:3: resources\.a\.file: nope is not defined, in "\/srv\/\{\{ nope \}\}"/);
  });

  it('reports an unknown role in the top file and a missing state', () => {
    expect(prepareError({ 'states/top.yaml': 'roles:\n  nosuch: [web]\n', 'states/web.yaml': 'resources: {}\n' })).toMatch(/top\.yaml:2: roles\.nosuch: top file maps unknown role "nosuch"/);
    expect(prepareError({ 'states/top.yaml': 'roles:\n  web: [gone]\n' })).toMatch(/state "gone" not found/);
  });

  it('rejects an id or a natural id declared twice', () => {
    expect(
      prepareError({
        'states/top.yaml': top,
        'states/web.yaml': 'resources:\n  a:\n    file: { path: /x }\n  b:\n    file: { path: /x }\n',
      }),
    ).toMatch(/file:\/x is managed twice: here as "b" and as "a"/);
  });
});
