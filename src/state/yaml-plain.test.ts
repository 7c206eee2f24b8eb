import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { readPlainYaml } from './yaml-plain.js';

/** What the `yaml` package reads (as parseYaml does), or 'error'. */
function viaYaml(text: string): unknown {
  const doc = parseDocument(text, { uniqueKeys: true });
  return doc.errors.length ? 'error' : doc.toJS({ maxAliasCount: 100 });
}

describe('readPlainYaml', () => {
  it('reads an inventory as the yaml package does', () => {
    const text = [
      '# the fleet',
      'states: states',
      'vars: { project: myproj, port: 8080, debug: false, none: null, empty: {}, list: [] }',
      'defaults:',
      '  user: deploy   # who logs in',
      '  key: ~/.ssh/id_ed25519',
      "  known_hosts: '/etc/ssh/known hosts'",
      'roles:',
      '  web: {}',
      '  db:',
      '    vars:',
      '      names: [a, "b c", \'d\', [e, f], { g: h }, "x\\ny\\"z", \'it\'\'s\']',
      'hosts:',
      '  w0: { address: 10.0.0.1, roles: [web, db] }',
      '  "web-1.example.com":',
      '    address: web-1.example.com',
      '    port: 2222',
      '    roles:',
      '    - web',
      '    -   db',
      '    vars:',
      '      list:',
      '        - x',
      '        -',
      '          nested: true',
      '        -',
      '  w2:',
      '',
    ].join('\n');
    const plain = readPlainYaml(text);
    expect(plain).toBeDefined();
    expect(plain!.value).toEqual(viaYaml(text));
  });

  // Each is valid YAML that means something this reader does not judge, or invalid YAML: left to the yaml package.
  it.each([
    'a: 0644',
    'a: 1.5',
    'a: 1e3',
    'a: 0x1f',
    'a: -1',
    'a: .inf',
    'a: ~',
    'a: Null',
    'a: TRUE',
    'a: hello world',
    'a: "\\x41"',
    'a: "\\u0041"',
    'a: "\\ "',
    'a: |\n  text',
    'a: >\n  text',
    'a: &x 1\nb: *x',
    'a: !!str 1',
    'a: [1, 2,]',
    'a: { b: }',
    'a: [1,\n  2]',
    'a: "multi\n  line"',
    'a: b\n  continued',
    'a: b\na: c',
    'a: { b: 1, b: 2 }',
    '0x10: a',
    '1: a',
    'true: a',
    '__proto__: a',
    '? a\n: b',
    '- a\n- b',
    '---\na: 1',
    '%YAML 1.1\n---\na: yes',
    'a:\n\tb: 1',
    'a: 1\r\nb: 2',
    'a:\n  - b: 1',
    'a:\n  b: 1\n c: 2',
    'a: {{ x }}',
    'a: x,y',
    'a: @x',
    'a: `x`',
    'a: x:y',
    'a:b',
    '',
    '# only a comment',
    '  a: 1',
  ])('leaves %j to the yaml package', (text) => {
    expect(readPlainYaml(text)).toBeUndefined();
  });

  it('agrees with the yaml package on every text it reads (generated)', () => {
    // Lines from pieces, valid or not: whatever readPlainYaml accepts must be what yaml reads.
    const keys = ['a', 'b', 'w0', '"q k"', "'s'", '10.0.0.1', 'x-y', '1', 'null', 'a b'];
    const values = ['', ' 1', ' 0', ' 12', ' 07', ' x', ' /srv/a', ' ~/k', ' ~', ' true', ' false', ' null', ' "d q"', " 's q'", ' []', ' {}', ' [a, 1]', ' { k: v }', ' [a, [b, { c: d }]]', ' 1.2.3.4', ' 1.2', ' a #c', ' a#c', ' {a: 1}', ' [a,b]', ' x y', ' ""', " ''", ' -', ' "a\\nb\\t"', ' "q\\"q"', ' "s\\\\"', ' "a\\/b"', ' "\\x41"', " 'it''s'", " ''''", ' "a\\"'];
    let seed = 17;
    const pick = <T>(xs: T[]): T => xs[(seed = (seed * 1103515245 + 12345) % 2 ** 31) % xs.length];
    // A block mapping of a few keys, each with a value on its line, a nested mapping or a sequence (at the key's indent or deeper).
    const mapping = (indent: string, depth: number): string[] =>
      Array.from({ length: 1 + (seed % 3) }, () => {
        const key = `${indent}${pick(keys)}:`;
        const kind = depth < 2 ? pick(['inline', 'inline', 'map', 'seq', 'seq-deeper']) : 'inline';
        if (kind === 'inline') return [key + pick(values)];
        if (kind === 'map') return [key, ...mapping(indent + '  ', depth + 1)];
        const itemIndent = kind === 'seq' ? indent : indent + '  ';
        return [key, ...Array.from({ length: 1 + (seed % 2) }, () => `${itemIndent}-${pick(values)}`)];
      }).flat();
    let accepted = 0;
    for (let n = 0; n < 3000; n++) {
      const text = mapping('', 0).join('\n');
      const plain = readPlainYaml(text);
      if (plain === undefined) continue;
      accepted++;
      expect(plain.value, text).toEqual(viaYaml(text));
    }
    expect(accepted).toBeGreaterThan(500);
  });
});
