// A transport with no host behind it: for unit tests of pure code and the
// controller-side simulation in the benchmark. It never stands in for an
// integration test.

import type { ExecOptions, ExecResult, Held, Transport } from './transport.js';

export type FakeHandler = (script: string, opts: ExecOptions) => ExecResult | Promise<ExecResult>;

export class FakeTransport implements Transport {
  execCount = 0;
  readonly scripts: string[] = [];
  constructor(
    readonly hostName: string,
    private readonly handler: FakeHandler,
    /** Simulated round-trip time per exec. */
    private readonly latencyMs = 0,
  ) {}

  async exec(script: string, opts: ExecOptions = {}): Promise<ExecResult> {
    this.execCount++;
    this.scripts.push(script);
    if (this.latencyMs) await new Promise((r) => setTimeout(r, this.latencyMs));
    return this.handler(script, opts);
  }

  /** Held commands answer with the first line of what the handler prints. */
  async hold(script: string): Promise<Held> {
    const r = await this.exec(script);
    return { firstLine: r.stdout.split('\n')[0], release: async () => {} };
  }

  async close(): Promise<void> {}
}
