// Every input error the CLI prints says where (file:line, or the host, or
// the command-line option), what is wrong, and on the next line a `hint:`
// saying what to do. One case per class of mistake a person makes.

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';
import { writeTree } from './tree.js';

const INVENTORY = 'states: states\nvars: { project: myproj }\nroles: { web: {} }\nhosts:\n  web-1: { address: 127.0.0.1, roles: [web] }\n';
const TOP = 'roles:\n  web: [web]\n';

interface Case {
  name: string;
  files: Record<string, string>;
  /** Arguments; INV stands for the tree's inventory.yaml, DIR for the tree. */
  args: string[];
  /** Matches the start of the diagnostic line: the location. */
  where: RegExp;
  /** Matches the same line: the problem. */
  problem: RegExp;
  env?: Record<string, string>;
}

const tree = (files: Record<string, string>) => ({ 'inventory.yaml': INVENTORY, 'states/top.yaml': TOP, ...files });
const web = (yaml: string) => tree({ 'states/web.yaml': yaml });
const validate = ['validate', '-i', 'INV'];

const CASES: Case[] = [
  { name: 'YAML syntax error', files: web('resources:\n  a:\n    file: { path: /x\n'), args: validate, where: /^\S*states\/web\.yaml:\d+: /, problem: /YAML syntax error/ },
  { name: 'duplicate key in one YAML mapping', files: web('resources:\n  a: { file: { path: /a } }\n  a: { file: { path: /b } }\n'), args: validate, where: /^\S*states\/web\.yaml:3: /, problem: /YAML syntax error: .*[Mm]ap keys must be unique/ },
  { name: 'schema violation', files: web('resources:\n  motd:\n    file:\n      path: /etc/motd\n      mode: 644x\n'), args: validate, where: /^\S*states\/web\.yaml:5: resources\.motd\.file\.mode: /, problem: /does not match/ },
  { name: 'unknown field', files: web('resources:\n  motd:\n    file: { path: /etc/motd, colour: red }\n'), args: validate, where: /^\S*states\/web\.yaml:3: resources\.motd\.file\.colour: /, problem: /unknown field "colour"/ },
  { name: 'unknown resource type', files: web('resources:\n  a:\n    fiel: { path: /x }\n'), args: validate, where: /^\S*states\/web\.yaml:3: resources\.a\.fiel: /, problem: /unknown resource type or field "fiel"/ },
  { name: 'unknown requisite', files: web('resources:\n  a:\n    file: { path: /a }\n    require: [nginx]\n'), args: validate, where: /^\S*states\/web\.yaml:4: resources\.a\.require\[0\]: /, problem: /require names "nginx", which is not a resource of this host/ },
  { name: 'watch on a resource that cannot react', files: web('resources:\n  a:\n    file: { path: /a }\n  b:\n    file: { path: /b }\n    watch: [a]\n'), args: validate, where: /^\S*states\/web\.yaml:6: resources\.b\.watch: /, problem: /a file cannot react to watched changes/ },
  { name: 'dependency cycle', files: web('resources:\n  a: { file: { path: /a }, require: [b] }\n  b: { file: { path: /b }, require: [a] }\n'), args: validate, where: /^\S*states\/web\.yaml:[23]: resources\.[ab]: /, problem: /dependency cycle: [ab] -\(require\)-> [ab] -\(require\)-> [ab]/ },
  { name: 'include cycle', files: tree({ 'states/web.yaml': 'include: [base]\n', 'states/base.yaml': 'include: [web]\n' }), args: validate, where: /^\S*states\/base\.yaml:1: include\[0\]: /, problem: /include cycle: web -> base -> web/ },
  { name: 'undefined template variable', files: web('resources:\n  a:\n    file: { path: "/srv/{{ nope }}" }\n'), args: validate, where: /^\S*states\/web\.yaml:3: resources\.a\.file: /, problem: /nope is not defined, in "\/srv\/\{\{ nope \}\}"/ },
  { name: 'for_each that is not a list', files: web('resources:\n  a-{{ item }}:\n    for_each: "{{ project }}"\n    file: { path: "/{{ item }}" }\n'), args: validate, where: /^\S*states\/web\.yaml:3: resources\["a-\{\{ item \}\}"\]\.for_each: /, problem: /for_each must give a list/ },
  { name: 'template syntax error in a value', files: web('resources:\n  a:\n    file: { path: "/srv/{{ project | }}" }\n'), args: validate, where: /^\S*states\/web\.yaml:3: resources\.a\.file: /, problem: /template error in "\/srv\/\{\{ project \| \}\}": expected symbol/ },
  { name: 'missing template file', files: web('resources:\n  a:\n    file: { path: /etc/a.conf, template: a.conf.j2 }\n'), args: validate, where: /^\S*states\/web\.yaml:3: resources\.a\.file: /, problem: /template "a\.conf\.j2" not found/ },
  { name: 'undefined variable in a template file', files: tree({ 'states/web.yaml': 'resources:\n  a:\n    file: { path: /etc/a.conf, template: a.conf.j2 }\n', 'states/a.conf.j2': 'project = {{ project }}\nname = {{ nope }}\n' }), args: validate, where: /^\S*states\/a\.conf\.j2:2: /, problem: /nope is not defined, in "a\.conf\.j2" \(rendered for resources\.a\.file at \S*states\/web\.yaml:3\)/ },
  { name: 'entry with no resource type', files: web('resources:\n  a:\n    require: [b]\n'), args: validate, where: /^\S*states\/web\.yaml:2: resources\.a: /, problem: /has no resource type/ },
  { name: 'entry with two resource types', files: web('resources:\n  a:\n    file: { path: /a }\n    directory: { path: /b }\n'), args: validate, where: /^\S*states\/web\.yaml:2: resources\.a: /, problem: /has 2 resource types \(file, directory\)/ },
  { name: 'unknown top-level field in a state file', files: web('resouces:\n  a: { file: { path: /a } }\n'), args: validate, where: /^\S*states\/web\.yaml:1: resouces: /, problem: /unknown top-level field "resouces"/ },
  { name: 'unknown role in the top file', files: tree({ 'states/top.yaml': 'roles:\n  web: [web]\n  db: [web]\n', 'states/web.yaml': 'resources: {}\n' }), args: validate, where: /^\S*states\/top\.yaml:3: roles\.db: /, problem: /top file maps unknown role "db"/ },
  { name: 'missing state file', files: tree({ 'states/top.yaml': 'roles:\n  web: [web, gone]\n', 'states/web.yaml': 'resources: {}\n' }), args: validate, where: /^\S*states\/top\.yaml:2: roles\.web\[1\]: /, problem: /state "gone" not found/ },
  { name: 'missing include', files: tree({ 'states/web.yaml': 'include: [base, gone]\nresources: {}\n', 'states/base.yaml': 'resources: {}\n' }), args: validate, where: /^\S*states\/web\.yaml:1: include\[1\]: /, problem: /state "gone" not found/ },
  { name: 'missing top file', files: { 'inventory.yaml': INVENTORY, 'states/web.yaml': 'resources: {}\n' }, args: validate, where: /^\S*states\/top\.yaml: /, problem: /no top file/ },
  { name: 'unknown state named on the command line', files: web('resources: {}\n'), args: ['apply', 'nosuch', '-i', 'INV', '--check'], where: /^apply nosuch: /, problem: /state "nosuch" not found/ },
  { name: 'duplicate id across states', files: tree({ 'states/web.yaml': 'include: [base]\nresources:\n  a: { file: { path: /b } }\n', 'states/base.yaml': 'resources:\n  a: { file: { path: /a } }\n' }), args: validate, where: /^\S*states\/web\.yaml:3: resources\.a: /, problem: /resource id "a" is declared twice \(also at \S*states\/base\.yaml:2\)/ },
  { name: 'the same thing managed twice', files: web('resources:\n  a: { file: { path: /x } }\n  b: { file: { path: /x } }\n'), args: validate, where: /^\S*states\/web\.yaml:3: resources\.b: /, problem: /file:\/x is managed twice/ },
  { name: 'unknown role of a host', files: tree({ 'inventory.yaml': INVENTORY.replace('roles: [web]', 'roles: [web, db]') }), args: validate, where: /^\S*inventory\.yaml:5: hosts\.web-1\.roles\[1\]: /, problem: /unknown role "db"/ },
  { name: 'inventory schema violation', files: tree({ 'inventory.yaml': INVENTORY.replace('address: 127.0.0.1', 'adress: 127.0.0.1') }), args: validate, where: /^\S*inventory\.yaml:5: hosts\.web-1/, problem: /(unknown field "adress"|missing required field "address")/ },
  { name: 'missing inventory file', files: {}, args: ['validate', '-i', 'DIR/nope.yaml'], where: /^\S*nope\.yaml: /, problem: /inventory file not found/ },
  { name: 'missing secret env var', files: tree({ 'inventory.yaml': INVENTORY + 'secrets:\n  db_password: { env: CONVERGE_TEST_UNSET_SECRET }\n' }), args: ['highstate', '-i', 'INV', '--check'], where: /^\S*inventory\.yaml:7: secrets\.db_password: /, problem: /environment variable CONVERGE_TEST_UNSET_SECRET is not set/ },
  { name: 'bad --target', files: web('resources: {}\n'), args: ['highstate', '-i', 'INV', '--check', '--target', 'web and ('], where: /^--target: /, problem: /bad expression "web and \(": unexpected end/ },
  { name: '--target matching nothing', files: web('resources: {}\n'), args: ['highstate', '-i', 'INV', '--check', '--target', 'db-*'], where: /^\S*inventory\.yaml: --target: /, problem: /"db-\*" matches no host/ },
  { name: '--target naming an unknown role', files: web('resources: {}\n'), args: ['highstate', '-i', 'INV', '--check', '--target', 'role:db'], where: /^\S*inventory\.yaml: --target: /, problem: /unknown role "db"/ },
  { name: 'unknown --report format', files: web('resources: {}\n'), args: ['highstate', '-i', 'INV', '--check', '--report', 'out.pdf'], where: /^--report: /, problem: /unknown report format "out\.pdf"/ },
  { name: '--out without --check', files: web('resources: {}\n'), args: ['highstate', '-i', 'INV', '--out', 'plan.json'], where: /^--out: /, problem: /--out writes a plan, which only a check makes/ },
  { name: 'apply-plan of a file that is not a plan', files: tree({ 'states/web.yaml': 'resources: {}\n', 'plan.json': '{"hosts": {}}' }), args: ['apply-plan', 'DIR/plan.json', '-i', 'INV'], where: /^\S*plan\.json: /, problem: /not a converge saved plan/ },
  { name: 'bad --batch', files: web('resources: {}\n'), args: ['highstate', '-i', 'INV', '--check', '--batch', 'half'], where: /^--batch: /, problem: /must be a number or a percentage, got "half"/ },
  { name: 'unknown option', files: web('resources: {}\n'), args: ['highstate', '-i', 'INV', '--chek'], where: /^command line: /, problem: /Unknown argument: chek/ },
  { name: 'unknown command', files: {}, args: ['higstate'], where: /^command line: /, problem: /Unknown argument: higstate/ },
  { name: 'init over existing files', files: { 'inventory.yaml': INVENTORY }, args: ['init', 'DIR'], where: /^\S+: /, problem: /would overwrite inventory\.yaml/ },
  { name: 'unknown host for show', files: web('resources: {}\n'), args: ['show', 'web-9', '-i', 'INV'], where: /^\S*inventory\.yaml: /, problem: /no host "web-9" in the inventory/ },
  { name: 'unknown resource for graph --why', files: web('resources:\n  a: { file: { path: /a } }\n'), args: ['graph', 'web-1', '-i', 'INV', '--why', 'a', 'zz'], where: /^host web-1: --why: /, problem: /no resource "zz" on this host/ },
];

describe('input errors say where, what, and what to do', () => {
  it.each(CASES)('$name', async (c) => {
    const dir = writeTree(c.files);
    const args = c.args.map((a) => (a === 'INV' ? join(dir, 'inventory.yaml') : a.replace('DIR', dir)));
    const r = await runCli(args);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toBe('');
    const lines = r.stderr.split('\n');
    expect(lines[0]).toBe('converge: invalid input');
    const i = lines.findIndex((l) => c.where.test(l) && c.problem.test(l));
    expect(i, `no line with location ${c.where} and problem ${c.problem} in:\n${r.stderr}`).toBeGreaterThan(0);
    expect(lines[i + 1], `no hint after the diagnostic in:\n${r.stderr}`).toMatch(/^ {2}hint: \S/);
  });
});
