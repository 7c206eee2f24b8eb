// converge facts TARGET: each targeted host's facts (src/engine/host-facts.ts),
// as YAML or --json, like `salt-call grains.items` or `ansible -m setup`.
// One exec per host, as the login user: nothing is changed, no sudo needed.

import PQueue from 'p-queue';
import { stringify } from 'yaml';
import { errorMessage } from '../core/diagnostics.js';
import type { HostFacts } from '../engine/host-facts.js';
import { readHostFacts } from '../engine/first-facts.js';
import { defaultConnect } from '../engine/run.js';
import { FactsCache } from '../engine/facts-cache.js';
import { loadInventory } from '../inventory/inventory.js';
import { selectHosts } from '../inventory/target.js';
import { processRedactor } from '../core/sensitive.js';

export interface FactsArgs {
  inventory: string;
  target?: string;
  json: boolean;
  forks: number;
  acceptNewHostKeys: boolean;
  user?: string;
}

export async function factsCommand(args: FactsArgs): Promise<number> {
  // Facts need no secret: a missing one is no reason to refuse.
  const inventory = loadInventory(args.inventory, processRedactor, { secrets: 'placeholders', user: args.user });
  const hosts = selectHosts(inventory.hosts, inventory.roles, args.target, inventory.file);
  const connect = defaultConnect(args.acceptNewHostKeys);
  const cache = new FactsCache();
  const queue = new PQueue({ concurrency: Math.max(1, args.forks) });
  const out: Record<string, HostFacts | { error: string }> = {};
  await Promise.all(
    hosts.map((h) =>
      queue.add(async () => {
        try {
          // Kept for validate, show and the next run.
          out[h.name] = await readHostFacts(h, cache, connect);
        } catch (e) {
          out[h.name] = { error: errorMessage(e) };
        }
      }),
    ),
  );
  // In the inventory's order, whichever host answered first.
  const ordered = Object.fromEntries(hosts.map((h) => [h.name, out[h.name]]));
  process.stdout.write(args.json ? JSON.stringify(ordered, null, 2) + '\n' : stringify(ordered, { lineWidth: 0 }));
  return Object.values(ordered).some((f) => 'error' in f) ? 1 : 0;
}
