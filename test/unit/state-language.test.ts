// The state language never accepts what it will not do (issue: a second
// fleet written from the docs alone). Each case failed silently or with a
// misleading message before.

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';
import { prepare, prepareError, writeTree } from './tree.js';

const top = 'roles:\n  web: [web]\n';
const FLEET_INV = `
states: states
vars: { project: myproj, log_level: info, firewall: { ssh: { port: 22 } } }
roles: { web: { vars: { firewall: { http: { port: 80 } } } }, app: {}, db: {} }
hosts:
  web-1: { address: 10.0.0.1, roles: [web, app] }
  web-2: { address: 10.0.0.2, roles: [web, app] }
  db-1: { address: 10.0.0.3, roles: [db] }
`;
const web = (state: string, inventory?: string) => ({ ...(inventory ? { 'inventory.yaml': inventory } : {}), 'states/top.yaml': top, 'states/web.yaml': state });
const specs = (files: Record<string, string>) => prepare(files)[0].graph.order.map((r) => ({ id: r.id, spec: r.spec }));

describe('for_each lists written in place', () => {
  it('render the templates inside each item: ids, paths and commands', () => {
    const out = specs(
      web(
        [
          'resources:',
          '  x-{{ item.name }}:',
          '    for_each:',
          '      - { name: "a-{{ project }}", cmd: "celery --loglevel {{ log_level }}" }',
          '    file: { path: "/tmp/{{ item.name }}", content: "{{ item.cmd }}" }',
        ].join('\n'),
        FLEET_INV,
      ),
    );
    expect(out).toEqual([{ id: 'x-a-myproj', spec: { path: '/tmp/a-myproj', content: 'celery --loglevel info' } }]);
  });
});

describe('filters and tests', () => {
  it("selectattr('roles', 'contains', 'app') keeps only the hosts with that role", () => {
    const out = specs(web('resources:\n  backends:\n    file: { path: /b, content: "{{ fleet | selectattr(\'roles\', \'contains\', \'app\') | map(attribute=\'name\') | join(\',\') }}" }\n', FLEET_INV));
    expect(out[0].spec.content).toBe('web-1,web-2');
  });

  it('rejectattr and select take a test and its argument; an unknown test is an error', () => {
    const out = specs(web('resources:\n  a:\n    file: { path: /a, content: "{{ fleet | rejectattr(\'name\', \'eq\', \'db-1\') | map(attribute=\'address\') | join(\' \') }}" }\n', FLEET_INV));
    expect(out[0].spec.content).toBe('10.0.0.1 10.0.0.2');
    expect(prepareError(web('resources:\n  a:\n    file: { path: /a, content: "{{ fleet | selectattr(\'roles\', \'has\', \'app\') | list }}" }\n', FLEET_INV))).toMatch(/web\.yaml:3: resources\.a\.file: .*test not found: has/);
  });

  it('an unknown filter is an error naming it', () => {
    expect(prepareError(web('resources:\n  a:\n    file: { path: "/{{ project | shout }}" }\n'))).toMatch(/web\.yaml:3: resources\.a\.file: .*filter not found: shout/);
    expect(prepareError(web('resources:\n  a:\n    file: { path: "/{{ project | shout }}" }\n'))).toContain('hint: see the filters and tests in docs/state-language.md');
  });

  it('values, dict2items, items, unique, flatten turn mappings into lists', () => {
    const out = specs(
      web(
        [
          'resources:',
          '  a:',
          '    file:',
          '      path: /a',
          '      content: "{{ firewall | values | map(attribute=\'port\') | join(\',\') }};{{ firewall | dict2items | map(attribute=\'key\') | join(\',\') }};{{ (firewall | items)[0][0] }};{{ [1, 1, 2] | unique | join }};{{ [[1], [2, [3]]] | flatten | join }};{{ [\'a\', \'b\'] | map(\'upper\') | join }}"',
        ].join('\n'),
        FLEET_INV,
      ),
    );
    expect(out[0].spec.content).toBe('22,80;ssh,http;ssh;12;123;AB');
  });

  it('an attribute an item lacks is an error naming it and what the item has, unless a default or an existence test says what to do', () => {
    const content = (expr: string) => web(`resources:\n  a:\n    file: { path: /a, content: "{{ ${expr} }}" }\n`, FLEET_INV);
    expect(prepareError(content("fleet | map(attribute='nmae') | join(',')"))).toMatch(/web\.yaml:3: resources\.a\.file: .*filter map: an item has no attribute "nmae" \(it has name, address, roles, vars\)/);
    expect(prepareError(content("fleet | map(attribute='nmae') | join(',')"))).toContain("hint: fix the attribute's name, or say what a missing one means");
    expect(prepareError(content("fleet | selectattr('role', 'contains', 'app') | list"))).toMatch(/filter selectattr: an item has no attribute "role"/);
    expect(prepareError(content("fleet | rejectattr('vars.nope') | length"))).toMatch(/filter rejectattr: an item has no attribute "vars\.nope"/);
    const out = specs(content("fleet | map(attribute='vars.tier', default='none') | join(',') }};{{ fleet | selectattr('vars.tier', 'defined') | list | length"));
    expect(out[0].spec.content).toBe('none,none,none;0');
  });
});

