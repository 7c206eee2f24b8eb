// Converges the machine converge runs on, with the same scripts as SSH.

import { spawn } from 'node:child_process';
import { userInfo } from 'node:os';
import { commandLine, firstLineOf, invocation, quote, stderrCollector, type ExecOptions, type ExecResult, type Held, type Transport } from './transport.js';

export class LocalTransport implements Transport {
  execCount = 0;
  constructor(readonly hostName = 'localhost') {}

  exec(script: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const { line, input } = invocation(userInfo().username, opts.runAs, script, opts.stdin, opts.guard);
    this.execCount++;
    return new Promise((resolve, reject) => {
      const child = spawn('/bin/sh', ['-c', line], { stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err = stderrCollector(opts.onProgress);
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => err.push(d));
      child.on('error', reject);
      child.on('close', (code, signal) =>
        resolve({ code: code ?? 128, stdout: Buffer.concat(out).toString('utf8'), stderr: err.text(), cutOff: signal ? `killed by ${signal}` : undefined }),
      );
      child.stdin.end(input);
    });
  }

  async hold(script: string, onProgress?: (message: string) => void): Promise<Held> {
    this.execCount++;
    const child = spawn('/bin/sh', ['-c', commandLine(userInfo().username, undefined, `sh -c ${quote(script)}`)], { stdio: ['pipe', 'pipe', 'pipe'] });
    const closed = new Promise<void>((r) => child.on('close', () => r()));
    const err = stderrCollector(onProgress);
    child.stderr.on('data', (d: Buffer) => err.push(d));
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
