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
    throw new InputError({ message: `bad expression "${expr}": ${msg}`, where: { path: '--target' }, hint: 'use role names, host globs, role:NAME, host:GLOB, and/or/not and parentheses, e.g. --target "role:web and not host:web-3"' });
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

/** `inventoryFile` names where the roles and hosts an error lists come from. */
export function selectHosts(hosts: Host[], roles: string[], expr: string | undefined, inventoryFile?: string): Host[] {
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
  const where = { file: inventoryFile, path: '--target' };
  if (unknownRoles.length) {
    throw new InputError({ message: `unknown role "${unknownRoles[0]}"`, where, hint: `roles in the inventory: ${roles.join(', ') || 'none'}` });
  }
  if (selected.length === 0) {
    throw new InputError({
      message: `"${expr}" matches no host`,
      where,
      hint: `target one of the inventory's roles (${roles.join(', ') || 'none'}) or hosts (${hosts.map((h) => h.name).join(', ')}); a bare word is a role when one has that name, else a host glob`,
    });
  }
  return selected;
}
