// The converge CLI. Commands are thin; errors map to exit codes here only:
// 0 converged / no drift, 2 check found drift, 1 failure or bad input, 130 interrupted.

import yargs, { type Argv } from 'yargs';
import { InputError } from '../core/diagnostics.js';
import type { FailOn } from '../core/result.js';
import { processRedactor } from '../core/sensitive.js';
import { graphCommand, showCommand, validateCommand } from './inspect.js';
import { runCommand } from './run-command.js';
import { initCommand } from './init.js';
import { collectCommand, pullCommand } from './pull-command.js';
import { DEFAULT_CACHE_DIR, DEFAULT_REPORT_DIR } from '../fleet/pull.js';
import { factsCommand } from './facts-command.js';
import { mergeCommand } from './merge-command.js';

/** --fail-on's values: yargs infers FailOn[] from these (array + choices). */
const FAIL_ON = ['drift', 'pending', 'new', 'any'] as const satisfies readonly FailOn[];
const DEFAULT_FAIL_ON: FailOn[] = ['any'];

function common<T>(y: Argv<T>) {
  return y
    .option('inventory', { alias: 'i', type: 'string', default: process.env.CONVERGE_INVENTORY ?? 'inventories/demo.yaml', describe: 'Inventory file' })
    .option('states', { type: 'string', describe: 'States directory (default: from the inventory, else ../states beside it)' })
    .option('user', { alias: 'u', type: 'string', describe: "Log in as USER on every host (over the inventory's user), e.g. root for a first run before the developer accounts exist" })
    .option('extra-vars', { alias: 'e', type: 'string', array: true, describe: 'KEY=VALUE (VALUE read as YAML) or @FILE.yaml: vars over every other (repeatable)' });
}

function runOptions<T>(y: Argv<T>) {
  return common(y)
    .option('target', { alias: 't', type: 'string', describe: 'Hosts: a role, a host glob, or role:X and not host:Y' })
    .option('check', { type: 'boolean', default: false, describe: 'Plan only: report drift, change nothing' })
    .option('diff', { type: 'boolean', default: false, describe: 'Show unified diffs of file content' })
    .option('forks', { alias: 'f', type: 'number', default: 10, describe: 'Hosts at once' })
    .option('json', { type: 'boolean', default: false, describe: 'Machine-readable results on stdout' })
    .option('verbose', { alias: 'v', type: 'boolean', default: false, describe: 'List unchanged resources too' })
    .option('accept-new-host-keys', { type: 'boolean', default: false, describe: 'Record unknown host keys in known_hosts (changed keys still fail)' })
    .option('wait-lock', { type: 'number', describe: 'Wait up to SECONDS for another run on a host to finish (default: refuse at once)' })
    .option('batch', { type: 'string', describe: 'Rolling run: converge N (or N%) hosts at a time' })
    .option('report', { type: 'string', describe: 'Write the fleet report to FILE.html (self-contained) or FILE.md' })
    .option('progress', { choices: ['tty', 'plain', 'none'] as const, describe: 'Live progress on stderr (default: tty on a terminal, else plain: a line per host phase and per finished resource)' })
    .option('max-fail', { type: 'string', describe: 'Stop starting hosts once more than N (or N%) have failed' })
    .option('out', { type: 'string', describe: 'With --check: write the plan to FILE (hashes, paths and actions, never values) for `converge apply-plan FILE`' })
    .option('fail-on', { array: true, choices: FAIL_ON, default: DEFAULT_FAIL_ON, describe: 'With --check: exit 2 only for would-changes of these classes (drift: the host was changed by hand; pending: the states changed; new: never applied here), e.g. --fail-on drift for a scheduled drift check' })
    .option('shard', { type: 'string', describe: 'K/N: converge only this controller\'s part of the targeted hosts (stable split by host name); merge the shards\' --json reports with merge-reports' });
}

export const COMMANDS = ['highstate', 'apply', 'apply-plan', 'validate', 'show', 'graph', 'facts', 'init', 'merge-reports', 'pull', 'collect-reports'];

