// Hosts whose facts the controller has not kept yet (a first run, a new
// host, another controller): their facts are read before anything is
// compiled, since states may branch on them. One read-only exec each, on
// every such host at once; a host that cannot be read fails alone, as it
// would in the run.

import PQueue from 'p-queue';
import { errorMessage, HostError } from '../core/diagnostics.js';
import type { HostResult } from '../core/result.js';
import type { Host } from '../inventory/inventory.js';
import { UnreachableError } from '../transport/ssh.js';
import type { FactsCache } from './facts-cache.js';
import { HOST_FACTS_SCRIPT, parseHostFacts, type HostFacts } from './host-facts.js';
import type { HostEvent } from './host-run.js';
import type { Connect } from './run.js';
import type { Transport } from '../transport/transport.js';

export interface FirstFacts {
  facts: Map<Host, HostFacts>;
  /** Execs spent per host (each host read here: 1). */
  execs: Map<Host, number>;
  /** Hosts that could not be read: their result in the run. */
  failed: HostResult[];
}

/** Reads one host's facts over its own connection (one exec) and keeps them; throws what connecting or reading threw. */
export async function readHostFacts(host: Host, cache: FactsCache, connect: Connect): Promise<HostFacts> {
  const transport = await connect(host);
  try {
    const facts = parseHostFacts((await transport.exec(HOST_FACTS_SCRIPT)).stdout);
    cache.set(host, facts);
    return facts;
  } finally {
    await transport.close();
  }
}

/** onEvent: the same phases a run reports (connecting, and failed when the host cannot be read). */
export async function readMissingFacts(hosts: Host[], cache: FactsCache, connect: Connect, forks: number, onEvent?: (e: HostEvent) => void): Promise<FirstFacts> {
  const out: FirstFacts = { facts: new Map(), execs: new Map(), failed: [] };
  const queue = new PQueue({ concurrency: Math.max(1, forks) });
  await Promise.all(
    hosts.map((host) => {
      const cached = cache.get(host);
      if (cached) return out.facts.set(host, cached);
      return queue.add(async () => {
        const started = Date.now();
        // Kept to count its execs when the read fails.
        let transport: Transport | undefined;
        try {
          onEvent?.({ host: host.name, phase: 'connecting' });
          out.facts.set(host, await readHostFacts(host, cache, async (h) => (transport = await connect(h))));
          out.execs.set(host, 1);
        } catch (e) {
          onEvent?.({ host: host.name, phase: 'failed' });
          out.failed.push({
            host: host.name,
            roles: host.roles,
            status: e instanceof UnreachableError ? 'unreachable' : 'failed',
            error: { message: errorMessage(e), hint: e instanceof HostError ? e.hint : undefined },
            resources: [],
            execCount: transport?.execCount ?? 0,
            durationMs: Date.now() - started,
          });
        }
      });
    }),
  );
  return out;
}
