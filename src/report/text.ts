// The human report: per host, the resources that changed, would change,
// failed or were skipped (each with a one-line reason), diffs with --diff,
// and a closing summary per host and for the run. Every line passes through
// the redactor, so no secret value is ever printed.

import pc from 'picocolors';
import type { Change } from '../core/resource.js';
import { countClasses, countStatuses, type HostResult, type ResourceResult, type RunResult } from '../core/result.js';
import { REDACTED, type Redactor } from '../core/sensitive.js';

export interface TextOptions {
  diff: boolean;
  verbose: boolean;
  color: boolean;
}

export function useColor(stream: NodeJS.WriteStream): boolean {
  return !!stream.isTTY && !('NO_COLOR' in process.env) && process.env.TERM !== 'dumb';
}

const SYMBOL: Record<ResourceResult['status'], string> = { unchanged: '=', changed: '~', 'would-change': '?', failed: '!', skipped: '-' };

export function formatValue(c: Change, v: unknown): string {
  if (c.sensitive && c.path !== 'content') return REDACTED;
  if (v === undefined) return '∅';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** A unified diff without the Index:/==== preamble that createTwoFilesPatch puts above the --- and +++ lines. */
export function diffBody(diff: string): string[] {
  const lines = diff.trimEnd().split('\n');
  const start = lines.findIndex((l) => l.startsWith('--- '));
  return start < 0 ? lines : lines.slice(start);
}

/** "would-change (drift)": the status and, for a change, whose change it is. */
export function statusText(r: ResourceResult): string {
  return r.class ? `${r.status} (${r.class})` : r.status;
}

/** When, from which state revision and by whom the host was last converged, as the run found it. */
export function lastConvergedText(h: HostResult): string {
  const l = h.lastConverged;
  if (!l) return 'never converged by converge (no applied record)';
  const rev = l.revision ? ` from ${l.revision.slice(0, 12)}${l.dirty ? ' (with uncommitted changes)' : ''}` : ' from a state tree that is not a git checkout';
  return `last converged ${l.at}${rev} by ${l.login}`;
}

/** "2 drift, 1 pending, 0 new" */
export function classCountsText(h: HostResult): string {
  const k = countClasses(h.resources);
  return `${k.drift} drift, ${k.pending} pending, ${k.new} new`;
}

/** The reason without a leading "changed: " or "would change: " that only repeats the status. */
export function reasonText(r: ResourceResult): string {
  return r.reason.replace(/^(changed|would change): /, '');
}

function changeLines(c: Change, opts: TextOptions): string[] {
  const head = c.action === 'run' ? `    run: ${formatValue(c, c.after)}` : `    ${c.path}: ${formatValue(c, c.before)} -> ${formatValue(c, c.after)}${c.sensitive ? ` ${REDACTED}` : ''}`;
  const lines = [head];
  if (opts.diff && c.diff && !c.sensitive) lines.push(...diffBody(c.diff).map((l) => '      ' + l));
  return lines;
}

export function hostReport(h: HostResult, opts: TextOptions, redactor: Redactor): string {
  const c = pc.createColors(opts.color);
  const paint: Record<string, (s: string) => string> = { unchanged: c.dim, changed: c.yellow, 'would-change': c.cyan, failed: c.red, skipped: c.magenta, drift: c.cyan, unreachable: c.red, 'not-attempted': c.magenta };
  const counts = countStatuses(h.resources);
  const lines = [
    `${c.bold(h.host)}  ${paint[h.status](h.status)}  (${counts.changed} changed, ${counts['would-change']} would change, ${counts.unchanged} unchanged, ${counts.failed} failed, ${counts.skipped} skipped; ${h.execCount} ssh execs, ${(h.durationMs / 1000).toFixed(1)}s)`,
  ];
  if (h.resources.length) lines.push(c.dim(`  ${lastConvergedText(h)}${counts.changed || counts['would-change'] ? `; changes: ${classCountsText(h)}` : ''}`));
  if (h.error) {
    lines.push(c.red(`  ! ${h.error.message}`));
    if (h.error.hint) lines.push(`    hint: ${h.error.hint}`);
  }
  for (const r of h.resources) {
    if (r.status === 'unchanged' && !opts.verbose) continue;
    const where = r.where?.file && (r.status === 'failed') ? ` (${r.where.file}:${r.where.line})` : '';
    lines.push(paint[r.status](`  ${SYMBOL[r.status]} ${r.id} [${r.naturalId}] ${statusText(r)}: ${reasonText(r)}${where}`));
    if (r.hint) lines.push(`    hint: ${r.hint}`);
    for (const ch of r.changes) lines.push(...changeLines(ch, opts));
  }
  return redactor.redact(lines.join('\n'));
}

export function summaryLine(run: RunResult, opts: TextOptions): string {
  const c = pc.createColors(opts.color);
  const by = (s: HostResult['status']) => run.hosts.filter((h) => h.status === s).length;
  const res = run.hosts.flatMap((h) => h.resources);
  const counts = countStatuses(res);
  const mode = run.mode === 'check' ? 'check' : 'apply';
  const hostsPart = [`${by('unchanged')} unchanged`, `${by('changed')} changed`, `${by('drift')} drifted`, `${by('failed')} failed`, `${by('unreachable')} unreachable`, ...(by('not-attempted') ? [`${by('not-attempted')} not attempted`] : [])].join(', ');
  const resPart = run.mode === 'check' ? `${counts['would-change']} would change` : `${counts.changed} changed`;
  const line = `${mode}: ${run.hosts.length} host(s): ${hostsPart}; resources: ${resPart}, ${counts.failed} failed, ${counts.skipped} skipped; ${(run.durationMs / 1000).toFixed(1)}s${run.interrupted ? ' (INTERRUPTED: resources not listed as changed were not applied)' : ''}`;
  const bad = by('failed') + by('unreachable') + by('not-attempted');
  return bad ? c.red(line) : counts.changed || counts['would-change'] ? c.yellow(line) : c.green(line);
}

/** The run as data with every secret and sensitive value replaced: what reports (JSON, HTML, Markdown) are made from. */
export function redactRun(run: RunResult, redactor: Redactor): RunResult {
  const clean: RunResult = {
    ...run,
    hosts: run.hosts.map((h) => ({
      ...h,
      resources: h.resources.map((r) => ({
        ...r,
        changes: r.changes.map((ch) => (ch.sensitive ? { ...ch, before: ch.path === 'content' ? ch.before : REDACTED, after: ch.path === 'content' ? ch.after : REDACTED, diff: undefined } : ch)),
      })),
    })),
  };
  return redactor.redactValue(clean);
}

export function redactedJson(run: RunResult, redactor: Redactor): string {
  return JSON.stringify(redactRun(run, redactor), null, 2);
}
