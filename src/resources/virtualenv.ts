// virtualenv: a Python venv made by its owner with `python -m venv`.
//
// The facts run no Python at all (running the owner's bin/python as anyone
// would be running the owner's code): they read pyvenv.cfg and resolve two
// symlink chains, bin/python and the interpreter the spec names. When those
// differ (the interpreter the venv was made with is gone or another one is
// wanted), or the interpreter's X.Y is not the one pyvenv.cfg says the venv
// was made for, the venv is recreated in place with `venv --clear`. pyvenv.cfg's
// include-system-site-packages flag is read by Python at every start, so a
// changed system_site_packages is one edited line, not a rebuild.

import { HostError } from '../core/diagnostics.js';
import type { Change, ResourceType } from '../core/resource.js';
import { shq } from '../core/shell.js';
import type { VirtualenvSpec } from '../generated/index.js';
import { dirStatScript, handOverDirScript, keyValues, parseDirStat, pathImplicitAfter, type DirStat } from './lib/fs-common.js';

export interface VenvFacts extends DirStat {
  /** The file bin/python resolves to, when it resolves. */
  venvPython?: string;
  /** The file the spec's interpreter resolves to for the owner, when found. */
  python?: string;
  /** pyvenv.cfg's keys, when there is one. */
  cfg?: Record<string, string>;
}

const owner = (spec: VirtualenvSpec) => spec.user ?? 'root';
const CFG_MARK = '[pyvenv.cfg]';

/** Read-only, as the owner: stat, emptiness, both interpreters, then pyvenv.cfg last (its lines are its own). */
export function venvFactScript(spec: VirtualenvSpec): string {
  const v = shq(spec.path);
  return [
    'exec </dev/null',
    'cd /',
    dirStatScript(spec.path),
    `echo "venv_python=$(readlink -e ${v}/bin/python)"`,
    `p=$(command -v ${shq(spec.python ?? 'python3')}) && echo "python=$(readlink -e "$p")"`,
    `[ -f ${v}/pyvenv.cfg ] && echo ${shq(CFG_MARK)} && cat ${v}/pyvenv.cfg`,
    'true',
  ].join('\n');
}

/** pyvenv.cfg is `key = value` lines (Python's venv reads it the same way: split at the first =, trimmed). */
export function parsePyvenvCfg(text: string): Record<string, string> {
  const cfg: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) cfg[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return cfg;
}

export function parseVenvFacts(text: string): VenvFacts {
  const at = text.indexOf(`${CFG_MARK}\n`);
  const head = at < 0 ? text : text.slice(0, at);
  const kv = keyValues(head);
  const facts: VenvFacts = parseDirStat(head);
  if (kv.get('venv_python')) facts.venvPython = kv.get('venv_python');
  if (kv.get('python')) facts.python = kv.get('python');
  if (at >= 0) facts.cfg = parsePyvenvCfg(text.slice(at + CFG_MARK.length + 1));
  return facts;
}

/** What the plan shows for the interpreter: its file, or the spec's name when the owner cannot find it (yet). */
const interpreter = (spec: VirtualenvSpec, f: VenvFacts) => f.python ?? `${spec.python ?? 'python3'} (not found on the host)`;
const siteFlag = (cfg: Record<string, string>) => cfg['include-system-site-packages'] === 'true';

