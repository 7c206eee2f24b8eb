// supervisorctl's work without supervisorctl's start-up. supervisorctl is
// ~0.3-0.4 s of Python per call, most of it importing supervisor and
// pkg_resources; a host's no-op paid it once, a program's start paid it on
// every poll, and a program's load twice more (reread, update). The same
// work is XML-RPC calls on supervisord's unix socket, made by Python's
// standard library alone (`-I -S`: no site packages, no environment): ~50 ms
// for the status list, one process for a whole load and its wait.
//
// The scripts find the socket as supervisorctl does: the first config file of
// supervisorctl's own search path (supervisor/options.py, relative to the
// supervisorctl on PATH), its [supervisorctl] serverurl. Whenever their
// answer could differ from supervisorctl's (no python3, no config, an HTTP or
// password-protected server, a [supervisorctl] section in an included file,
// any error) they exit otherwise and the shell asks supervisorctl itself.

import { shq } from '../../core/shell.js';

/**
 * Python 3 (stdlib only) that finds supervisorctl's socket and defines
 * `rpc(body)`: the reply to one XML-RPC request, and `label(info)`: a
 * process's name as supervisorctl prints it. argv[1] is the path of the
 * supervisorctl on PATH. Exits 99 where supervisorctl could answer otherwise,
 * DOWN when supervisord does not answer. Double quotes only: it goes in '...'.
 */
const SOCKET_PY = String.raw`import sys, os, glob, socket, configparser
if not sys.argv[1]:
    sys.exit(99)
here = os.path.dirname(os.path.dirname(sys.argv[1]))
for conf in (os.path.join(here, "etc", "supervisord.conf"), os.path.join(here, "supervisord.conf"), "supervisord.conf", "etc/supervisord.conf", "/etc/supervisord.conf", "/etc/supervisor/supervisord.conf"):
    if os.path.exists(conf):
        break
else:
    sys.exit(99)
def read(path):
    p = configparser.RawConfigParser(inline_comment_prefixes=(";", "#"), strict=False)
    p.read(path)
    return p
main = read(conf)
for pattern in main.get("include", "files", fallback="").split():
    for inc in glob.glob(os.path.join(os.path.dirname(conf), pattern)):
        if read(inc).has_section("supervisorctl"):
            sys.exit(99)
opts = dict(main.items("supervisorctl")) if main.has_section("supervisorctl") else {}
url = opts.get("serverurl", "")
if not url.startswith("unix://") or "%" in url or opts.get("username") or opts.get("password"):
    sys.exit(99)
DOWN = 4
def rpc(body):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(url[7:])
    except (ConnectionRefusedError, FileNotFoundError) as e:
        print(url, "refused connection" if isinstance(e, ConnectionRefusedError) else "no such file")
        sys.exit(DOWN)
    s.sendall(b"POST /RPC2 HTTP/1.0\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, reply = data.partition(b"\r\n\r\n")
    if not head.startswith((b"HTTP/1.0 200", b"HTTP/1.1 200")):
        sys.exit(99)
    return reply
def label(i):
    return i["name"] if i["group"] == i["name"] else i["group"] + ":" + i["name"]
`;

/**
 * What `supervisorctl status` prints (its _show_statuses format), from one
 * supervisor.getAllProcessInfo, and its exit code: 3 when a program is not
 * running, 4 when supervisord does not answer.
 */
export const STATUS_PY = SOCKET_PY + String.raw`reply = rpc(b"<methodCall><methodName>supervisor.getAllProcessInfo</methodName><params></params></methodCall>")
if b"<fault>" in reply:
    sys.exit(99)
import xml.parsers.expat
infos, text, member = [], [], [""]
def start(tag, attrs):
    text.clear()
    if tag == "struct":
        infos.append({})
def end(tag):
    if tag == "name":
        member[0] = "".join(text)
    elif tag in ("string", "int", "i4"):
        infos[-1][member[0]] = "".join(text) if tag == "string" else int("".join(text))
p = xml.parsers.expat.ParserCreate()
p.StartElementHandler, p.EndElementHandler, p.CharacterDataHandler = start, end, text.append
p.Parse(reply, True)
names = [label(i) for i in infos]
template = "%-" + str(max([30] + [len(n) for n in names]) + 3) + "s%-10s%s"
for n, i in zip(names, infos):
    print(template % (n, i["statename"], i["description"]))
sys.exit(3 if any(i["state"] in (0, 100, 200, 1000) for i in infos) else 0)
`;

