// A firewall change's ufw commands, run in one Python process.
//
// Each `ufw` command is a Python start (~0.15 s of CPU on a small host) and,
// for a rule, a netfilter capability probe of its own (11 iptables and
// ip6tables runs); a first apply of a web host's firewall was six such rule
// commands, then `ufw --force enable`. One Python process runs them all with
// ufw's own frontend, as /usr/sbin/ufw runs one: the same parser, a fresh
// UFWFrontend per command (so each reads ufw's files as the command would),
// one ufw lock around the whole change, the capability probe once. The
// first command's failure ends the change, as `set -e` did.
//
// Where python3 or ufw's Python package is not there (exit 127 or 99, before
// any command ran), the same commands run one by one as before.

import { shq } from '../../core/shell.js';

/** argv: the ufw program's path (ufw checks its own path's permissions, as for `ufw`), then one sh command line each. */
const DRIVER_PY = `import os, shlex, sys
try:
    import gettext
    import ufw.common
    import ufw.frontend
    from ufw.common import UFWError
    from ufw.util import create_lock, error, msg, release_lock
except ImportError:
    sys.exit(99)
lines = sys.argv[2:]
sys.argv = sys.argv[1:2]
gettext.install(ufw.common.programName)
root = os.getuid() == 0 and 'TESTSTATE' not in os.environ
lock = create_lock(lockfile='/run/ufw.lock' if root else os.path.join(ufw.common.state_dir, 'ufw.lock'), dryrun=False)
caps = None
try:
    for line in lines:
        try:
            pr = ufw.frontend.parse_command(shlex.split(line))
        except ValueError:
            error('not a ufw command: ' + line)
        ui = ufw.frontend.UFWFrontend(pr.dryrun)
        if caps is not None:
            ui.backend.caps = caps
        if 'rule' in pr.data:
            res = ui.do_action(pr.action, pr.data['rule'], pr.data['iptype'], pr.force)
        else:
            res = ui.do_action(pr.action, '', '', pr.force)
        caps = ui.backend.caps
        if res != '':
            msg(res)
except UFWError as e:
    error(e.value)
finally:
    release_lock(lock)
`;

/** sh that runs `commands` (each a `ufw ...` line) in order, stopping at the first that fails. */
export function ufwCommandsScript(commands: string[]): string {
  return [
    'set -e',
    'rc=0',
    `python3 -I -c ${shq(DRIVER_PY)} "$(command -v ufw)" ${commands.map(shq).join(' ')} || rc=$?`,
    'if [ "$rc" -eq 99 ] || [ "$rc" -eq 127 ]; then',
    ...commands,
    'elif [ "$rc" -ne 0 ]; then',
    '  exit "$rc"',
    'fi',
  ].join('\n');
}
