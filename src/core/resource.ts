// The contract between the engine and a resource type. The engine, not each
// resource, enforces it: facts are read-only scripts batched per host and
// run-as user, plan is pure, apply is the only side effect, and after apply
// the engine re-reads facts and requires the plan to be empty.

import type { HostError, Where } from './diagnostics.js';
import type { ExecResult } from '../transport/transport.js';

/** What a fact query printed and how it ended. */
export interface QueryOutput {
  stdout: string;
  code: number;
  stderr: string;
}

/**
 * A read-only sh script whose output a pure parser turns into a fact. A
 * query that exits with a code outside `exitCodes`, or whose output the
 * parser throws on, is an error naming host and query (the resource cannot
 * be planned), never a silently defaulted fact.
 */
export interface FactQuery<T = unknown> {
  /** Identical keys are gathered once per host (e.g. the dpkg package list). */
  key: string;
  runAs?: string;
  script: string;
  /**
   * Definitions of sh functions the script calls: a batch defines each once
   * for all its queries (a file's stat and hash is ~700 bytes of sh, a call ~100).
   */
  functions?: readonly string[];
  /**
   * The script may run in the batch's own shell rather than a subshell of
   * its own (batchScript does so when the batch has enough such queries to
   * pay for the temp file their stderr goes to): it never exits, changes directory or shell options, reads stdin,
   * or sets a variable another query reads (a call of the batch's functions,
   * a plain command). A subshell is a fork, and a no-op's batch is mostly
   * forks: ~1.3 ms each on the 2-core development VM, 40 of them per bench host.
   */
  inline?: boolean;
  /** The exit codes that are answers (default [0]): e.g. getent's 2 for "no such entry". */
  exitCodes?: number[];
  /** Pure: the fact from the query's stdout (and, for a parser that needs them, its exit code and stderr). */
  parse(stdout: string, output: QueryOutput): T;
  /** One command answers this query for many items at once: see FactMerge. */
  merge?: FactMerge;
  /**
   * Tables the script's functions look `tableArg` up in before running a
   * command of their own: a batch runs each table's command once for the
   * args of all its queries (one `stat` and one `sha256sum` for every file
   * of the host instead of one each). Shared arrays: a query carries only
   * its arg, not an object of its own (or, for a query that reads several
   * paths, its args).
   */
  tables?: readonly FactTable[];
  tableArg?: string | readonly string[];
}

/**
 * sh run once at the top of a batch, before its queries, for the tableArgs
 * of every query that names this table: it sets shell variables the
 * queries' functions read. A table only saves commands: a function that does
 * not find its arg there (a path the command could not read, or one the
 * table left out) runs its own command, so a query's output is the same
 * with or without the table, and the query's `script` alone (fixtures,
 * capture.mjs) prints what it prints in a batch.
 */
export interface FactTable {
  script(args: readonly string[]): string;
}

/**
 * Queries of one kind that one command answers for all of them (`systemctl
 * show u1 u2 ...` costs one D-Bus round trip, not one per unit). A batch runs
 * `script(items)` once for every query with the same `key` (each item once,
 * in order); `split` cuts its output into each item's part, shaped as
 * `script([item])` alone would print it, so the query's own `script` is
 * `script([item])` and its parse reads either. The merged command's exit
 * code and stderr go with every part.
 */
export interface FactMerge {
  key: string;
  item: string;
  script(items: string[]): string;
  split(stdout: string, items: string[]): string[];
}

export type ChangeAction = 'create' | 'update' | 'delete' | 'replace' | 'run';

export interface Change {
  /** What changes, e.g. "content", "mode", "groups", "running". */
  path: string;
  action: ChangeAction;
  before?: unknown;
  after?: unknown;
  /** Printed as (sensitive), and a content diff shows only hashes. */
  sensitive?: boolean;
  /** Unified diff of file content. */
  diff?: string;
}

/**
 * Facts are named per resource: facts(spec) returns { name: query }, plan
 * gets { name: parsed }. A type names its facts' types (F), so plan reads
 * them without casts: `FactQueries<{ stat: PathStat }>` must hold a
 * FactQuery<PathStat> under `stat`.
 */
