// The controller's copy of each host's facts (engine/host-facts.ts), so a
// run compiles before it connects and a converged host still costs one exec:
// the run's fact batch reads the facts again and, only when they changed,
// the host is compiled again and planned again (a second exec).
//
// One JSON file per host under $CONVERGE_FACTS_CACHE, else
// ~/.cache/converge/facts, named by host, address and port (the same name on
// another machine is another host).

import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Host } from '../inventory/inventory.js';
import type { HostFacts } from './host-facts.js';

export class FactsCache {
  constructor(readonly dir = process.env.CONVERGE_FACTS_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'converge', 'facts')) {}

  private file(host: Host): string {
    return join(this.dir, `${host.name}@${host.address}_${host.port}.json`.replace(/[^\w.@-]/g, '_'));
  }

  get(host: Host): HostFacts | undefined {
    try {
      return JSON.parse(readFileSync(this.file(host), 'utf8')) as HostFacts;
    } catch {
      return undefined;
    }
  }

  set(host: Host, facts: HostFacts): void {
    mkdirSync(this.dir, { recursive: true });
    // Renamed into place: another run reading it sees the old facts or the new, never half.
    const tmp = `${this.file(host)}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(facts));
    renameSync(tmp, this.file(host));
  }
}

/** Whether two sets of facts would compile the same (same values everywhere). */
export const sameFacts = (a: HostFacts | undefined, b: HostFacts | undefined): boolean => JSON.stringify(a) === JSON.stringify(b);
