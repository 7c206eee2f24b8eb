// Targeting expressions:  workers | web-* | role:web and not host:web-3 | (a or b)
// A bare word is a role when one has that name, else a host name or glob.
// An expression that matches nothing is an error, not a silent no-op.

import { minimatch } from 'minimatch';
import { InputError } from '../core/diagnostics.js';
import type { Host } from './inventory.js';

type Node =
  | { op: 'and' | 'or'; left: Node; right: Node }
  | { op: 'not'; arg: Node }
  | { op: 'role'; name: string }
  | { op: 'host'; glob: string }
  | { op: 'word'; word: string };

function tokenize(expr: string): string[] {
  return expr.match(/\(|\)|[^\s()]+/g) ?? [];
}

function parse(expr: string): Node {
  const tokens = tokenize(expr);
  let i = 0;
  const fail = (msg: string): never => {
    throw new InputError({ message: `bad --target expression "${expr}": ${msg}`, where: {}, hint: 'use role names, host globs, role:NAME, host:GLOB, and/or/not and parentheses' });
  };
  const orExpr = (): Node => {
    let left = andExpr();
    while (tokens[i] === 'or') {
      i++;
      left = { op: 'or', left, right: andExpr() };
    }
    return left;
  };
  const andExpr = (): Node => {
    let left = notExpr();
    while (tokens[i] === 'and') {
      i++;
      left = { op: 'and', left, right: notExpr() };
    }
    return left;
  };
  const notExpr = (): Node => {
    if (tokens[i] === 'not') {
      i++;
      return { op: 'not', arg: notExpr() };
    }
    return atom();
  };
  const atom = (): Node => {
    const t = tokens[i++];
    if (t === undefined) return fail('unexpected end');
    if (t === '(') {
      const n = orExpr();
      if (tokens[i++] !== ')') fail('missing )');
      return n;
    }
    if (t === ')' || t === 'and' || t === 'or') return fail(`unexpected "${t}"`);
    if (t.startsWith('role:')) return { op: 'role', name: t.slice(5) };
    if (t.startsWith('host:')) return { op: 'host', glob: t.slice(5) };
    return { op: 'word', word: t };
  };
  const n = orExpr();
  if (i < tokens.length) fail(`unexpected "${tokens[i]}"`);
  return n;
}

export function selectHosts(hosts: Host[], roles: string[], expr: string | undefined): Host[] {
  if (!expr || expr === 'all' || expr === '*') return hosts;
  const tree = parse(expr);
  const unknownRoles: string[] = [];
  const test = (n: Node, h: Host): boolean => {
    switch (n.op) {
      case 'and':
        return test(n.left, h) && test(n.right, h);
      case 'or':
        return test(n.left, h) || test(n.right, h);
      case 'not':
        return !test(n.arg, h);
      case 'role':
        if (!roles.includes(n.name)) unknownRoles.push(n.name);
        return h.roles.includes(n.name);
      case 'host':
        return minimatch(h.name, n.glob);
      case 'word':
        return roles.includes(n.word) ? h.roles.includes(n.word) : minimatch(h.name, n.word);
    }
  };
  const selected = hosts.filter((h) => test(tree, h));
  if (unknownRoles.length) {
    throw new InputError({ message: `--target names unknown role "${unknownRoles[0]}"`, where: {}, hint: `known roles: ${roles.join(', ')}` });
  }
  if (selected.length === 0) {
    throw new InputError({
      message: `--target "${expr}" matches no host`,
      where: {},
      hint: `roles: ${roles.join(', ') || 'none'}; hosts: ${hosts.map((h) => h.name).join(', ')}`,
    });
  }
  return selected;
}
