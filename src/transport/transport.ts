// A transport runs sh scripts on one host. Scripts go to `sh -s` on stdin
// when no other stdin is needed, so nothing but the shell's name shows in
// the target's process list. A command once started is never signalled:
// an interrupted run lets it finish (a half-done apt transaction or file
// swap is worse than waiting), and a command the connection lost runs on.

import { constants } from 'node:os';
import { PROGRESS_PREFIX } from '../core/shell.js';

export interface ExecResult {
  code: number;
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

/**
 * Wrap a script so it runs as `runAs` given the login user: the login user
 * itself needs nothing; root becomes another user with su (always present,
 * sets HOME; -s because system users have nologin shells); anyone else
 * escalates with passwordless sudo (-n never prompts). The script goes on
 * stdin to `sh -s` unless stdin carries content, when it is a -c argument.
 */
export function commandLine(loginUser: string, runAs: string | undefined, scriptOnStdin: boolean, script: string, guard?: string): string {
  const target = runAs ?? 'root';
  const body = scriptOnStdin ? 'sh -s' : `sh -c ${quote(script)}`;
  // -o: the lock is held by flock itself, not by daemons the command may start.
  const held = guard === undefined ? '' : `flock -s -o ${quote(guard)} `;
  if (target === loginUser) return held + body;
  if (loginUser === 'root') return `${held}su -s /bin/sh -c ${quote(body)} ${quote(target)}`;
  return `${held}sudo -n -H -u ${quote(target)} ${body}`;
}

function quote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