export function buildCli(argv: string[]) {
  let code = 0;
  const command = argv.find((a) => COMMANDS.includes(a));
  const set = (p: Promise<number> | number) => Promise.resolve(p).then((c) => void (code = c));
  const cli = yargs(argv)
    .scriptName('converge')
    .usage('$0 <command> [options]')
    .command(
      'highstate',
      "Apply the top file's states to each targeted host",
      (y) => runOptions(y),
      (a) => set(runCommand(a)),
    )
    .command(
      'apply <states..>',
      'Apply only the named state files',
      (y) => runOptions(y).positional('states', { type: 'string', array: true, describe: 'State names relative to states/, without .yaml' }),
      (a) => set(runCommand({ ...a, states: undefined, stateNames: a.states })),
    )
    .command(
      'apply-plan <plan>',
      'Apply a plan saved by highstate --check --out: exactly its changes; a host whose facts or states changed since is refused',
      (y) =>
        runOptions(y)
          .positional('plan', { type: 'string', demandOption: true, describe: 'The plan file' })
          .option('max-age', { type: 'number', default: 3600, describe: 'Refuse a plan older than SECONDS' }),
      (a) => set(runCommand({ ...a, check: false, out: undefined, plan: a.plan })),
    )
    .command('validate', 'Schema-check inventory, top file and states without connecting (secrets missing here are notes, not errors)', (y) => common(y).option('target', { alias: 't', type: 'string' }), (a) => set(validateCommand(a)))
    .command('show <host>', 'Print the rendered, ordered resources of one host', (y) => common(y).positional('host', { type: 'string', demandOption: true }), (a) => set(showCommand(a)))
    .command(
      'graph [host]',
      'Print the dependency graph of one host, or with --fleet the requisites between hosts',
      (y) =>
        common(y)
          .positional('host', { type: 'string', describe: 'The host (not with --fleet)' })
          .option('fleet', { type: 'boolean', default: false, describe: 'The fleet graph: the resources hosts wait for on each other, grouped by host, and those requisites' })
          .option('format', { choices: ['dot', 'svg', 'mermaid'] as const, default: 'dot' as const, describe: 'Output format' })
          .option('check', { type: 'boolean', default: false, describe: 'Check the host first and colour resources by status' })
          .option('accept-new-host-keys', { type: 'boolean', default: false, describe: 'With --check: record unknown host keys' })
          .option('why', { type: 'string', array: true, nargs: 2, describe: 'A B: print the chain of edges that orders A before B' }),
      (a) => set(graphCommand(a)),
    )
    .command(
      'facts [target]',
      "Print each targeted host's facts (OS release, architecture, kernel, CPUs, memory, init, container, IPv4, names)",
      (y) =>
        common(y)
          .positional('target', { type: 'string', describe: 'Hosts: a role, a host glob, or role:X and not host:Y (default: all)' })
          .option('json', { type: 'boolean', default: false, describe: 'JSON instead of YAML' })
          .option('forks', { alias: 'f', type: 'number', default: 10, describe: 'Hosts at once' })
          .option('accept-new-host-keys', { type: 'boolean', default: false, describe: 'Record unknown host keys in known_hosts (changed keys still fail)' }),
      (a) => set(factsCommand(a)),
    )
    .command(
      'init [dir]',
      'Write a starter inventory, top file and state with editor schemas in place',
      (y) => y.positional('dir', { type: 'string', default: '.' }).option('force', { type: 'boolean', default: false, describe: 'Overwrite existing files' }),
      (a) => set(initCommand(a)),
    )
    .command(
      'merge-reports <files..>',
      'Merge the --json reports of sharded runs (--shard K/N) into one fleet report and exit code',
      (y) =>
        y
          .positional('files', { type: 'string', array: true, demandOption: true, describe: 'The JSON report of each shard' })
          .option('json', { type: 'boolean', default: false, describe: 'The merged report as JSON on stdout' })
          .option('report', { type: 'string', describe: 'Also write it to FILE.html or FILE.md' })
          .option('diff', { type: 'boolean', default: false, describe: 'Show unified diffs of file content' })
          .option('verbose', { alias: 'v', type: 'boolean', default: false, describe: 'List unchanged resources too' })
          .option('fail-on', { array: true, choices: FAIL_ON, default: DEFAULT_FAIL_ON, describe: 'With --check: exit 2 only for would-changes of these classes (drift: the host was changed by hand; pending: the states changed; new: never applied here), e.g. --fail-on drift for a scheduled drift check' }),
      (a) => set(mergeCommand(a)),
    )
    .command(
      'pull',
      'On a host: fetch the state tree at a revision, converge this host with the local transport, leave its JSON report for collect-reports',
      (y) =>
        y
          .option('repo', { type: 'string', demandOption: true, describe: 'Git URL or path of the repository holding the state tree' })
          .option('rev', { type: 'string', default: 'main', describe: 'Branch, tag or commit to converge to' })
          .option('host', { type: 'string', describe: 'This host\'s name in the inventory (default: the hostname)' })
          .option('inventory', { alias: 'i', type: 'string', default: 'inventory.yaml', describe: 'Inventory file, relative to the repository root' })
          .option('cache', { type: 'string', default: DEFAULT_CACHE_DIR, describe: 'Where the repository is checked out' })
          .option('report-dir', { type: 'string', default: DEFAULT_REPORT_DIR, describe: 'Where the JSON report is left (as HOST.json)' })
          .option('post', { type: 'string', describe: 'Also POST the JSON report to this URL' })
          .option('check', { type: 'boolean', default: false, describe: 'Plan only: report drift, change nothing' })
          .option('diff', { type: 'boolean', default: false, describe: 'Show unified diffs of file content' })
          .option('verbose', { alias: 'v', type: 'boolean', default: false, describe: 'List unchanged resources too' })
          .option('json', { type: 'boolean', default: false, describe: 'Machine-readable results on stdout' })
          .option('wait-lock', { type: 'number', describe: 'Wait up to SECONDS for a push run on this host to finish (default: refuse at once)' })
          .option('progress', { choices: ['tty', 'plain', 'none'] as const, describe: 'Live progress on stderr (default: plain)' }),
      (a) => set(pullCommand(a)),
    )
    .command(
      'collect-reports',
      'Fetch the JSON report each targeted host\'s last pull left, over SSH, into a directory for merge-reports',
      (y) =>
        common(y)
          .option('target', { alias: 't', type: 'string', describe: 'Hosts: a role, a host glob, or role:X and not host:Y' })
          .option('out', { type: 'string', demandOption: true, describe: 'Local directory for the reports (HOST.json)' })
          .option('report-dir', { type: 'string', default: DEFAULT_REPORT_DIR, describe: 'The report directory on the hosts' })
          .option('forks', { alias: 'f', type: 'number', default: 10, describe: 'Hosts at once' })
          .option('accept-new-host-keys', { type: 'boolean', default: false, describe: 'Record unknown host keys in known_hosts (changed keys still fail)' }),
      (a) => set(collectCommand(a)),
    )
    .demandCommand(1, 'name a command: highstate, apply, apply-plan, validate, show, graph, facts, init, merge-reports, pull or collect-reports')
    .strict()
    .help()
    .version(false)
    .exitProcess(false)
    .fail((msg, err) => {
      throw err ?? new InputError({ message: msg, where: { path: 'command line' }, hint: `see \`converge ${command ? `${command} ` : ''}--help\`` });
    });
  skipHelpLayoutAfterHandler(cli);
  return { cli, exitCode: () => code };
}

