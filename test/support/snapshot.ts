// A snapshot of what a host looks like, taken by docker exec (not through
// converge): hashes, modes and owners of /etc and the given paths, users,
// groups, packages and unit states. Identical snapshots before and after
// `--check` prove check mode changed nothing.

import type { Fleet } from './fleet.js';

export async function snapshot(fleet: Fleet, host: string, paths: string[] = []): Promise<string> {
  const roots = ['/etc', ...paths].map((p) => `'${p.replace(/'/g, `'\\''`)}'`).join(' ');
  const script = [
    // -xdev keeps us off /proc-like mounts; atime is not part of the listing.
    `find ${roots} -xdev \\( -type f -o -type d -o -type l \\) -printf '%p %y %U:%G %m %s %T@\\n' 2>/dev/null | sort`,
    `find ${roots} -xdev -type f -exec sha256sum {} + 2>/dev/null | sort`,
    "dpkg-query -W -f '${Package} ${Version} ${Status}\\n' | sort",
    'systemctl list-units --all --no-legend --no-pager --plain | sort',
    'systemctl list-unit-files --no-legend --no-pager | sort',
  ].join('; echo ----; ');
  const r = await fleet.exec(host, script);
  return r.stdout;
}
