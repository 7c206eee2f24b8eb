// git_checkout: a work tree at the commit a branch or tag of a remote points
// to, owned by a user who runs every git command.
//
// Facts must not fetch (a fetch writes the repository), so the commit a
// branch or tag points to comes from `git ls-remote REMOTE`, which asks the
// remote and writes nothing; the work tree is read with `git status` under
// GIT_OPTIONAL_LOCKS=0, which keeps git from refreshing (rewriting) the index.
// Apply then fetches only when that commit is not in the repository yet and
// checks out exactly that commit, so it does what the plan showed even when
// the branch moved again in between.

import { HostError } from '../core/diagnostics.js';
import type { Change, ResourceType } from '../core/resource.js';
import { shq } from '../core/shell.js';
import type { GitCheckoutSpec } from '../generated/index.js';
import { dirStatScript, handOverDirScript, keyValues, parseDirStat, pathImplicitAfter, type DirStat } from './lib/fs-common.js';

export interface CheckoutFacts extends DirStat {
  /** There is a .git, and git could read it ('unreadable': e.g. another user's repository). */
  repo?: 'ok' | 'unreadable';
  /** Full id of the commit HEAD is at ('' in a repository with no commit). */
  head?: string;
  /** The branch HEAD is on ('' when detached). */
  branch?: string;
  /** origin's URL. */
  remote?: string;
  /** `git status --porcelain` lines for tracked files. */
  localChanges: string[];
  /** ls-remote's exit status and its output (refs, or the error), when rev is not a commit id. */
  lsRemoteExit?: number;
  lsRemote: string;
}

export interface Target {
  commit: string;
  kind: 'branch' | 'tag' | 'commit';
}

const owner = (spec: GitCheckoutSpec) => spec.user ?? 'root';
const isCommitId = (rev: string) => /^[0-9a-f]{40}$/i.test(rev);
/** The shell's exit status for a command it cannot find. */
const GIT_NOT_FOUND = 127;
/** git never prompts for credentials (there is no one to answer). */
const GIT_ENV = 'export GIT_TERMINAL_PROMPT=0';
const STATUS_MARK = '[status]';
const REFS_MARK = '[ls-remote]';

/** Read-only, as the owner: the path, the repository's HEAD, branch, origin and local changes, then what the remote's rev points to. */
export function checkoutFactScript(spec: GitCheckoutSpec): string {
  const p = shq(spec.path);
  const g = `git -C ${p}`;
  const lines = [
    'exec </dev/null',
    'cd /',
    `${GIT_ENV} GIT_OPTIONAL_LOCKS=0`,
    dirStatScript(spec.path),
    `if [ -d ${p} ] && [ -e ${p}/.git ]; then`,
    `  if ${g} rev-parse --git-dir >/dev/null; then echo repo=ok; else echo repo=unreadable; fi`,
    `  echo "head=$(${g} rev-parse -q --verify 'HEAD^{commit}')"`,
    `  echo "branch=$(${g} symbolic-ref -q --short HEAD)"`,
    `  echo "remote=$(${g} config --get remote.origin.url)"`,
    `  status=$(${g} status --porcelain --untracked-files=no)`,
    'fi',
  ];
  if (!isCommitId(spec.rev)) {
    // A branch, a tag, and what an annotated tag points to; ^{} is git's, not the shell's.
    const refs = [`refs/heads/${spec.rev}`, `refs/tags/${spec.rev}`, `refs/tags/${spec.rev}^{}`].map(shq).join(' ');
    lines.push(`refs=$(timeout 120 git ls-remote ${shq(spec.remote)} ${refs} 2>&1); echo "ls_remote_exit=$?"`);
  }
  lines.push(`echo ${shq(STATUS_MARK)}`, 'printf "%s\\n" "$status"', `echo ${shq(REFS_MARK)}`, 'printf "%s\\n" "$refs"');
  return lines.join('\n');
}

export function parseCheckoutFacts(text: string): CheckoutFacts {
  const s = text.indexOf(`${STATUS_MARK}\n`);
  const r = text.indexOf(`\n${REFS_MARK}\n`, s);
  const head = s < 0 ? text : text.slice(0, s);
  const kv = keyValues(head);
  const facts: CheckoutFacts = {
    ...parseDirStat(head),
    localChanges: s < 0 || r < 0 ? [] : text.slice(s + STATUS_MARK.length + 1, r).split('\n').filter((l) => l.trim()),
    lsRemote: r < 0 ? '' : text.slice(r + REFS_MARK.length + 2).trim(),
  };
  const repo = kv.get('repo');
  if (repo === 'ok' || repo === 'unreadable') facts.repo = repo;
  for (const k of ['head', 'branch', 'remote'] as const) if (kv.has(k)) facts[k] = kv.get(k);
  if (kv.has('ls_remote_exit')) facts.lsRemoteExit = Number(kv.get('ls_remote_exit'));
  return facts;
}

