// supervisor_program: one [program:NAME] section in CONF_DIR/NAME.conf, loaded
// and RUNNING. `supervisorctl reread` only reads the files; `update NAME` then
// adds, changes (restarts) or removes that one program, so no other program
// of the host is restarted. Facts are `supervisorctl status` (read-only), one
// query shared by all programs of the host. Status, load (reread + update),
// restart and the wait for RUNNING are asked of supervisord's socket without
// supervisorctl's start-up where that gives the same answer
// (lib/supervisor-socket.ts), of supervisorctl otherwise.
//
// Values are written so that supervisor reads them back literally: its config
// parser expands %(name)s (so % is doubled), ends a value at " ;" or " #"
// (an inline comment: such values are refused), and reads environment values
// with a non-POSIX shlex (no escapes: a value is quoted with the quote it
// does not contain, and may not begin or end with a quote).

import { HostError, InputError } from '../core/diagnostics.js';
import type { ApplyContext, Change, ResourceType } from '../core/resource.js';
import { shq } from '../core/shell.js';
import type { SupervisorProgramSpec } from '../generated/index.js';
import { outputTail } from '../transport/transport.js';
import type { FileFacts } from './file.js';
import { supervisorLoadScript, supervisorStatusFunction } from './lib/supervisor-socket.js';
import { managedFileChanges, managedFileQuery, managedFileRemovals, removeFiles, writeChangedFiles, type ManagedFile } from './lib/managed-file.js';

const PROCESS_STATES = ['STOPPED', 'STARTING', 'RUNNING', 'BACKOFF', 'STOPPING', 'EXITED', 'FATAL', 'UNKNOWN'] as const;
export type ProcessState = (typeof PROCESS_STATES)[number];

export interface ProgramStatus {
  /** A supervisor process state, or: not loaded, supervisord not answering, supervisorctl not installed. */
  state: ProcessState | 'absent' | 'unreachable' | 'no-supervisorctl';
  pid?: number;
  /** The status line (or the error supervisorctl printed). */
  detail: string;
}

const confPath = (spec: SupervisorProgramSpec) => `${spec.conf_dir ?? '/etc/supervisor/conf.d'}/${spec.name}.conf`;
const ctl = (spec: SupervisorProgramSpec) => spec.supervisorctl ?? 'supervisorctl';

/**
 * Read-only: every program's status line and supervisorctl's exit code. One
 * query for all programs of a host (their key is the same).
 */
export function statusScript(spec: SupervisorProgramSpec): string {
  return [supervisorStatusFunction(ctl(spec)), 'supervisor_status', 'echo "rc=$rc"', `printf '%s\\n' "$out"`].join('\n');
}

/** Every program supervisord knows, by name; or, when it could not list them, why (unreachable, no supervisorctl). */
export interface SupervisorStatus {
  down?: ProgramStatus;
  programs: Record<string, ProgramStatus>;
}

export function parseStatusAll(out: string): SupervisorStatus {
  const rc = Number(/^rc=(\d+)$/m.exec(out)?.[1] ?? -1);
  const text = out.replace(/^rc=\d+\n?/m, '').trim();
  if (rc === 127) return { down: { state: 'no-supervisorctl', detail: text }, programs: {} };
  // No prototype: a program may be called __proto__.
  const programs: Record<string, ProgramStatus> = Object.create(null);
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const [proc, state, ...rest] = line.trim().split(/\s+/);
    // A line that is no program's status is supervisorctl's error: supervisord did not answer.
    if (!(PROCESS_STATES as readonly string[]).includes(state)) return { down: { state: 'unreachable', detail: line.trim() }, programs: {} };
    const pid = /\bpid (\d+)/.exec(rest.join(' '))?.[1];
    programs[proc] = { state: state as ProcessState, ...(pid ? { pid: Number(pid) } : {}), detail: line.trim() };
  }
  return { programs };
}

/** One program's status in the host's list: absent when supervisord answered without it. */
export function programStatus(all: SupervisorStatus, name: string): ProgramStatus {
  return all.down ?? (Object.hasOwn(all.programs, name) ? all.programs[name] : { state: 'absent', detail: `${name} is not in supervisorctl status` });
}

const loaded = (s: ProgramStatus) => (PROCESS_STATES as readonly string[]).includes(s.state);

function describe(s: ProgramStatus): string {
  if (s.state === 'absent') return 'not loaded';
  if (s.state === 'unreachable') return `supervisord not answering (${s.detail})`;
  if (s.state === 'no-supervisorctl') return 'supervisorctl not found';
  return s.state;
}

