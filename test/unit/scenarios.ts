// Scenario fixtures written by test/fixtures/capture.mjs from a real
// container: a spec and the output of each of its fact queries. planInput
// parses them with the resource's own parsers, and fails when the code no
// longer sends the command the output was captured from (re-capture then).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FactQuery, Facts, ResourceType } from '../../src/core/resource.js';
import { FIXTURES, planCtx } from './fixtures.js';

export interface Scenario<S> {
  spec: S;
  facts: Record<string, { command: string; output: string; code?: number; stderr?: string }>;
}

/** The state tree resolve() reads `source` files from. */
export const SCENARIO_STATES = join(FIXTURES, 'file/states');

export function scenario<S>(kind: string, name: string): Scenario<S> {
  return JSON.parse(readFileSync(join(FIXTURES, kind, `${name}.json`), 'utf8'));
}

export function resolveSpec<S>(type: ResourceType<S>, spec: S): S {
  const where = { file: 'states/test.yaml', line: 1 };
  return type.resolve ? type.resolve(spec, { statesDir: SCENARIO_STATES, vars: {}, where, renderTemplate: () => '' }) : spec;
}

/** The scenario's spec, resolved as the compiler would, and its facts parsed. */
export function planInput<S, F>(type: ResourceType<S, F>, name: string): { spec: S; facts: F } {
  const sc = scenario<S>(type.kind, name);
  const spec = resolveSpec(type, sc.spec);
  const facts: Facts = {};
  for (const [fact, q] of Object.entries<FactQuery>(type.facts(spec, planCtx()))) {
    const captured = sc.facts[fact];
    if (captured?.command !== q.script) throw new Error(`fixture ${type.kind}/${name} (${fact}) is stale: re-capture it with test/fixtures/capture.mjs`);
    // Fixtures captured before exit codes were recorded ran with exit 0: a failed query was an error then too.
    const out = { stdout: captured.output, code: captured.code ?? 0, stderr: captured.stderr ?? '' };
    if (!(q.exitCodes ?? [0]).includes(out.code)) throw new Error(`fixture ${type.kind}/${name} (${fact}) records a failed query (exit ${out.code}): ${out.stderr}`);
    facts[fact] = q.parse(out.stdout, out);
  }
  // Each name filled by the type's own query of that name: the facts its plan reads.
  return { spec, facts: facts as F };
}