/** The part of yargs' internals skipHelpLayoutAfterHandler replaces (not in its typings). */
export type YargsUsageInternals = { getInternalMethods(): { getUsageInstance(): { cacheHelpMessage(): void } } };

/**
 * Right after starting a command's handler, yargs lays out that command's
 * whole help text (usage.cacheHelpMessage), for a handler that prints its
 * help later; ours never do, and the layout (cliui over every option) was
 * 60-120 ms of each run's CPU, spent while the hosts' connections wait.
 * Help asked for (--help, a bad option) is laid out when it is shown, as
 * before. Not public API: test/unit/cli.test.ts fails if an upgrade moves it.
 */
export function skipHelpLayoutAfterHandler(cli: unknown): void {
  (cli as YargsUsageInternals).getInternalMethods().getUsageInstance().cacheHelpMessage = () => {};
}

export async function main(argv: string[]): Promise<void> {
  const { cli, exitCode } = buildCli(argv);
  try {
    await cli.parseAsync();
    process.exitCode = exitCode();
  } catch (e) {
    const text = e instanceof InputError ? `invalid input\n${e.message}` : e instanceof Error ? (e.stack ?? e.message) : String(e);
    process.stderr.write(processRedactor.redact(`converge: ${text}\n`));
    process.exitCode = 1;
  }
}
