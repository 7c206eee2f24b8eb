// Host facts: what a host is (OS release, architecture, kernel, CPUs,
// memory, init system, container or not, primary IPv4, names), read by one
// POSIX sh script that needs no root and no Python, and parsed here on the
// controller by a pure function, as Salt's grains and Ansible's setup
// module do. `converge facts TARGET` prints them.

/** The facts of one host. */
export interface HostFacts {
  os: {
    /** os-release ID: debian, ubuntu */
    id: string;
    /** os-release ID_LIKE, split: ubuntu has ["debian"] */
    id_like: string[];
    /** "12", "13", "22.04", "24.04" */
    version_id: string;
    /** bookworm, trixie, jammy, noble */
    codename: string;
    pretty_name: string;
  };
  /** uname -m: x86_64, aarch64 */
  architecture: string;
  /** uname -r */
  kernel: string;
  cpus: number;
  memory_mb: number;
  /** The command of PID 1: systemd, init, ... */
  init: string;
  /** Whether the host is a container, and which kind ("docker", "lxc", "podman", ...), else false. */
  container: string | false;
  /** The source address of the default route, else the first global IPv4 address; "" when none. */
  ipv4: string;
  hostname: string;
  fqdn: string;
}

const SECTIONS = ['os-release', 'uname', 'cpus', 'memory', 'init', 'container', 'ipv4', 'names'] as const;
const MARK = '@@converge-host-facts@@';

/**
 * Read-only and quiet on any host: every probe has a fallback, and a missing
 * tool leaves its section empty rather than failing the script.
 */
export const HOST_FACTS_SCRIPT = [
  // It rides in every run's batch: what sh's `read` can take from /proc and /run takes no process (5 execs on a
  // systemd host with a route, not 17).
  'cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null',
  `echo '${MARK}'`,
  'uname -m; if read -r k 2>/dev/null < /proc/sys/kernel/osrelease; then echo "$k"; else uname -r; fi',
  `echo '${MARK}'`,
  'nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null',
  `echo '${MARK}'`,
  'while read -r l; do case $l in MemTotal:*) echo "$l"; break ;; esac; done 2>/dev/null < /proc/meminfo',
  `echo '${MARK}'`,
  'if read -r c 2>/dev/null < /proc/1/comm; then echo "$c"; fi',
  `echo '${MARK}'`,
  // systemd knows best: PID 1 wrote what it detected at boot to /run/systemd/container (only in a container),
  // read without a process; else ask systemd-detect-virt; without systemd, the marker files container engines leave.
  'if read -r v 2>/dev/null < /run/systemd/container && [ -n "$v" ]; then echo "$v"; else systemd-detect-virt --container 2>/dev/null || { [ -f /.dockerenv ] && echo docker; } || { [ -f /run/.containerenv ] && echo podman; } || true; fi',
  `echo '${MARK}'`,
  // A route lookup sends nothing; it names the address the host would use (the word after "src").
  // The first global address only when there is no route (parseHostFacts takes the first line).
  'set -f; set -- $(ip -4 route get 192.0.2.1 2>/dev/null); a=; while [ $# -gt 1 ]; do if [ "$1" = src ]; then a=$2; break; fi; shift; done',
  "if [ -n \"$a\" ]; then echo \"$a\"; else ip -4 -o addr show scope global 2>/dev/null | { read -r _ _ _ a _ && echo \"${a%%/*}\"; }; fi",
  `echo '${MARK}'`,
  'if read -r h 2>/dev/null < /proc/sys/kernel/hostname; then echo "$h"; else hostname; fi; hostname -f 2>/dev/null || hostname',
].join('\n');

/** os-release's KEY=value lines, quotes removed. */
function osRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]] = m[2].replace(/^(["'])(.*)\1$/, '$2');
  }
  return out;
}

const lines = (s: string) => s.split('\n').map((l) => l.trim()).filter(Boolean);

/** Pure: the script's output as facts. Throws when the output is not the script's (a section missing). */
export function parseHostFacts(stdout: string): HostFacts {
  const parts = stdout.split(`${MARK}\n`);
  if (parts.length !== SECTIONS.length) throw new Error(`host facts: expected ${SECTIONS.length} sections, got ${parts.length}`);
  const [osText, uname, cpus, memory, init, container, ipv4, names] = parts;
  const os = osRelease(osText);
  const [arch = '', kernel = ''] = lines(uname);
  const [primary = '', firstGlobal = ''] = lines(ipv4);
  const [hostname = '', fqdn = ''] = lines(names);
  const virt = lines(container)[0] ?? '';
  return {
    os: {
      id: os.ID ?? 'linux',
      id_like: (os.ID_LIKE ?? '').split(/\s+/).filter(Boolean),
      version_id: os.VERSION_ID ?? '',
      // Debian testing/sid have no VERSION_ID; Ubuntu also says UBUNTU_CODENAME.
      codename: os.VERSION_CODENAME ?? os.UBUNTU_CODENAME ?? /\(([a-z]+)\)/.exec(os.VERSION ?? '')?.[1] ?? '',
      pretty_name: os.PRETTY_NAME ?? os.NAME ?? '',
    },
    architecture: arch,
    kernel,
    cpus: Number(lines(cpus)[0] ?? 0) || 0,
    memory_mb: Math.round(Number(/(\d+)\s*kB/.exec(memory)?.[1] ?? 0) / 1024),
    init: lines(init)[0] ?? '',
    container: virt && virt !== 'none' ? virt : false,
    ipv4: primary || firstGlobal,
    hostname,
    fqdn: fqdn || hostname,
  };
}
