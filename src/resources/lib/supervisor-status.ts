// `supervisorctl status` without supervisorctl's start-up. supervisorctl is
// ~0.3-0.4 s of Python per call, most of it importing supervisor and
// pkg_resources; a host's no-op paid it once, and a program's start paid it on
// every poll. The same answer is one XML-RPC call
// (supervisor.getAllProcessInfo) on supervisord's unix socket: ~50 ms with
// Python's standard library alone (`-I -S`: no site packages, no environment).
//
// The script finds the socket as supervisorctl does: the first config file of
// supervisorctl's own search path (supervisor/options.py, relative to the
// supervisorctl on PATH), its [supervisorctl] serverurl. It prints what
// `supervisorctl status` prints (supervisorctl's _show_statuses format) and
// exits as it does (3 when a program is not running, 4 when supervisord does
// not answer). Whenever its answer could differ from supervisorctl's (no
// python3, no config, an HTTP or password-protected server, a [supervisorctl]
// section in an included file, any error) it exits otherwise and the shell
// asks supervisorctl itself.

/** Python 3 (stdlib only); argv[1] is the path of the supervisorctl on PATH. Double quotes only: it goes in '...'. */
export const STATUS_PY = String.raw`import sys, os, glob, socket, configparser
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
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(url[7:])
except (ConnectionRefusedError, FileNotFoundError) as e:
    print(url, "refused connection" if isinstance(e, ConnectionRefusedError) else "no such file")
    sys.exit(4)
body = b"<methodCall><methodName>supervisor.getAllProcessInfo</methodName><params></params></methodCall>"
s.sendall(b"POST /RPC2 HTTP/1.0\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
head, _, reply = data.partition(b"\r\n\r\n")
if not head.startswith((b"HTTP/1.0 200", b"HTTP/1.1 200")) or b"<fault>" in reply:
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
names = [i["name"] if i["group"] == i["name"] else i["group"] + ":" + i["name"] for i in infos]
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
