// `getent DB NAME` for many names at once: getent takes several keys and
// prints the entry of each it finds (exit 2 when one is missing), so one
// process answers every group resource of a host instead of one each.

import type { FactMerge } from '../../core/resource.js';
import { shq } from '../../core/shell.js';

/** The merge of `getent DB NAME` queries; each name's part is its own line (or nothing), as `getent DB NAME` alone prints it. */
export function getentMerge(db: 'group' | 'passwd'): Omit<FactMerge, 'item'> {
  return {
    key: `getent-${db}`,
    script: (names) => `getent ${db} ${names.map(shq).join(' ')}`,
    split(stdout, names) {
      const lines = new Map<string, string>();
      for (const line of stdout.split('\n')) {
        const colon = line.indexOf(':');
        if (colon > 0 && !lines.has(line.slice(0, colon))) lines.set(line.slice(0, colon), `${line}\n`);
      }
      return names.map((n) => lines.get(n) ?? '');
    },
  };
}
