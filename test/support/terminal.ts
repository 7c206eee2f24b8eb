// Runs a command in a real terminal (a tmux pane on its own server socket)
// and records what the screen shows while it runs, as a person would see it:
// tests of live TTY output check screens, not escape codes.

import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
let sessions = 0;

export interface TerminalRun {
  /** Each distinct screen seen while the command ran, in order; the last one after it exited. */
  screens: string[];
  /** The screen after the command exited. */
  final: string;
  code: number;
}

const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Runs argv in a cols x rows terminal, polling the screen every pollMs until the command exits. */
export async function runInTerminal(argv: string[], opts: { cwd: string; env?: Record<string, string>; cols?: number; rows?: number; pollMs?: number; timeoutMs?: number }): Promise<TerminalRun> {
  const socket = `converge-test-${process.pid}-${++sessions}`;
  const tmux = (...args: string[]) => run('tmux', ['-L', socket, '-f', '/dev/null', ...args]);
  const env = Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${shq(v)}`).join(' ');
  // The shell prints the exit code and then waits, so the last screen stays readable.
  const script = `env ${env} ${argv.map(shq).join(' ')}; echo "[exit $?]"; exec sleep 3600`;
  await tmux('new-session', '-d', '-s', 't', '-x', String(opts.cols ?? 160), '-y', String(opts.rows ?? 40), '-c', opts.cwd, script);
  const screens: string[] = [];
  try {
    const deadline = Date.now() + (opts.timeoutMs ?? 300_000);
    for (;;) {
      const screen = (await tmux('capture-pane', '-p', '-t', 't')).stdout.replace(/\s+$/, '');
      if (screen !== screens.at(-1)) screens.push(screen);
      const exit = /^\[exit (\d+)\]$/m.exec(screen);
      if (exit) return { screens, final: screen, code: Number(exit[1]) };
      if (Date.now() > deadline) throw new Error(`command did not finish in time; last screen:\n${screen}`);
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 100));
    }
  } finally {
    spawnSync('tmux', ['-L', socket, 'kill-server'], { stdio: 'ignore' });
  }
}
