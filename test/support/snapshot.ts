// A snapshot of what a host looks like, taken by docker exec (not through
// converge): hashes, modes and owners of /etc and the given paths, users,
// groups, packages, unit states, and the live state that files do not show:
// the firewall as the kernel has it, supervisor's programs, PostgreSQL's
// roles, databases and running settings. Identical snapshots before and
// after `--check` prove check mode changed nothing.

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
    // Comment lines carry the time of the dump; counters are left out (no -c).
    "command -v iptables-save >/dev/null && iptables-save 2>/dev/null | grep -v '^#'",
    // Name, state and pid: a restart shows as a new pid; uptime is left out.
    "command -v supervisorctl >/dev/null && supervisorctl status 2>/dev/null | awk '{print $1, $2, $4}'",
    // The SQL goes on stdin (a here-document) so that its quotes need no escaping.
    `if systemctl is-active -q postgresql 2>/dev/null; then cd / && su postgres -s /bin/sh -c 'psql -XAt' <<'SQL'
select rolname, rolsuper, rolcanlogin, rolreplication, rolpassword from pg_authid order by 1;
select datname, pg_get_userbyid(datdba), pg_encoding_to_char(encoding) from pg_database order by 1;
select name, setting from pg_settings where source <> 'default' order by 1;
SQL
fi`,
  ].join('; echo ----; ');
  const r = await fleet.exec(host, script);
  return r.stdout;
}