/**
 * sh defining `supervisor_status`, which sets `out` to what `CTL status`
 * prints (stderr included) and `rc` to its exit code. The fast path is taken
 * only for the default supervisorctl: one given with its own path or options
 * is run as given.
 */
export function supervisorStatusFunction(ctl: string): string {
  const slow = `out=$(${ctl} status 2>&1); rc=$?`;
  if (ctl !== 'supervisorctl') return `supervisor_status() { ${slow}; }`;
  return [
    'supervisor_status() {',
    `  out=$(python3 -I -S -c '${STATUS_PY}' "$(command -v supervisorctl)" 2>/dev/null); rc=$?`,
    `  case $rc in 0|3|4) ;; *) ${slow} ;; esac`,
    '}',
  ].join('\n');
}

/**
 * One program loaded as `supervisorctl reread` + `update NAME` do it
 * (supervisorctl's do_update for that one group), or restarted as
 * `supervisorctl restart NAME`; then waited for until RUNNING, starting it
 * once if it is stopped or has given up, for LIMIT seconds. argv: the
 * supervisorctl on PATH, load|restart, NAME, LIMIT. Prints the program's state
 * (or supervisord's error) and exits as the sh wait does: 0 RUNNING, 3 it
 * stopped or failed, 4 unknown, 5 still not running, 10 the config could not
 * be read again, 11 the update failed.
 */
export const LOAD_PY = SOCKET_PY + String.raw`import time, xmlrpc.client
action, name, limit = sys.argv[2], sys.argv[3], float(sys.argv[4])
DOWN = 10 if action == "load" else 99
def call(method, *params):
    return xmlrpc.client.loads(rpc(xmlrpc.client.dumps(params, method).encode()))[0][0]
if action == "load":
    try:
        added, changed, removed = call("supervisor.reloadConfig")[0]
    except xmlrpc.client.Fault as e:
        print("ERROR:", e.faultString)
        sys.exit(10)
    try:
        if name not in added and name not in [i["group"] for i in call("supervisor.getAllProcessInfo")]:
            print("ERROR: no such group:", name)
            sys.exit(11)
        if name in removed or name in changed:
            # A removed group that would not stop is left loaded (Faults.FAILED), as supervisorctl leaves it.
            if any(r["status"] == 30 for r in call("supervisor.stopProcessGroup", name)) and name in removed:
                print(name + ": has problems; not removing")
                sys.exit(11)
            call("supervisor.removeProcessGroup", name)
        if name in changed or name in added:
            call("supervisor.addProcessGroup", name)
    except xmlrpc.client.Fault as e:
        print("ERROR:", e.faultString)
        sys.exit(11)
else:
    for method, params in (("supervisor.stopProcess", (name,)), ("supervisor.startProcess", (name, False))):
        try:
            call(method, *params)
        except xmlrpc.client.Fault:
            pass
started, deadline = False, time.monotonic() + limit
while True:
    mine = [i for i in call("supervisor.getAllProcessInfo") if label(i) == name]
    if not mine:
        print(name + ": ERROR (no such process)")
        sys.exit(4)
    state = mine[0]["statename"]
    line = "%s %s %s" % (name, state, mine[0]["description"])
    if state == "RUNNING":
        sys.exit(0)
    if state in ("STOPPED", "EXITED", "FATAL"):
        if started:
            print(line)
            sys.exit(3)
        started = True
        try:
            call("supervisor.startProcess", name, False)
        except xmlrpc.client.Fault:
            pass
        continue
    if state not in ("STARTING", "BACKOFF", "STOPPING"):
        print(line)
        sys.exit(4)
    if time.monotonic() >= deadline:
        print(line)
        sys.exit(5)
    time.sleep(0.1)
`;

/**
 * sh that loads (`reread` + `update NAME`) or restarts one program and waits
 * for it over the socket, and exits with LOAD_PY's code; where that path does
 * not apply or fails otherwise (exit 99, no python3, a traceback) it ends
 * without exiting, and the supervisorctl script that follows it does the same
 * work again (reread and update change nothing twice). Only for the default
 * supervisorctl, as supervisorStatusFunction.
 */
export function supervisorLoadScript(ctl: string, action: 'load' | 'restart', name: string, limitSeconds: number): string {
  if (ctl !== 'supervisorctl') return '';
  return [
    `out=$(python3 -I -S -c '${LOAD_PY}' "$(command -v supervisorctl)" ${action} ${shq(name)} ${limitSeconds} 2>/dev/null); rc=$?`,
    `case $rc in 0) exit 0 ;; 3|4|5|10|11) printf '%s\\n' "$out" >&2; exit $rc ;; esac`,
  ].join('\n');
}