export function planVenv(spec: VirtualenvSpec, f: VenvFacts): Change[] {
  if (spec.ensure === 'absent') return f.type === 'absent' ? [] : [{ path: 'virtualenv', action: 'delete', before: spec.path }];
  if (f.type !== 'absent' && f.type !== 'directory') throw new HostError(`${spec.path} is a ${f.type}, not a directory`, 'remove it by hand or choose another path for the venv');
  const out: Change[] = [];
  if (f.type === 'directory' && f.owner !== owner(spec)) out.push({ path: 'owner', action: 'update', before: f.owner, after: owner(spec) });
  const site = !!spec.system_site_packages;
  if (f.type === 'absent' || (f.empty && !f.cfg)) {
    return [...out, { path: 'virtualenv', action: 'create', after: `${interpreter(spec, f)}${site ? ' with system site packages' : ''}` }];
  }
  if (!f.cfg) {
    throw new HostError(`${spec.path} exists and is not a virtualenv (it has no pyvenv.cfg)`, 'converge does not clear a directory it did not make: remove it by hand or choose another path');
  }
  // bin/python links to python3, which a distro upgrade may point at a newer
  // Python than the venv's site-packages were made for: pyvenv.cfg says which.
  const made = /^\d+\.\d+/.exec(f.cfg.version ?? '')?.[0];
  const now = /python(\d+\.\d+)$/.exec(f.python ?? '')?.[1];
  if (f.venvPython === undefined || f.venvPython !== f.python || (made && now && made !== now)) {
    const before = `${f.venvPython ?? 'bin/python does not resolve'}${made ? ` (a Python ${made} venv)` : ''}`;
    return [...out, { path: 'python', action: 'replace', before, after: interpreter(spec, f) }];
  }
  if (siteFlag(f.cfg) !== site) out.push({ path: 'system_site_packages', action: 'update', before: siteFlag(f.cfg), after: site });
  return out;
}

/** As the owner: (re)make the venv with the interpreter found on the owner's PATH, as the facts found it. */
function venvScript(spec: VirtualenvSpec): string {
  const py = spec.python ?? 'python3';
  return [
    'cd /',
    `py=$(command -v ${shq(py)}) || { echo ${shq(`${py} not found for ${owner(spec)} (Debian/Ubuntu: install python3-venv)`)} >&2; exit 3; }`,
    `exec "$py" -m venv --clear${spec.system_site_packages ? ' --system-site-packages' : ''} ${shq(spec.path)}`,
  ].join('\n');
}

/** As the owner: set include-system-site-packages in pyvenv.cfg (sed -i writes a temp file and renames it). */
function siteFlagScript(spec: VirtualenvSpec): string {
  const cfg = shq(`${spec.path}/pyvenv.cfg`);
  const line = `include-system-site-packages = ${!!spec.system_site_packages}`;
  return [
    'set -e',
    `if grep -q '^include-system-site-packages *=' ${cfg}; then sed -i 's/^include-system-site-packages *=.*/${line}/' ${cfg}`,
    `else echo '${line}' >> ${cfg}; fi`,
  ].join('\n');
}

export const virtualenv: ResourceType<VirtualenvSpec, { venv: VenvFacts }> = {
  kind: 'virtualenv',
  id: (spec) => `virtualenv:${spec.path.replace(/\/+$/, '')}`,
  // Its directory and owner, and python3-venv when managed (Debian's venv needs it).
  implicitAfter: (spec) => [...pathImplicitAfter(spec.path, { owner: spec.user }), 'package:python3-venv'],

  facts: (spec) => ({
    venv: { key: `virtualenv:${spec.path}:${spec.python ?? 'python3'}`, runAs: spec.user, script: venvFactScript(spec), parse: parseVenvFacts },
  }),

  plan: (spec, facts) => planVenv(spec, facts.venv),

  async apply(spec, changes, _facts, ctx) {
    const has = (path: string) => changes.some((c) => c.path === path);
    if (spec.ensure === 'absent') {
      await ctx.run({ script: `rm -rf ${shq(spec.path)}` }, `removing ${spec.path}`);
      return;
    }
    if (has('owner')) await ctx.run({ script: `chown -R ${shq(owner(spec))}: ${shq(spec.path)}` }, `handing ${spec.path} to ${owner(spec)}`);
    if (has('virtualenv')) await ctx.run({ script: handOverDirScript(spec.path, owner(spec)) }, `creating ${spec.path} for ${owner(spec)}`);
    if (has('virtualenv') || has('python')) {
      await ctx.run({ script: venvScript(spec), runAs: spec.user }, `making the venv ${spec.path} as ${owner(spec)}`);
    } else if (has('system_site_packages')) {
      await ctx.run({ script: siteFlagScript(spec), runAs: spec.user }, `setting include-system-site-packages in ${spec.path}/pyvenv.cfg`);
    }
  },
};