/** The commit rev names on the remote: a branch wins over a tag of the same name (as git checkout has it), an annotated tag is peeled. */
export function targetOf(spec: GitCheckoutSpec, f: CheckoutFacts): Target {
  if (isCommitId(spec.rev)) return { commit: spec.rev.toLowerCase(), kind: 'commit' };
  if (f.lsRemoteExit !== 0) {
    // git's first line says what went wrong; the rest is advice.
    const why = f.lsRemote.split('\n').find(Boolean) ?? `exit ${f.lsRemoteExit}`;
    throw new HostError(`cannot read ${spec.rev} from ${spec.remote} (git ls-remote as ${owner(spec)}): ${why}`, `the host must reach the remote as ${owner(spec)} (network, deploy key, and git installed)`);
  }
  const refs = new Map<string, string>();
  for (const line of f.lsRemote.split('\n')) {
    const m = /^([0-9a-f]{40})\t(\S+)$/.exec(line);
    if (m) refs.set(m[2], m[1]);
  }
  const branch = refs.get(`refs/heads/${spec.rev}`);
  if (branch) return { commit: branch, kind: 'branch' };
  const tag = refs.get(`refs/tags/${spec.rev}^{}`) ?? refs.get(`refs/tags/${spec.rev}`);
  if (tag) return { commit: tag, kind: 'tag' };
  throw new HostError(`${spec.remote} has no branch or tag ${spec.rev}`, 'check rev (a commit must be given as its full 40-hex id)');
}

export function planCheckout(spec: GitCheckoutSpec, f: CheckoutFacts): Change[] {
  if (f.type !== 'absent' && f.type !== 'directory') throw new HostError(`${spec.path} is a ${f.type}, not a directory`, 'remove it by hand or choose another path');
  if (f.type === 'absent' || (f.empty && !f.repo)) {
    // On a fresh host git may come from a package this run installs first: the commit is known then.
    const commit = f.lsRemoteExit === GIT_NOT_FOUND ? 'git is not installed yet' : targetOf(spec, f).commit;
    return [{ path: 'checkout', action: 'create', after: `${spec.remote} ${spec.rev} (${commit})` }];
  }
  if (!f.repo) throw new HostError(`${spec.path} exists and is not a git checkout`, 'converge only clones into a missing or empty directory: remove it by hand or choose another path');
  if (f.owner !== owner(spec) || f.repo === 'unreadable') {
    throw new HostError(`${spec.path} is owned by ${f.owner}, and git as ${owner(spec)} ${f.repo === 'ok' ? 'would run in another user\'s repository' : 'cannot read it'}`, `chown -R ${owner(spec)}: ${spec.path} by hand, or set user to its owner`);
  }
  const target = targetOf(spec, f);
  const out: Change[] = [];
  if (f.remote !== spec.remote) out.push({ path: 'remote', action: 'update', before: f.remote || undefined, after: spec.remote });
  if (f.head !== target.commit) out.push({ path: 'commit', action: 'update', before: f.head || undefined, after: target.commit });
  if (target.kind === 'branch' && f.branch !== spec.rev) out.push({ path: 'branch', action: 'update', before: f.branch || '(detached)', after: spec.rev });
  if (f.localChanges.length) {
    const changed = f.localChanges.map((l) => l.trim()).join(', ');
    if (spec.force) out.push({ path: 'local_changes', action: 'delete', before: changed });
    else if (out.some((c) => c.path !== 'remote')) {
      throw new HostError(`${spec.path} has local changes (${changed}), so it is not moved to ${spec.rev}`, 'commit or discard them on the host, or set force: true to discard them');
    }
  }
  return out;
}

/** As the owner: make the repository if need be, point origin at the remote, fetch only a missing commit, check it out. */
function checkoutScript(spec: GitCheckoutSpec, target: Target): string {
  const t = target.commit;
  const force = spec.force ? ' -f' : '';
  const checkout =
    target.kind === 'branch'
      ? // The local branch follows origin's (for people running git status); without a fetched origin ref there is nothing to follow.
        [`git checkout -q${force} -B ${shq(spec.rev)} ${t}`, `git branch -q --set-upstream-to=${shq(`origin/${spec.rev}`)} ${shq(spec.rev)} 2>/dev/null || true`]
      : [`git checkout -q${force} --detach ${t}`];
  return [
    'set -e',
    'cd /',
    GIT_ENV,
    `p=${shq(spec.path)}`,
    `[ -e "$p/.git" ] || git init -q "$p"`,
    'cd "$p"',
    `git remote set-url origin ${shq(spec.remote)} 2>/dev/null || git remote add origin ${shq(spec.remote)}`,
    `have() { git cat-file -e ${t}^{commit} 2>/dev/null; }`,
    'have || git fetch -q --prune --tags --force origin',
    // A commit no branch or tag reaches: ask for it by id (servers may refuse).
    `have || git fetch -q origin ${t} || { echo ${shq(`commit ${t} is not on ${spec.remote}`)} >&2; exit 3; }`,
    ...checkout,
  ].join('\n');
}

export const gitCheckout: ResourceType<GitCheckoutSpec, { checkout: CheckoutFacts }> = {
  kind: 'git_checkout',
  id: (spec) => `git_checkout:${spec.path.replace(/\/+$/, '')}`,
  // Its directory and owner, and git when managed.
  implicitAfter: (spec) => [...pathImplicitAfter(spec.path, { owner: spec.user }), 'package:git'],

  facts: (spec) => ({
    checkout: { key: `git:${spec.path}:${spec.remote}:${spec.rev}`, runAs: spec.user, script: checkoutFactScript(spec), parse: parseCheckoutFacts },
  }),

  plan: (spec, facts) => planCheckout(spec, facts.checkout),

  async apply(spec, changes, facts, ctx) {
    const f = facts.checkout;
    if (changes.some((c) => c.path === 'checkout')) await ctx.run({ script: handOverDirScript(spec.path, owner(spec)) }, `creating ${spec.path} for ${owner(spec)}`);
    await ctx.run({ script: checkoutScript(spec, targetOf(spec, f)), runAs: spec.user }, `checking out ${spec.rev} in ${spec.path} as ${owner(spec)}`);
  },
};
