// Scripts run on a balancer host to take a server out of haproxy's pool and
// put it back, over haproxy's runtime API (the admin socket, through socat),
// as Ansible's haproxy module does: drain (no new sessions), wait until its
// sessions end, maintenance; later ready, and wait until haproxy's own health
// check sees it UP, so the next host is not taken out while this one is not
// yet serving. `show stat` is CSV: field 1 the backend, 2 the server, 5 its
// current sessions, 18 its status (UP, UP 1/3, DOWN, MAINT, DRAIN, no check).

import { deadline } from '../core/shell.js';
import { quote } from '../transport/transport.js';

export interface PoolServer {
  socket: string;
  backends: string[];
  server: string;
}

/** What every script starts with: the socket reached, the server known in each backend. */
function prelude(s: PoolServer): string {
  return [
    `sock=${quote(s.socket)} srv=${quote(s.server)} backends=${quote(s.backends.join(' '))}`,
    `command -v socat >/dev/null || { echo "socat is not installed here: haproxy's admin socket is reached through it (install the socat package on the balancer)" >&2; exit 3; }`,
    `[ -S "$sock" ] || { echo "no haproxy admin socket at $sock: haproxy must run with 'stats socket $sock level admin'" >&2; exit 3; }`,
    `hap() { printf '%s\\n' "$1" | socat -t 5 stdio "UNIX-CONNECT:$sock"; }`,
    // Lines of show stat for this server in these backends.
    `rows() { hap 'show stat' | awk -F, -v s="$srv" -v bs="$backends" 'BEGIN { n = split(bs, b, " "); for (i = 1; i <= n; i++) want[b[i]] = 1 } ($1 in want) && $2 == s'; }`,
    `state() { for b in $backends; do r=$(hap "set server $b/$srv state $1") || exit 3; [ -z "$r" ] || { echo "$b/$srv: $r (is the server named so in haproxy.cfg?)" >&2; exit 3; }; done; }`,
  ].join('\n');
}

/**
 * Drain, wait up to drainTimeout seconds for the sessions to end, then
 * maintenance. Prints "open N" when sessions were still open at the timeout.
 */
export function outOfPoolScript(s: PoolServer, drainTimeout: number): string {
  const d = deadline(drainTimeout);
  return [
    prelude(s),
    'state drain',
    d.start,
    'while n=$(rows | awk -F, \'{ t += $5 } END { print t + 0 }\'); [ "$n" -gt 0 ]; do',
    `  ${d.ahead} || { echo "open $n"; break; }`,
    '  sleep 0.2',
    'done',
    'state maint',
  ].join('\n');
}

/** Ready, then wait up to upTimeout seconds until every backend's health check says UP. */
export function backInPoolScript(s: PoolServer, upTimeout: number): string {
  const d = deadline(upTimeout);
  return [
    prelude(s),
    'state ready',
    d.start,
    'until [ -z "$(rows | awk -F, \'$18 !~ /^(UP|no check)/\')" ]; do',
    `  ${d.ahead} || { echo "haproxy's health check does not see it UP after ${Math.floor(upTimeout)} s: $(rows | awk -F, '{ printf "%s/%s %s; ", $1, $2, $18 }')" >&2; exit 4; }`,
    '  sleep 0.5',
    'done',
  ].join('\n');
}

/** Sessions still open when the drain timed out, from outOfPoolScript's output (0: all ended). */
export function openSessions(stdout: string): number {
  return Number(/^open (\d+)$/m.exec(stdout)?.[1] ?? 0);
}