describe('undefined names and keys', () => {
  it('a whole-expression value names the variable, file:line and host', () => {
    const msg = prepareError(web('resources:\n  tz:\n    file: { path: /etc/timezone, content: "{{ timezone }}" }\n'));
    expect(msg).toMatch(/web\.yaml:3: resources\.tz\.file: timezone is not defined, in "\{\{ timezone \}\}"/);
    expect(msg).toContain('web-1');
    expect(msg).not.toMatch(/JSON|syntax/);
  });

  it('a misspelt key names the key and what the mapping has; a when on it is not silently false', () => {
    const msg = prepareError(web('resources:\n  a:\n    when: "{{ firewall.shh.port == 22 }}"\n    file: { path: /a }\n', FLEET_INV));
    expect(msg).toMatch(/web\.yaml:3: resources\.a\.when: firewall\.shh is not defined \(firewall has ssh, http\)/);
  });

  it('a guarded lookup (is defined, default) is allowed', () => {
    const out = specs(web('resources:\n  a:\n    file: { path: /a, content: "{% if tz is defined and tz.name %}x{% endif %}{{ tz | default(\'UTC\') }}{{ firewall.smtp.port | default(25) }}" }\n', FLEET_INV));
    expect(out[0].spec.content).toBe('UTC25');
  });

  it('in a .j2 file: names the variable and the template line', () => {
    const msg = prepareError({ ...web('resources:\n  a:\n    file: { path: /etc/a.conf, template: a.conf.j2 }\n'), 'states/a.conf.j2': 'project = {{ project }}\n{% for x in [1] %}{{ x }}{% endfor %}\nname = {{ nope }}\n' });
    expect(msg).toMatch(/states\/a\.conf\.j2:3: nope is not defined, in "a\.conf\.j2" \(rendered for resources\.a\.file at \S*web\.yaml:3\)/);
  });

  it('an expression whose value is undefined (not a missing name) says so instead of a JSON error', () => {
    const msg = prepareError(web('resources:\n  a:\n    file: { path: /a, content: "{{ [1, 2].foo }}" }\n'));
    expect(msg).toMatch(/web\.yaml:3: resources\.a\.file: "\{\{ \[1, 2\]\.foo \}\}" has no value/);
  });

  it('template text left in a rendered value is an error, unless it is inside raw', () => {
    const inv = FLEET_INV.replace('log_level: info', 'log_level: info, text: "{% raw %}{{ literal }}{% endraw %}"');
    expect(prepareError(web('resources:\n  a:\n    file: { path: /a, content: "x {{ text }}" }\n', inv))).toMatch(/web\.yaml:3: resources\.a\.file: rendering "x \{\{ text \}\}" left template text in the value/);
    expect(specs(web('resources:\n  a:\n    file: { path: /a, content: "{% raw %}{{ x }}{% endraw %}" }\n'))[0].spec.content).toBe('{{ x }}');
  });
});