/** A value supervisor reads back unchanged (% doubled), or an error naming the field (never the value). */
function literal(field: string, value: string): string {
  if (/[\r\n]/.test(value)) throw new Error(`${field} contains a line break`);
  if (/\s[;#]/.test(value)) throw new Error(`${field} contains a space before ";" or "#", which supervisor reads as the start of a comment`);
  return value.replace(/%/g, '%%');
}

function envValue(key: string, value: string): string {
  const v = literal(`environment ${key}`, value);
  if (/^['"]|['"]$/.test(v)) throw new Error(`environment ${key} begins or ends with a quote, which supervisor strips`);
  if (!v.includes('"')) return `"${v}"`;
  if (!v.includes("'")) return `'${v}'`;
  throw new Error(`environment ${key} contains both kinds of quote, which supervisor cannot read back`);
}

/** The program section; throws (naming the field) for values supervisor cannot represent. */
export function renderProgram(spec: SupervisorProgramSpec): string {
  const lines = [`; Managed by converge (supervisor_program ${spec.name}): changes made here are overwritten.`, `[program:${spec.name}]`];
  const put = (key: string, value: string | number | boolean | undefined) => value !== undefined && lines.push(`${key}=${value}`);
  put('command', literal('command', spec.command ?? ''));
  put('directory', spec.directory === undefined ? undefined : literal('directory', spec.directory));
  put('user', spec.user === undefined ? undefined : literal('user', spec.user));
  const env = Object.entries(spec.environment ?? {});
  if (env.length) put('environment', env.map(([k, v]) => `${k}=${envValue(k, v)}`).join(','));
  put('autostart', spec.autostart);
  put('autorestart', spec.autorestart);
  put('startsecs', spec.startsecs);
  put('stopwaitsecs', spec.stopwaitsecs);
  put('stopasgroup', spec.stopasgroup);
  put('killasgroup', spec.killasgroup);
  const redirect = spec.redirect_stderr ?? true;
  put('redirect_stderr', redirect);
  if (spec.syslog ?? true) {
    put('stdout_syslog', true);
    // With redirect_stderr, stderr is part of stdout already.
    if (!redirect) put('stderr_syslog', true);
  }
  return lines.join('\n') + '\n';
}

/** The file is root-only: environments often hold secrets, and supervisord reads it as root. */
const confFile = (spec: SupervisorProgramSpec, sensitive: boolean): ManagedFile => ({
  label: 'config',
  path: confPath(spec),
  content: spec.ensure === 'absent' ? '' : renderProgram(spec),
  mode: '0600',
  sensitive: sensitive || !!spec.sensitive,
});

const waitSeconds = (spec: SupervisorProgramSpec) => (spec.startsecs ?? 1) + 10;

/**
 * sh that waits until the program is RUNNING (starting it once if it is
 * stopped or has given up), for startsecs plus 10 s. Exit codes: 3 it stopped
 * or failed, 4 supervisord does not know it, 5 still not running.
 */
function waitRunningScript(spec: SupervisorProgramSpec): string {
  const limit = waitSeconds(spec) * 2;
  return [
    'set -f',
    'started=; i=0',
    supervisorStatusFunction(ctl(spec)),
    'while :; do',
    '  supervisor_status',
    // Its own line; when supervisord did not answer, what was printed instead.
    `  case $rc in 0|3) s=$(printf '%s\\n' "$out" | awk -v n=${shq(spec.name)} '$1 == n { print; f = 1 } END { if (!f) print n ": ERROR (no such process)" }') ;; *) s=$out ;; esac`,
    '  set -- $s',
    '  case "${2:-}" in',
    '    RUNNING) exit 0 ;;',
    '    STOPPED|EXITED|FATAL)',
    `      if [ -z "$started" ]; then started=1; ${ctl(spec)} start ${shq(spec.name)} >/dev/null 2>&1; continue; fi`,
    '      echo "$s" >&2; exit 3 ;;',
    '    STARTING|BACKOFF|STOPPING) ;;',
    '    *) echo "$s" >&2; exit 4 ;;',
    '  esac',
    '  i=$((i + 1))',
    `  if [ "$i" -ge ${limit} ]; then echo "$s" >&2; exit 5; fi`,
    '  sleep 0.5',
    'done',
  ].join('\n');
}

/** sh that loads the program's (written) section, as `reread` + `update NAME`, and waits for RUNNING. */
export function loadScript(spec: SupervisorProgramSpec): string {
  const c = ctl(spec);
  const update = [`out=$(${c} reread 2>&1) || { rc=$?; echo "$out" >&2; [ $rc -eq 127 ] && exit 127; exit 10; }`, `out=$(${c} update ${shq(spec.name)} 2>&1) || { echo "$out" >&2; exit 11; }`];
  return [supervisorLoadScript(c, 'load', spec.name, waitSeconds(spec)), ...update, waitRunningScript(spec)].filter(Boolean).join('\n');
}

/** sh that restarts the program alone and waits for RUNNING. */
export function restartScript(spec: SupervisorProgramSpec): string {
  const c = ctl(spec);
  return [supervisorLoadScript(c, 'restart', spec.name, waitSeconds(spec)), `${c} restart ${shq(spec.name)} >/dev/null 2>&1`, waitRunningScript(spec)].filter(Boolean).join('\n');
}

/** Runs a script that ends in waitRunningScript; a failure becomes a HostError with a hint that fits it. */
async function runAndWait(spec: SupervisorProgramSpec, script: string, ctx: ApplyContext): Promise<void> {
  const res = await ctx.exec({ script });
  if (res.code === 0) return;
  const detail = outputTail(res, 3);
  const name = spec.name;
  const hints: Record<number, [string, string]> = {
    127: ['supervisorctl not found', 'install supervisor (package supervisor), or set supervisorctl to its path'],
    10: ['supervisorctl reread failed', 'is supervisord running (systemctl status supervisor)? a config error names its file'],
    11: [`supervisorctl update ${name} failed`, `check ${confPath(spec)}`],
    3: [`program ${name} did not stay running`, `check its command, user and directory; its output is in syslog (or \`supervisorctl tail ${name}\`)`],
    4: [`supervisord does not know program ${name} after update`, `the [include] files= of supervisord.conf must cover ${confPath(spec)}`],
    5: [`program ${name} is still not RUNNING after ${waitSeconds(spec)} s`, 'a slow start needs a larger startsecs'],
  };
  const [what, hint] = hints[res.code] ?? [`supervisorctl for ${name} failed (exit ${res.code})`, 'see the message'];
  throw new HostError(`${what}${detail ? `: ${detail}` : ''}`, hint);
}

export const supervisorProgram: ResourceType<SupervisorProgramSpec, { status: SupervisorStatus; config: FileFacts }> = {
  kind: 'supervisor_program',
  id: (spec) => `supervisor_program:${spec.name}`,
  managedPaths: (spec) => (spec.ensure === 'absent' ? [] : [confPath(spec)]),
  implicitAfter: (spec) => [
    'package:supervisor',
    `directory:${spec.conf_dir ?? '/etc/supervisor/conf.d'}`,
    ...(spec.user ? [`user:${spec.user}`] : []),
    ...(spec.directory ? [`directory:${spec.directory}`] : []),
  ],

  /** Refuse, before any host is touched, values supervisor would read back differently. */
  resolve(spec, ctx) {
    if (spec.ensure === 'absent') return spec;
    try {
      renderProgram(spec);
    } catch (e) {
      throw new InputError({ message: `supervisor_program ${spec.name}: ${(e as Error).message}`, where: ctx.where, hint: 'put such a command in a script and run that; pass such a value through a file the program reads' });
    }
    return spec;
  },

  facts: (spec, ctx) => ({
    config: managedFileQuery(confFile(spec, ctx.sensitive)),
    status: { key: `supervisor-status:${ctl(spec)}`, script: statusScript(spec), parse: parseStatusAll },
  }),

  plan(spec, facts, ctx) {
    const file = confFile(spec, ctx.sensitive);
    const status = programStatus(facts.status, spec.name);
    if (spec.ensure === 'absent') {
      const unload: Change[] = loaded(status) ? [{ path: 'program', action: 'delete', before: status.state }] : [];
      return [...managedFileRemovals([file], [facts.config]), ...unload];
    }
    const changes = managedFileChanges(file, facts.config);
    if (status.state !== 'RUNNING') changes.push({ path: 'running', action: loaded(status) ? 'update' : 'create', before: describe(status), after: 'RUNNING' });
    return changes;
  },

  async apply(spec, changes, _facts, ctx) {
    const file = confFile(spec, ctx.sensitive);
    if (spec.ensure === 'absent') {
      await removeFiles([file], ctx, `removing ${file.path}`);
      // update stops and removes a program whose section is gone.
      const c = ctl(spec);
      if (changes.some((ch) => ch.path === 'program')) await ctx.run({ script: `set -e\n${c} reread >/dev/null\n${c} update ${shq(spec.name)}` }, `unloading supervisor program ${spec.name}`);
      return;
    }
    await writeChangedFiles([file], changes, ctx);
    await runAndWait(spec, loadScript(spec), ctx);
  },

  /** Restart this program alone, unless apply just (re)started it. */
  async onWatch(spec, _facts, applied, ctx) {
    if (spec.ensure === 'absent' || applied.some((c) => c.path === 'config' || c.path === 'running')) return undefined;
    await runAndWait(spec, restartScript(spec), ctx);
    return `restarted supervisor program ${spec.name}`;
  },
  watchVerb: () => 'restart',
};