export type FactQueries<F = Record<string, unknown>> = { [K in keyof F]: FactQuery<F[K]> };
export type Facts = Record<string, unknown>;

export interface HostInfo {
  name: string;
  /** The SSH port converge is connected on (never firewalled off). */
  sshPort: number;
  loginUser: string;
}

export interface PlanContext {
  host: HostInfo;
  /** The resource's values include a secret: never fetch or show its content. */
  sensitive: boolean;
  /** States root, for resources that read files from the state tree. */
  statesDir: string;
}

export interface Command {
  script: string;
  /** Content and secrets travel on stdin, never in the argument list. */
  stdin?: string | Buffer;
  runAs?: string;
}

export interface ApplyContext extends PlanContext {
  /** Run a command; a non-zero exit throws a HostError naming the command's purpose. */
  run(cmd: Command, purpose: string): Promise<ExecResult>;
  /** Run a command and return its result whatever the exit code. */
  exec(cmd: Command): Promise<ExecResult>;
  signal: AbortSignal;
  /**
   * Open a brand-new SSH connection to the host and run `true` over it:
   * after a firewall or sshd change, proof that converge can still get in.
   * Resolves false (never throws) when the new connection fails.
   */
  canReconnect(): Promise<boolean>;
}

/** Controller-side inputs a spec may need resolved before planning (templates, files from the state tree). */
export interface CompileContext {
  statesDir: string;
  vars: Record<string, unknown>;
  renderTemplate(name: string, extraVars?: Record<string, unknown>): string;
  where: Where;
}

interface ResourceBase<S, F> {
  kind: string;
  /** Turn the rendered spec into a self-contained one (e.g. template -> content). Runs on the controller. */
  resolve?(spec: S, ctx: CompileContext): S;
  /**
   * Natural identity, unique per host: "file:/etc/motd", "package:nginx".
   * Types whose instances have none (a command) leave it out: their id is
   * kind:state-id.
   */
  id?(spec: S): string;
  /**
   * Paths this resource keeps present on the host: an exclusive directory
   * (directory.exclusive) leaves the entries they name alone.
   */
  managedPaths?(spec: S): string[];
  /** Natural ids this resource must come after when they are managed (parent dir, owner, package). */
  implicitAfter?(spec: S): string[];
  facts(spec: S, ctx: PlanContext): FactQueries<F>;
  /** Pure: what must change for the host to match the spec. Empty means in sync. */
  plan(spec: S, facts: F, ctx: PlanContext): Change[];
  apply(spec: S, changes: Change[], facts: F, ctx: ApplyContext): Promise<void>;
}

/** A type that reacts when a resource it watches changed (restart a service, run a command). */
export interface Watchable<S, F> {
  /**
   * What this resource does when a resource it watches (or names in
   * onchanges) changed. `applied` is what its own apply just did, so a
   * service that was just started is not restarted again. Returns what it
   * did, or undefined when nothing was needed.
   */
  onWatch(spec: S, facts: F, applied: Change[], ctx: ApplyContext): Promise<string | undefined>;
  /** The verb check mode reports for onWatch: "restart", "reload", "run". */
  watchVerb(spec: S): string;
}

/**
 * A type whose resources of one group are applied together in one step (all
 * package installs of a host in one apt transaction, its files written in
 * one exec), when they are ready at the same time.
 */
export interface Groupable<S, F> {
  group: string;
  /** How the step is named in a member's reason: "one apt transaction" (with 3 more). */
  together: string;
  /**
   * Apply every item. Throws when the step failed as a whole (every member
   * failed); or returns each item's own failure (undefined: applied).
   */
  applyGroup(items: { spec: S; changes: Change[]; facts: F }[], ctx: ApplyContext): Promise<void | (HostError | undefined)[]>;
}

/** All of a capability, or none of it: a type cannot be half watchable. */
type AllOrNone<T> = T | { [K in keyof T]?: never };

/** S: the spec; F: its facts by name (the registry holds types of any spec and facts). */
export type ResourceType<S = any, F = any> = ResourceBase<S, F> & AllOrNone<Watchable<S, F>> & AllOrNone<Groupable<S, F>>;
