// A transport runs sh scripts on one host. Scripts travel on stdin (see
// invocation()), so nothing but a fixed reader shows in the target's
// process list. A command once started is never signalled:
// an interrupted run lets it finish (a half-done apt transaction or file
// swap is worse than waiting), and a command the connection lost runs on.

import { constants } from 'node:os';
import { HostError } from '../core/diagnostics.js';
import { PROGRESS_PREFIX } from '../core/shell.js';

export interface ExecResult {
  code: number;
  /** Its caller's to let go once read: a fact batch's is emptied then (engine/facts.ts). */
  stdout: string;
  stderr: string;
  /** Set when the command did not end by itself: "killed by SIGKILL", "the SSH connection was lost". */
  cutOff?: string;
}

export interface ExecOptions {
  stdin?: string | Buffer;
  /** Run as this user (through sudo when it is not the login user). */
  runAs?: string;
  /**
   * A lock file held shared (flock -s) for as long as the command runs, by
   * a flock process its children do not inherit: the run lock's companion
   * (see engine/host-state.ts), so that commands a dead run left running
   * hold off the next run.
   */
  guard?: string;
  /** Called with each progress line the command prints (see PROGRESS_PREFIX). */
  onProgress?(message: string): void;
}

/** Collects a command's stderr, passing progress lines to onProgress instead. */
export function stderrCollector(onProgress?: (message: string) => void): { push(chunk: Buffer): void; text(): string } {
  let pending = '';
  let kept = '';
  const take = (line: string) => {
    if (line.startsWith(PROGRESS_PREFIX)) onProgress?.(line.slice(PROGRESS_PREFIX.length).trimEnd());
    else kept += line;
  };
  return {
    push(chunk) {
      pending += chunk.toString('utf8');
      let i;
      while ((i = pending.indexOf('\n')) >= 0) {
        take(pending.slice(0, i + 1));
        pending = pending.slice(i + 1);
      }
    },
    text() {
      if (pending) take(pending);
      pending = '';
      return kept;
    },
  };
}

/** How a command ended, for error messages: "exit 3", "exit 137 (killed by SIGKILL)", or why it was cut off. */
export function describeExit(r: ExecResult): string {
  if (r.cutOff) return r.cutOff;
  const sig = Object.entries(constants.signals).find(([, n]) => r.code === 128 + n)?.[0];
  return sig ? `exit ${r.code} (killed by ${sig})` : `exit ${r.code}`;
}

/** A command that exited non-zero, as the error a resource's apply throws: its purpose, how it ended, its last lines. */
export function commandFailure(purpose: string, res: ExecResult, hostName: string): HostError {
  const detail = outputTail(res, 4);
  return new HostError(`${purpose} failed (${describeExit(res)})${detail ? `: ${detail}` : ''}`, `fix what the output names on ${hostName} (or in this resource's state), then run again; --check shows what is left to do`);
}

/** The last lines a command printed (stderr, else stdout) on one line, for error messages. */
export function outputTail(r: ExecResult, lines: number): string {
  return (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-lines).join(' / ');
}

/** A command kept running on the host until released (or until the connection dies). */
export interface Held {
  /** The first line the command printed. */
  firstLine: string;
  /** Close its stdin and wait for it to end. */
  release(): Promise<void>;
}

export interface Transport {
  readonly hostName: string;
  /** Exec requests sent so far: the cost a no-op run is measured in. */
  readonly execCount: number;
  exec(script: string, opts?: ExecOptions): Promise<ExecResult>;
  /**
   * Start a script (as root) that prints one line and then lives as long as
   * its stdin is open: converge's run lock is a flock held by such a command,
   * so a controller that dies releases it with its connection. Progress
   * lines it prints on stderr before that (whom it waits for) go to onProgress.
   * Its stdin being taken, this script (converge's own, no secret in it) is
   * the one that shows on a command line.
   */
  hold(script: string, onProgress?: (message: string) => void): Promise<Held>;
  close(): Promise<void>;
}

/** Shared by transports: resolve on the first stdout line of a held command. */
export function firstLineOf(stdout: NodeJS.ReadableStream, done: Promise<unknown>): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    stdout.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      const i = buf.indexOf('\n');
      if (i >= 0) resolve(buf.slice(0, i));
    });
    done.then(() => resolve(buf.trim()), reject);
  });
}

/** What a transport execs, and what it writes to the command's stdin. */
export interface Invocation {
  line: string;
  input: string | Buffer;
}

/** Ends a script sent ahead of content: its absence means the script arrived cut short. */
const SCRIPT_END = '# end of converge script';

/**
 * How to run a script as `runAs` with this stdin, so that the script text
 * never appears in a command line (the target's process list, where any
 * local user can read it, whatever secret a validate command or guard
 * holds). Alone, it goes to `sh -s` on stdin. Ahead of stdin content, it
 * goes first on stdin, read back by its exact byte count (dd reads a pipe
 * byte by byte, leaving the content to the script).
 */
export function invocation(loginUser: string, runAs: string | undefined, script: string, stdin?: string | Buffer, guard?: string): Invocation {
  if (stdin === undefined) return { line: commandLine(loginUser, runAs, 'sh -s', guard), input: script };
  const head = Buffer.from(`${script}\n${SCRIPT_END}`);
  const reader = `s=$(dd bs=1 count=${head.length} 2>/dev/null); case $s in *${quote(SCRIPT_END)}) eval "$s" ;; *) echo "converge: the script arrived incomplete" >&2; exit 125 ;; esac`;
  return { line: commandLine(loginUser, runAs, `sh -c ${quote(reader)}`, guard), input: Buffer.concat([head, Buffer.from(stdin)]) };
}

/**
 * Wrap a sh command line so it runs as `runAs` given the login user: the
 * login user itself needs nothing; root becomes another user with su
 * (always present, sets HOME; -s because system users have nologin
 * shells); anyone else escalates with passwordless sudo (-n never prompts).
 * A guard file is held shared for the command's life (ExecOptions.guard).
 */
export function commandLine(loginUser: string, runAs: string | undefined, body: string, guard?: string): string {
  const target = runAs ?? 'root';
  // -o: the lock is held by flock itself, not by daemons the command may start.
  const held = guard === undefined ? '' : `flock -s -o ${quote(guard)} `;
  if (target === loginUser) return held + body;
  if (loginUser === 'root') return `${held}su -s /bin/sh -c ${quote(body)} ${quote(target)}`;
  return `${held}sudo -n -H -u ${quote(target)} ${body}`;
}

export function quote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
