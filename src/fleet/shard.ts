// Sharded push: `--shard K/N` runs one of N controllers side by side (a CI
// matrix, a Kubernetes Indexed Job), each on its part of the targeted hosts.
// Rendezvous hashing on host names: a host's shard depends only on its name
// and N, so adding, removing or reordering hosts moves none of the others,
// and going from N to N+1 shards moves about 1/(N+1) of them.

import { createHash } from 'node:crypto';
import { InputError } from '../core/diagnostics.js';

export interface Shard {
  /** 1-based: 1..n */
  k: number;
  n: number;
}

/** "2/4" -> { k: 2, n: 4 }. */
export function parseShard(spec: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(spec.trim());
  const k = Number(m?.[1]);
  const n = Number(m?.[2]);
  if (!m || n < 1 || k < 1 || k > n) {
    throw new InputError({ message: `must be K/N with 1 <= K <= N, got "${spec}"`, where: { path: '--shard' }, hint: 'e.g. --shard 1/4 ... --shard 4/4 on four controllers (in a Kubernetes Indexed Job: --shard $((JOB_COMPLETION_INDEX+1))/4)' });
  }
  return { k, n };
}

/** The 1-based shard of a host: the shard whose (name, shard) hash is highest. */
export function shardOf(host: string, n: number): number {
  let best = 1;
  let bestScore = -1n;
  for (let i = 1; i <= n; i++) {
    const score = createHash('sha256').update(`${host}\0${i}`).digest().readBigUInt64BE(0);
    if (score > bestScore) {
      bestScore = score;
      best = i;
    }
  }
  return best;
}

export function inShard<T extends { name: string }>(hosts: T[], shard: Shard): T[] {
  return hosts.filter((h) => shardOf(h.name, shard.n) === shard.k);
}
