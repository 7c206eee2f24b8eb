// Live progress while hosts converge. On a TTY: one line per host that
// updates in place (log-update does the terminal work) under a fleet line
// with counts and elapsed time. Otherwise (or --progress=plain): one plain
// line each time a host enters a new phase. Progress goes to stderr;
// reports and --json to stdout.

import { createLogUpdate } from 'log-update';
import pc from 'picocolors';
import type { HostResult } from '../core/result.js';
import type { HostEvent } from '../engine/host-run.js';

export type ProgressMode = 'tty' | 'plain' | 'none';

export interface Progress {
  event(e: HostEvent): void;
  /** A host finished; its report (none with --json) is printed above the live lines. */
  hostDone(h: HostResult, report?: string): void;
  /** A message for the person watching (e.g. on Ctrl-C), printed above the live lines. */
  note(text: string): void;
  finish(): void;
}

function describe(e: HostEvent): string {
  if (e.note) return e.note;
  if (e.phase === 'applying' || e.phase === 'planning') return `${e.phase} ${e.done ?? 0}/${e.total ?? '?'}${e.resource ? ` ${e.resource}` : ''}`;
  return e.phase;
}

const STATUSES: HostResult['status'][] = ['changed', 'unchanged', 'drift', 'failed', 'unreachable', 'not-attempted'];

const printReport = (report?: string) => {
  if (report !== undefined) process.stdout.write(report + '\n');
};

export function createProgress(mode: ProgressMode, hostNames: string[], out: NodeJS.WriteStream, color: boolean): Progress {
  const started = Date.now();
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;
  const note = (text: string) => void out.write(`${text}\n`);
  if (mode === 'none') return { event() {}, hostDone: (_h, report) => printReport(report), note, finish() {} };
  if (mode === 'plain') {
    // A line per phase a host enters, and one per resource as it finishes:
    // every resource of an apply (a first apply is minutes long: the log shows
    // what it is doing), only those that would change in check mode (a no-op
    // check of a large fleet stays a short log).
    const last = new Map<string, string>();
    return {
      event(e) {
        if (e.finished) {
          const f = e.finished;
          if (e.phase === 'applying' || f.status !== 'unchanged') out.write(`[${elapsed()}] ${e.host}: ${e.done}/${e.total} ${f.id} ${f.status} (${f.seconds.toFixed(1)}s)\n`);
          return;
        }
        // A note (what the host waits for) gets its line too.
        const key = e.note ?? e.phase;
        if (last.get(e.host) === key) return;
        last.set(e.host, key);
        // The phase's size, not its first resource: that one is done long before the next line.
        const what = e.note ?? (e.total === undefined ? e.phase : `${e.phase} ${e.total} resource(s)`);
        out.write(`[${elapsed()}] ${e.host}: ${what}\n`);
      },
      hostDone: (_h, report) => printReport(report),
      note,
      finish() {},
    };
  }
  const c = pc.createColors(color);
  const state = new Map<string, string>(hostNames.map((h) => [h, c.dim('waiting')]));
  const finished = new Map<string, HostResult['status']>();
  const live = createLogUpdate(out);
  const width = Math.max(...hostNames.map((h) => h.length));
  const render = () => {
    const counts = STATUSES.map((s) => [s, [...finished.values()].filter((v) => v === s).length] as const).filter(([, n]) => n > 0);
    const summary = counts.length ? ` (${counts.map(([s, n]) => `${n} ${s}`).join(', ')})` : '';
    const active = hostNames.filter((h) => !finished.has(h));
    // Keep the live block shorter than the screen, or the terminal scrolls it and it cannot be redrawn in place.
    const room = Math.max(1, (out.rows ?? 24) - 4);
    const shown = active.length > room ? active.slice(0, room - 1) : active;
    live(
      [
        ...shown.map((h) => `  ${h.padEnd(width)}  ${state.get(h)}`),
        ...(shown.length < active.length ? [c.dim(`  … and ${active.length - shown.length} more`)] : []),
        c.bold(`fleet: ${finished.size}/${hostNames.length} done${summary} ${elapsed()}`),
      ].join('\n'),
    );
  };
  const timer = setInterval(render, 250);
  timer.unref();
  return {
    event(e) {
      state.set(e.host, e.phase === 'failed' ? c.red(describe(e)) : describe(e));
      render();
    },
    hostDone(h, report) {
      finished.set(h.host, h.status);
      if (report !== undefined) {
        live.clear();
        printReport(report);
      }
      render();
    },
    note(text) {
      live.clear();
      note(text);
      render();
    },
    finish() {
      clearInterval(timer);
      render();
      live.done();
    },
  };
}
