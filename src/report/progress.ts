// Live progress while hosts converge. On a TTY: one line per host that
// updates in place (log-update does the terminal work) under a fleet line
// with counts and elapsed time. Otherwise (or --progress=plain): one plain
// line per event. Progress goes to stderr; reports and --json to stdout.

import { createLogUpdate } from 'log-update';
import pc from 'picocolors';
import type { HostResult } from '../core/result.js';
import type { HostEvent } from '../engine/host-run.js';

export type ProgressMode = 'tty' | 'plain' | 'none';

export interface Progress {
  event(e: HostEvent): void;
  /** Print a finished host's report above the live lines. */
  hostDone(h: HostResult, report: string): void;
  finish(): void;
}

function describe(e: HostEvent): string {
  if (e.note) return e.note;
  if (e.phase === 'applying' || e.phase === 'planning') return `${e.phase} ${e.done ?? 0}/${e.total ?? '?'}${e.resource ? ` ${e.resource}` : ''}`;
  return e.phase;
}

export function createProgress(mode: ProgressMode, hostNames: string[], out: NodeJS.WriteStream, color: boolean): Progress {
  const started = Date.now();
  if (mode === 'none') return { event() {}, hostDone: (_h, report) => void process.stdout.write(report + '\n'), finish() {} };
  if (mode === 'plain') {
    const last = new Map<string, string>();
    return {
      event(e) {
        // one line per phase change (not per resource) and per note
        const key = e.note ?? e.phase;
        if (last.get(e.host) === key) return;
        last.set(e.host, key);
        out.write(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${e.host}: ${describe(e)}\n`);
      },
      hostDone: (_h, report) => void process.stdout.write(report + '\n'),
      finish() {},
    };
  }
  const c = pc.createColors(color);
  const state = new Map<string, string>(hostNames.map((h) => [h, c.dim('waiting')]));
  const finished = new Map<string, HostResult['status']>();
  const live = createLogUpdate(out);
  const render = () => {
    const counts = ['changed', 'unchanged', 'drift', 'failed', 'unreachable'].map((s) => `${[...finished.values()].filter((v) => v === s).length} ${s}`).join(', ');
    const active = hostNames.filter((h) => !finished.has(h));
    const width = Math.max(...hostNames.map((h) => h.length));
    live(
      [
        ...active.slice(0, Math.max(1, (out.rows ?? 24) - 4)).map((h) => `  ${h.padEnd(width)}  ${state.get(h)}`),
        c.bold(`fleet: ${finished.size}/${hostNames.length} done (${counts}) ${((Date.now() - started) / 1000).toFixed(1)}s`),
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
      live.clear();
      process.stdout.write(report + '\n');
      render();
    },
    finish() {
      clearInterval(timer);
      render();
      live.done();
    },
  };
}
