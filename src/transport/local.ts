// Converges the machine converge runs on, with the same scripts as SSH.

import { spawn } from 'node:child_process';
import { userInfo } from 'node:os';
import { commandLine, firstLineOf, type ExecOptions, type ExecResult, type Held, type Transport } from './transport.js';

export class LocalTransport implements Transport {
  execCount = 0;
  constructor(readonly hostName = 'localhost') {}

  exec(script: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const scriptOnStdin = opts.stdin === undefined;
    const line = commandLine(userInfo().username, opts.runAs, scriptOnStdin, script);
    this.execCount++;
    return new Promise((resolve, reject) => {
      const child = spawn('/bin/sh', ['-c', line], { stdio: ['pipe', 'pipe', 'pipe'], signal: opts.signal });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => err.push(d));
      child.on('error', reject);
      child.on('close', (code, signal) =>
        resolve({ code: code ?? (signal ? 128 : 255), stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }),
      );
      child.stdin.end(scriptOnStdin ? script : opts.stdin);
    });
  }

  async hold(script: string): Promise<Held> {
    this.execCount++;
    const child = spawn('/bin/sh', ['-c', commandLine(userInfo().username, undefined, false, script)], { stdio: ['pipe', 'pipe', 'ignore'] });
    const closed = new Promise<void>((r) => child.on('close', () => r()));
    const firstLine = await firstLineOf(child.stdout, closed);
    return {
      firstLine,
      release: async () => {
        child.stdin.end();
        await closed;
      },
    };
  }

  async close(): Promise<void> {}
}