describe('errors a new user meets', () => {
  const TWO = 'states: states\nroles: { web: {}, db: {} }\nhosts:\n  w1: { address: h, roles: [web] }\n  w2: { address: h, roles: [web] }\n  d1: { address: h, roles: [db] }\n';

  it('validate reports every host and every missing state, one mistake many hosts share once', async () => {
    const dir = writeTree({ 'inventory.yaml': TWO, 'states/top.yaml': 'roles:\n  web: [web]\n  db: [db/missing, db/also-missing]\n', 'states/web.yaml': 'resources:\n  a:\n    file: { path: "/{{ nope }}" }\n' });
    const r = await runCli(['validate', '-i', join(dir, 'inventory.yaml')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/top\.yaml:3: roles\.db\[0\]: state "db\/missing" not found/);
    expect(r.stderr).toMatch(/top\.yaml:3: roles\.db\[1\]: state "db\/also-missing" not found/);
    expect(r.stderr).toMatch(/web\.yaml:3: resources\.a\.file: nope is not defined.*\(hosts w1, w2\)/);
    expect(r.stderr.match(/nope is not defined/g)).toHaveLength(1);
  });

  it('show HOST works while another role\'s state is missing', async () => {
    const dir = writeTree({ 'inventory.yaml': TWO, 'states/top.yaml': 'roles:\n  web: [web]\n  db: [db/missing]\n', 'states/web.yaml': 'resources:\n  a:\n    file: { path: /a }\n' });
    const r = await runCli(['show', 'w1', '-i', join(dir, 'inventory.yaml')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('id: a');
  });

  it('mode: 0644 unquoted says to quote it, naming what YAML read', () => {
    const msg = prepareError(web('resources:\n  a:\n    file: { path: /a, mode: 0644 }\n'));
    expect(msg).toMatch(/web\.yaml:3: resources\.a\.file\.mode: must be string \(YAML reads 0644 unquoted as 644\)/);
    expect(msg).toContain('hint: quote it: mode: "0644"');
  });

  it('an unquoted {{ in a flow map is one error with the hint to quote it', () => {
    const msg = prepareError(web('resources:\n  a: { file: { path: {{ project }}, content: {{ project }} } }\n'));
    expect(msg.split('\n').filter((l) => !l.startsWith('  hint'))).toHaveLength(2);
    expect(msg).toMatch(/web\.yaml:2: \{\{ project \}\} is read by YAML as a mapping, not a template/);
    expect(msg).toContain('hint: quote it: path: "{{ project }}"');
  });

  it('an unquoted {{ that breaks the YAML itself is one error per line, saying to quote it', () => {
    const msg = prepareError(web('resources:\n  a:\n    file: { path: {{ root }}/app, content: x, mode: "0644" }\n'));
    expect(msg.split('\n')).toEqual([expect.stringMatching(/web\.yaml:3: YAML syntax error: \{\{ root \}\}\/app, is not quoted/), expect.stringContaining('hint: quote the value')]);
  });

  it('a schema error points at the docs, not at a schema file inside the converge checkout', () => {
    expect(prepareError(web('resources:\n  a:\n    file: { path: /a, validate: [1] }\n'))).toContain('hint: see the file fields in docs/resources.md#file');
  });

  it('apply STATE does not use the top file: roles it maps need not be in the inventory', async () => {
    const dir = writeTree({ 'inventory.yaml': TWO, 'states/top.yaml': 'roles:\n  balancer: [web]\n', 'states/web.yaml': 'resources:\n  a:\n    file: { path: /a }\n' });
    const v = await runCli(['validate', '-i', join(dir, 'inventory.yaml')]);
    expect(v.stderr).toMatch(/top\.yaml:2: roles\.balancer: top file maps unknown role "balancer"/);
    // Past input checks: it tries to connect (and fails on the made-up address), so the exit is a host failure, not invalid input.
    const a = await runCli(['apply', 'web', '-i', join(dir, 'inventory.yaml'), '--check', '--target', 'w1', '--progress', 'none']);
    expect(a.stderr).not.toContain('invalid input');
    expect(a.stdout + a.stderr).toMatch(/w1/);
  });
});

describe('requisites', () => {
  it("watch naming an entry a when left out on this host is met; a name that exists nowhere is an error pointing at the state's roles", () => {
    const [p] = prepare(web('resources:\n  conf:\n    when: false\n    file: { path: /etc/a }\n  svc:\n    service: { name: nginx }\n    watch: [conf]\n'));
    expect(p.graph.order.map((r) => r.id)).toEqual(['svc']);
    const msg = prepareError(web('resources:\n  svc:\n    service: { name: nginx }\n    watch: [conff]\n'));
    expect(msg).toMatch(/web\.yaml:4: resources\.svc\.watch\[0\]: watch names "conff", which is not a resource of this host/);
    expect(msg).toContain('misspelt, or is its state in another role');
  });

  it('watch_in names a resource that cannot react: an error', () => {
    expect(prepareError(web('resources:\n  a:\n    file: { path: /a }\n    watch_in: [b]\n  b:\n    file: { path: /b }\n'))).toMatch(/web\.yaml:4: resources\.a\.watch_in\[0\]: watch_in names b, a file, which cannot react/);
  });

  it('watch_in, require_in and onchanges_in make the edges of the named resources', () => {
    const [p] = prepare(web('resources:\n  svc:\n    service: { name: nginx }\n  conf:\n    file: { path: /etc/a }\n    watch_in: [svc]\n    require_in: [svc]\n'));
    expect(p.graph.order.map((r) => r.id)).toEqual(['conf', 'svc']);
    expect(p.graph.upstream(p.graph.order[1]).map((e) => `${e.from.id} ${e.kind}`).sort()).toEqual(['conf require', 'conf watch']);
  });
});

describe('bootstrapping from the command line', () => {
  const INV = 'states: states\nvars: { project: shop, port: 80 }\nroles: { web: {} }\ndefaults: { user: deploy }\nhosts:\n  w1: { address: h, roles: [web] }\n';
  const files = { 'inventory.yaml': INV, 'states/top.yaml': 'roles:\n  web: [web]\n', 'states/web.yaml': 'resources:\n  a:\n    file: { path: "/srv/{{ project }}", content: "{{ port + 1 }} {{ host_user }}" }\n' };

  it('-e KEY=VALUE (as YAML) and -e @FILE override every other var; --user sets the login', async () => {
    const dir = writeTree({ ...files, 'more.yaml': 'host_user: from-file\n' });
    const r = await runCli(['show', 'w1', '-i', join(dir, 'inventory.yaml'), '-e', 'port=8080', '-e', 'project=bootstrap', '-e', `@${join(dir, 'more.yaml')}`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('path: /srv/bootstrap');
    expect(r.stdout).toContain('content: 8081 from-file');
    const { loadContext } = await import('../../src/cli/context.js');
    expect(loadContext({ inventory: join(dir, 'inventory.yaml'), user: 'root' }).hosts[0].user).toBe('root');
    expect(loadContext({ inventory: join(dir, 'inventory.yaml') }).hosts[0].user).toBe('deploy');
  });

  it('a malformed -e is an error saying the form', async () => {
    const dir = writeTree(files);
    const r = await runCli(['show', 'w1', '-i', join(dir, 'inventory.yaml'), '-e', 'port']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--extra-vars: "port" is not KEY=VALUE or @FILE/);
  });
});

describe('lookup', () => {
  it("lookup('file', PATH) reads non-secret text from the tree, in a var or a value; a missing file is an error", () => {
    const inv = FLEET_INV.replace('log_level: info', `log_level: info, alice_key: "{{ lookup('file', 'keys/alice.pub') }}"`);
    const out = specs({ ...web('resources:\n  a:\n    file: { path: /a, content: "{{ alice_key }}|{{ lookup(\'file\', \'keys/alice.pub\') | length }}" }\n', inv), 'states/keys/alice.pub': 'ssh-ed25519 AAAA alice\n' });
    expect(out[0].spec.content).toBe('ssh-ed25519 AAAA alice|22');
    expect(prepareError(web('resources:\n  a:\n    file: { path: /a, content: "{{ lookup(\'file\', \'keys/nope.pub\') }}" }\n'))).toMatch(/web\.yaml:3: resources\.a\.file: .*lookup\('file', 'keys\/nope\.pub'\): no such file in the states directory/);
  });
});
