// The one way a unit test loads captured fact output (test/fixtures/<kind>/<name>.json,
// written by test/fixtures/capture.mjs from a real container): the fixture
// records the command it was captured from, and loading it against the fact
// query the code sends now fails when the two differ (the fact script changed
// since: re-capture the fixture). The output is then parsed by that query's
// own parser, with the exit code and stderr it was captured with.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FactQuery, Facts, QueryOutput, ResourceType } from '../../src/core/resource.js';

export const FIXTURES = join(import.meta.dirname, '../fixtures');

/** A captured query: the command as sent, what it printed and how it ended (code and stderr recorded when it failed). */
export interface CapturedQuery {
  command: string;
  output: string;
  code?: number;
  stderr?: string;
}

/** The captured output of `query`, after checking that it was captured from `query.script`. */
export function capturedOutput(query: FactQuery, captured: CapturedQuery | undefined, where: string): QueryOutput {
  if (!captured) throw new Error(`fixture ${where} is missing`);
  if (captured.command !== query.script) throw new Error(`fixture ${where} is stale: it was captured from another fact script than the code sends now; re-capture it with test/fixtures/capture.mjs`);
  // Fixtures captured before exit codes were recorded ran with exit 0: a failed query was an error then too.
  const out = { stdout: captured.output, code: captured.code ?? 0, stderr: captured.stderr ?? '' };
  if (!(query.exitCodes ?? [0]).includes(out.code)) throw new Error(`fixture ${where} records a failed query (exit ${out.code}): ${out.stderr}`);
  return out;
}

/** Reads test/fixtures/<kind>/<name>.json as JSON. */
export function readFixture<T = CapturedQuery>(kind: string, name: string): T {
  return JSON.parse(readFileSync(join(FIXTURES, kind, `${name}.json`), 'utf8')) as T;
}

/** test/fixtures/<kind>/<name>.json parsed by `query`, refused when it was captured from another script. */
export function factFixture<T>(query: FactQuery<T>, kind: string, name: string): T {
  const out = capturedOutput(query, readFixture(kind, name), `${kind}/${name}`);
  return query.parse(out.stdout, out);
}

// Scenario fixtures (capture.mjs): a spec and the captured output of each of its fact queries.

export interface Scenario<S> {
  spec: S;
  facts: Record<string, CapturedQuery>;
}

/** The state tree resolve() reads `source` files from. */
export const SCENARIO_STATES = join(FIXTURES, 'file/states');

export function scenario<S>(kind: string, name: string): Scenario<S> {
  return readFixture<Scenario<S>>(kind, name);
}

export function resolveSpec<S>(type: ResourceType<S>, spec: S): S {
  const where = { file: 'states/test.yaml', line: 1 };
  return type.resolve ? type.resolve(spec, { statesDir: SCENARIO_STATES, vars: {}, where, renderTemplate: () => '' }) : spec;
}

const PLAN_CTX = { host: { name: 'h', sshPort: 22, loginUser: 'root' }, statesDir: '/states', sensitive: false };

/**
 * The scenario's spec, resolved as the compiler would, and its facts parsed
 * by the type's own queries: each refused when it was captured from another
 * script than the type sends now for that spec.
 */
export function planInput<S, F>(type: ResourceType<S, F>, name: string): { spec: S; facts: F } {
  const sc = scenario<S>(type.kind, name);
  const spec = resolveSpec(type, sc.spec);
  const facts: Facts = {};
  for (const [fact, q] of Object.entries<FactQuery>(type.facts(spec, PLAN_CTX))) {
    const out = capturedOutput(q, sc.facts[fact], `${type.kind}/${name} (${fact})`);
    facts[fact] = q.parse(out.stdout, out);
  }
  // Each name filled by the type's own query of that name: the facts its plan reads.
  return { spec, facts: facts as F };
}
