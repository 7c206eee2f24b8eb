import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { batchScript, gatherFacts, splitBatch, type FactRequest } from '../../src/engine/facts.js';
import type { FactQuery, FactTable } from '../../src/core/resource.js';
import { FakeTransport } from '../../src/transport/fake.js';

const q = (key: string, script: string, runAs?: string): FactQuery => ({ key, script, runAs, parse: (s) => s });

describe('fact batching', () => {
  it('runs every query in one sh script and splits the output back per key', () => {
    const queries = [q('a', 'echo one; echo two'), q('b', 'printf no-newline'), q('c', 'exit 3'), q('d', 'echo after-failure')];
    const script = batchScript(queries, 'tok');
    const out = execFileSync('/bin/sh', ['-s'], { input: script }).toString();
    const parts = splitBatch(out, queries, 'tok');
    expect(parts.get('a')).toEqual({ stdout: 'one\ntwo\n', code: 0, stderr: '' });
    expect(parts.get('b')).toEqual({ stdout: 'no-newline', code: 0, stderr: '' });
    expect(parts.get('c')).toEqual({ stdout: '', code: 3, stderr: '' });
    expect(parts.get('d')).toEqual({ stdout: 'after-failure\n', code: 0, stderr: '' });
  });

  it("runs each table's command once, before the queries, for the args of every query that names it", () => {
    const calls: string[][] = [];
    const table: FactTable = { script: (args) => (calls.push([...args]), `tbl="${args.join(' ')}"`) };
    const queries = [{ ...q('a', 'echo "a sees $tbl"'), tables: [table], tableArg: 'x' }, q('b', 'echo b'), { ...q('c', 'echo "c sees $tbl"'), tables: [table], tableArg: 'y' }];
    const out = execFileSync('/bin/sh', ['-s'], { input: batchScript(queries, 'tok') }).toString();
    expect(calls).toEqual([['x', 'y']]);
    expect(splitBatch(out, queries, 'tok').get('c')!.stdout).toBe('c sees x y\n');
    expect(batchScript([q('b', 'echo b')], 'tok')).not.toContain('tbl=');
  });

  it("carries each query's exit code and stderr apart from its stdout", () => {
    const queries = [q('noisy', 'echo out; echo warn >&2; echo more; ls /no/such/path'), q('quiet', 'echo fine')];
    const out = execFileSync('/bin/sh', ['-s'], { input: batchScript(queries, 'tok') }).toString();
    const parts = splitBatch(out, queries, 'tok');
    expect(parts.get('noisy')).toMatchObject({ stdout: 'out\nmore\n', code: 2 });
    expect(parts.get('noisy')!.stderr).toMatch(/^warn\n.*No such file/s);
    expect(parts.get('quiet')).toEqual({ stdout: 'fine\n', code: 0, stderr: '' });
  });

  it('a failed query is an error of its owners naming host and query, never a default; declared exit codes are answers', async () => {
    const t = new FakeTransport('web-1', (script) => ({ code: 0, stderr: '', stdout: execFileSync('/bin/sh', ['-s'], { input: script }).toString() }));
    const absent: FactQuery = { key: 'getent', script: 'exit 2', exitCodes: [0, 2], parse: (s, o) => `${o.code}:${s}` };
    const refused: FactQuery = { key: 'json', script: 'echo nope', parse: (s) => JSON.parse(s) as unknown };
    const { facts, failed } = (await gatherFacts(t, (): FactRequest<string>[] => [
      { owner: 'broken', queries: { ok: q('ok', 'echo ok'), bad: q('ufw', 'echo partial; echo ufw: command failed >&2; exit 1') } },
      { owner: 'absent', queries: { g: absent } },
      { owner: 'unparsable', queries: { j: refused } },
    ]))();
    expect(failed.get('broken')).toBe('on web-1, fact query ufw failed (exit 1): ufw: command failed');
    expect(facts[0]).toBeUndefined();
    expect(facts[1]).toEqual({ g: '2:' });
    expect(failed.get('unparsable')).toMatch(/^on web-1, fact query json gave output its parser refused: /);
  });

  it("runs an inline query in the batch's own shell, with its exit code and stderr carried as a subshell's", () => {
    const inline = (key: string, script: string): FactQuery => ({ ...q(key, script), inline: true });
    const queries = [inline('sets', 'converge_seen=yes; echo set'), q('reads', 'echo "seen=${converge_seen:-no}"'), inline('noisy', 'echo out; ls /no/such/path'), inline('quiet', 'echo fine'), inline('i4', 'true'), inline('i5', 'true'), q('after', 'echo after')];
    const script = batchScript(queries, 'tok');
    const parts = splitBatch(execFileSync('/bin/sh', ['-s'], { input: script }).toString(), queries, 'tok');
    // No subshell: what it set is there for the queries after it (which is why inline queries must set nothing another reads).
    expect(parts.get('reads')!.stdout).toBe('seen=yes\n');
    expect(parts.get('noisy')).toMatchObject({ stdout: 'out\n', code: 2 });
    expect(parts.get('noisy')!.stderr).toMatch(/No such file/);
    expect(parts.get('quiet')).toEqual({ stdout: 'fine\n', code: 0, stderr: '' });
    expect(parts.get('after')).toEqual({ stdout: 'after\n', code: 0, stderr: '' });
    expect(batchScript([q('b', 'echo b')], 'tok')).not.toContain('mktemp');
    // Fewer than five: the temp file would cost more than the subshells it saves.
    const few = [inline('sets', 'converge_seen=yes'), q('reads', 'echo "seen=${converge_seen:-no}"')];
    expect(batchScript(few, 'tok')).not.toContain('mktemp');
    expect(splitBatch(execFileSync('/bin/sh', ['-s'], { input: batchScript(few, 'tok') }).toString(), few, 'tok').get('reads')!.stdout).toBe('seen=no\n');
  });

  it('an inline query whose stderr file cannot be made still answers (its stderr dropped), and the temp file is removed', () => {
    const queries = ['a', 'b', 'c', 'd', 'e'].map((k) => ({ ...q(k, `echo ${k}; echo warn >&2`), inline: true }));
    const tmp = execFileSync('mktemp', ['-d']).toString().trim();
    const out = execFileSync('/bin/sh', ['-s'], { input: batchScript(queries, 'tok'), env: { ...process.env, TMPDIR: tmp } }).toString();
    expect(splitBatch(out, queries, 'tok').get('a')).toEqual({ stdout: 'a\n', code: 0, stderr: 'warn' });
    expect(execFileSync('ls', ['-A', tmp]).toString()).toBe('');
    const noTmp = execFileSync('/bin/sh', ['-s'], { input: batchScript(queries, 'tok'), env: { ...process.env, TMPDIR: '/no/such/dir' } }).toString();
    expect(splitBatch(noTmp, queries, 'tok').get('a')).toEqual({ stdout: 'a\n', code: 0, stderr: '' });
    execFileSync('rmdir', [tmp]);
  });

  it('a query that reads stdin cannot swallow the rest of the batch', () => {
    const queries = [q('greedy', 'cat'), q('next', 'echo still-here')];
    const out = execFileSync('/bin/sh', ['-s'], { input: batchScript(queries, 'tok') }).toString();
    expect([...splitBatch(out, queries, 'tok')].map(([k, o]) => [k, o.stdout])).toEqual([['greedy', ''], ['next', 'still-here\n']]);
  });

  it('sends one exec per run-as user and shares identical keys', async () => {
    const t = new FakeTransport('h', (script) => ({ code: 0, stderr: '', stdout: execFileSync('/bin/sh', ['-s'], { input: script }).toString() }));
    const shared = q('dpkg', 'echo listing');
    const { facts } = (await gatherFacts(t, (): FactRequest<string>[] => [
      { owner: 'r1', queries: { pkgs: shared, x: q('x', 'echo x') } },
      { owner: 'r2', queries: { pkgs: shared } },
      { owner: 'r3', queries: { pg: q('pg', 'echo pg', 'postgres') } },
    ]))();
    expect(t.execCount).toBe(2);
    expect(t.scripts[0].match(/echo listing/g)).toHaveLength(1);
    expect(facts[0]).toEqual({ pkgs: 'listing\n', x: 'x\n' });
    expect(t.scripts[0]).not.toContain('2>/dev/null');
    expect(facts[1]).toEqual({ pkgs: 'listing\n' });
    expect(facts[2]).toEqual({ pg: 'pg\n' });
  });

  it('runs the queries of one merge as one command for all their items, each parsed from its own part', async () => {
    const t = new FakeTransport('h', (script) => ({ code: 0, stderr: '', stdout: execFileSync('/bin/sh', ['-s'], { input: script }).toString() }));
    // One line per item: `echo a b` answers for every item at once.
    const merge = { key: 'echo-all', script: (items: string[]) => `for i in ${items.join(' ')}; do echo "item=$i"; done`, split: (out: string) => out.split('\n').slice(0, -1) };
    const item = (name: string): FactQuery => ({ key: `item:${name}`, script: merge.script([name]), parse: (s) => s, merge: { ...merge, item: name } });
    const { facts } = (await gatherFacts(t, (): FactRequest<string>[] => [
      { owner: 'a', queries: { x: item('a') } },
      { owner: 'plain', queries: { p: q('p', 'echo plain') } },
      { owner: 'b', queries: { x: item('b') } },
      { owner: 'a-again', queries: { x: item('a') } },
    ]))();
    expect(t.execCount).toBe(1);
    expect(t.scripts[0].match(/for i in/g)).toHaveLength(1);
    expect(t.scripts[0]).toContain('for i in a b; do');
    expect(facts).toEqual([{ x: 'item=a' }, { p: 'plain\n' }, { x: 'item=b' }, { x: 'item=a' }]);
  });

  it('marks facts of a runas user that cannot be reached as unavailable, not the whole host', async () => {
    const t = new FakeTransport('h', (script, opts) =>
      opts.runAs ? { code: 1, stdout: '', stderr: 'su: user app does not exist' } : { code: 0, stderr: '', stdout: execFileSync('/bin/sh', ['-s'], { input: script }).toString() },
    );
    const { facts, unavailable } = (await gatherFacts(t, (): FactRequest<string>[] => [
      { owner: 'root-side', queries: { a: q('a', 'echo a') } },
      { owner: 'app-side', queries: { b: q('b', 'echo b', 'app') } },
    ]))();
    expect(facts[0]).toEqual({ a: 'a\n' });
    expect(unavailable.get('app-side')).toMatch(/reading facts as app failed \(exit 1\): su: user app does not exist/);
  });

  it('fails the host with a hint when the script did not run (sudo refused)', async () => {
    const t = new FakeTransport('h', () => ({ code: 1, stdout: '', stderr: 'sudo: a password is required' }));
    await expect(gatherFacts(t, (): FactRequest<string>[] => [{ owner: 'r', queries: { a: q('a', 'true') } }]).then((read) => read())).rejects.toThrow(/reading facts as root failed \(exit 1\): sudo: a password is required/);
  });
});
