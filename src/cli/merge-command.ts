// converge merge-reports: the JSON reports of sharded runs as one fleet
// report (text, JSON, HTML or Markdown) and one exit code (src/fleet/merge-reports.ts).

import { exitCode, type FailOn } from '../core/result.js';
import { Redactor } from '../core/sensitive.js';
import { mergeRuns, readReport } from '../fleet/merge-reports.js';
import { hostReport, summaryLine, useColor } from '../report/text.js';
import { reportWriter } from './run-command.js';

export interface MergeArgs {
  files: string[];
  json: boolean;
  report?: string;
  diff: boolean;
  verbose: boolean;
  failOn?: FailOn[];
}

export function mergeCommand(args: MergeArgs): number {
  const writeReport = args.report ? reportWriter(args.report) : undefined;
  const run = mergeRuns(args.files.map(readReport));
  writeReport?.(run);
  if (args.json) {
    process.stdout.write(JSON.stringify(run, null, 2) + '\n');
  } else {
    // Each shard's report was redacted when it was written; nothing is left to redact.
    const opts = { diff: args.diff, verbose: args.verbose, color: useColor(process.stdout) };
    for (const h of run.hosts) process.stdout.write(hostReport(h, opts, new Redactor()) + '\n');
    process.stdout.write(summaryLine(run, opts) + '\n');
  }
  return exitCode(run, args.failOn);
}
