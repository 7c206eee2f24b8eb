// pip_requirements: packages installed into a venv by its own pip, as the
// venv's owner (its pip is the owner's code: root never runs it).
//
// The facts ask the venv what it has installed (`pip list --format=freeze`:
// read-only, no index involved; unlike `pip freeze` it names a package
// installed from a URL by its version) and read the requirements file, and
// the plan compares them (python-requirements.ts). Apply installs the whole
// set in one pip run: pip leaves what is satisfied alone, and resolves the
// rest together.

import { HostError } from '../core/diagnostics.js';
import type { Change, ResourceType } from '../core/resource.js';
import { shq } from '../core/shell.js';
import type { PipRequirementsSpec } from '../generated/index.js';
import { ancestors, keyValues } from './lib/fs-common.js';
import { formatSpecifiers, normalizeName, parseInstalled, parseRequirement, parseRequirementsFile, satisfies, type Requirement } from './lib/python-requirements.js';

export interface PipFacts {
  /** bin/python exists. */
  venv: boolean;
  /** Exit status of pip list, when it ran. */
  listExit?: number;
  /** Normalized name -> installed version, from pip list. */
  installed: Map<string, string>;
  /** pip list's output as printed (its error when it failed). */
  listOutput: string;
  /** The requirements file's text, when the spec names one and the owner can read it. */
  requirements?: string;
}

const owner = (spec: PipRequirementsSpec) => spec.user ?? 'root';
/** pip never prompts and never looks for a newer pip. */
const PIP_ENV = 'export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1';
const INSTALLED_MARK = '[installed]';
const REQUIREMENTS_MARK = '[requirements]';

/** Read-only, as the owner: pip list, then the requirements file last (its lines are its own). */
export function pipFactScript(spec: PipRequirementsSpec): string {
  const py = shq(`${spec.venv}/bin/python`);
  const lines = [
    'exec </dev/null',
    'cd /',
    // Listing needs no cache (and warns when the owner has no home for one); nor may it leave bytecode behind.
    `${PIP_ENV} PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1`,
    `if [ -x ${py} ]; then echo venv=yes; out=$(${py} -m pip list --format=freeze 2>&1); echo "list_exit=$?"; fi`,
    `echo ${shq(INSTALLED_MARK)}`,
    'printf "%s\\n" "$out"',
  ];
  if (spec.requirements) lines.push(`[ -r ${shq(spec.requirements)} ] && echo ${shq(REQUIREMENTS_MARK)} && cat ${shq(spec.requirements)}`);
  lines.push('true');
  return lines.join('\n');
}

export function parsePipFacts(text: string): PipFacts {
  const i = text.indexOf(`${INSTALLED_MARK}\n`);
  const head = i < 0 ? text : text.slice(0, i);
  let rest = i < 0 ? '' : text.slice(i + INSTALLED_MARK.length + 1);
  const r = rest.indexOf(`\n${REQUIREMENTS_MARK}\n`);
  const requirements = r < 0 ? undefined : rest.slice(r + REQUIREMENTS_MARK.length + 2);
  if (r >= 0) rest = rest.slice(0, r + 1);
  const kv = keyValues(head);
  const facts: PipFacts = { venv: kv.get('venv') === 'yes', installed: parseInstalled(rest), listOutput: rest.trim() };
  if (kv.has('list_exit')) facts.listExit = Number(kv.get('list_exit'));
  if (requirements !== undefined) facts.requirements = requirements;
  return facts;
}

/** What the spec wants: the requirements file's lines, then the packages. */
function wanted(spec: PipRequirementsSpec, f: PipFacts): Requirement[] {
  const fromFile = spec.requirements && f.requirements !== undefined ? parseRequirementsFile(f.requirements, spec.requirements) : [];
  return [...fromFile, ...(spec.packages ?? []).map((p) => parseRequirement(p, 'packages'))];
}

export function planPip(spec: PipRequirementsSpec, f: PipFacts): Change[] {
  if (f.venv && f.listExit !== 0) {
    const why = f.listOutput.split('\n').slice(-1)[0] || `exit ${f.listExit}`;
    throw new HostError(`pip list failed in ${spec.venv}: ${why}`, 'the venv needs a working pip (python -m venv installs one, unless --without-pip)');
  }
  const out: Change[] = [];
  // Unknown until it is there (a checkout upstream brings it): pip reads it at apply.
  if (spec.requirements && f.requirements === undefined) out.push({ path: 'requirements', action: 'create', after: `${spec.requirements} (not on the host or not readable by ${owner(spec)})` });
  for (const req of wanted(spec, f)) {
    const have = f.installed.get(normalizeName(req.name));
    const want = formatSpecifiers(req.specifiers) || 'any version';
    if (have === undefined) out.push({ path: req.name, action: 'create', after: want });
    else if (!satisfies(have, req.specifiers)) out.push({ path: req.name, action: 'update', before: have, after: want });
  }
  return out;
}

/**
 * As the owner. The first stdin line is the index URL (it may hold a token,
 * so it stays out of argv), the rest the packages as a requirements file.
 */
function installScript(spec: PipRequirementsSpec): string {
  const args = [
    ...(spec.find_links ? ['--no-index', '--find-links', spec.find_links] : []),
    ...(spec.extra_args ?? []),
    ...(spec.requirements ? ['-r', spec.requirements] : []),
  ].map(shq);
  return [
    'set -e',
    'cd /',
    'IFS= read -r index_url || true',
    '[ -z "$index_url" ] || export PIP_INDEX_URL="$index_url"',
    PIP_ENV,
    'req=$(mktemp)',
    `trap 'rm -f "$req"' EXIT`,
    'cat > "$req"',
    `${shq(`${spec.venv}/bin/python`)} -m pip install ${[...args, '-r', '"$req"'].join(' ')}`,
  ].join('\n');
}

export const pipRequirements: ResourceType<PipRequirementsSpec, { pip: PipFacts }> = {
  kind: 'pip_requirements',
  // One set of requirements per venv: two would fight over the same packages.
  id: (spec) => `pip_requirements:${spec.venv.replace(/\/+$/, '')}`,
  // The venv and its owner; whatever brings the requirements file or the wheels (a checkout, a directory, a file).
  implicitAfter(spec) {
    const ids = [`virtualenv:${spec.venv.replace(/\/+$/, '')}`, ...(spec.user ? [`user:${spec.user}`] : [])];
    if (spec.requirements) ids.push(`file:${spec.requirements}`, ...ancestors(spec.requirements).flatMap((d) => [`git_checkout:${d}`, `directory:${d}`]));
    if (spec.find_links) ids.push(...[spec.find_links, ...ancestors(spec.find_links)].flatMap((d) => [`git_checkout:${d}`, `directory:${d}`]));
    return [...new Set(ids)];
  },

  facts: (spec) => ({
    pip: { key: `pip:${spec.venv}:${spec.requirements ?? ''}`, runAs: spec.user, script: pipFactScript(spec), parse: parsePipFacts },
  }),

  plan: (spec, facts) => planPip(spec, facts.pip),

  async apply(spec, changes, _facts, ctx) {
    const stdin = `${spec.index_url ?? ''}\n${(spec.packages ?? []).join('\n')}\n`;
    const names = changes.map((c) => c.path).join(', ');
    await ctx.run({ script: installScript(spec), stdin, runAs: spec.user }, `pip install (${names}) in ${spec.venv} as ${owner(spec)}`);
  },
};
