// git_checkout: facts captured from a Debian 12 container
// (test/fixtures/git_checkout/, see its README), plans from them, and the
// git commands apply sends.

import { describe, expect, it } from 'vitest';
import type { GitCheckoutSpec } from '../generated/index.js';
import { recorder } from '../../test/unit/apply-recorder.js';
import { factFixture, readFixture, type CapturedQuery } from '../../test/support/fixtures.js';
import { planCtx } from '../../test/unit/fixtures.js';
import { checkoutFactScript, gitCheckout, parseCheckoutFacts, planCheckout, targetOf, type CheckoutFacts } from './git-checkout.js';

/** A fixture: its spec, the user its query ran as, the captured query. */
const fx = (name: string) => readFixture<CapturedQuery & { spec: GitCheckoutSpec; user: string }>('git_checkout', name);
/** The fixture parsed by the query the code sends for its spec now (refused when stale). */
const facts = (name: string) => factFixture(gitCheckout.facts(fx(name).spec, planCtx()).checkout, 'git_checkout', name);
const plan = (name: string, over: Partial<GitCheckoutSpec> = {}) => planCheckout({ ...fx(name).spec, ...over }, facts(name));
const NAMES = ['absent', 'clean', 'annotated-tag', 'light-tag', 'no-such-rev', 'unreachable', 'not-a-checkout', 'empty-dir', 'other-owner', 'behind', 'behind-dirty', 'detached-other-remote', 'git-not-installed'];

const TWO = '7dc751810a2aa8c8327eac658038144706ff0e13';
const ONE = '50c4fe76adea2bf2e681e03090872221a969771c';
const THREE = 'e6f31bccc9f611f56fb8c8d41a1100a312334bf4';

describe('git_checkout facts (captured)', () => {
  it('were captured with the script the resource sends, as the owner', () => {
    for (const n of NAMES) {
      expect(checkoutFactScript(fx(n).spec), n).toBe(fx(n).command);
      expect(gitCheckout.facts(fx(n).spec, planCtx()).checkout.runAs ?? 'root', n).toBe(fx(n).user);
    }
  });

  it('never fetches: ls-remote asks the remote, and status runs without optional locks', () => {
    const script = checkoutFactScript(fx('clean').spec);
    expect(script).not.toMatch(/git (-C \S+ )?(fetch|pull|clone)/);
    expect(script).toContain('GIT_OPTIONAL_LOCKS=0');
    expect(script).toContain("git ls-remote /srv/repo.git refs/heads/main refs/tags/main 'refs/tags/main^{}'");
    expect(script.split('\n')[0]).toBe('exec </dev/null');
  });

  it('reads a checkout: HEAD, branch, origin, local changes and the remote refs', () => {
    expect(facts('clean')).toEqual({
      type: 'directory',
      owner: 'myproj',
      group: 'myproj',
      mode: 0o755,
      size: 4096,
      repo: 'ok',
      head: TWO,
      branch: 'main',
      remote: '/srv/repo.git',
      localChanges: [],
      lsRemoteExit: 0,
      lsRemote: `${TWO}\trefs/heads/main`,
    } satisfies CheckoutFacts);
    expect(facts('behind-dirty').localChanges).toEqual([' M app.py']);
    expect(facts('detached-other-remote')).toMatchObject({ head: ONE, branch: '', remote: '/srv/other.git' });
    expect(facts('other-owner')).toMatchObject({ owner: 'root', repo: 'unreadable', head: '' });
    expect(facts('empty-dir')).toMatchObject({ empty: true });
    expect(facts('not-a-checkout').repo).toBeUndefined();
    expect(facts('absent')).toMatchObject({ type: 'absent', localChanges: [] });
  });
});

describe('targetOf', () => {
  it('resolves a branch, an annotated tag (peeled) and a lightweight tag; a commit id is its own target', () => {
    expect(targetOf(fx('clean').spec, facts('clean'))).toEqual({ commit: TWO, kind: 'branch' });
    expect(targetOf(fx('annotated-tag').spec, facts('annotated-tag'))).toEqual({ commit: ONE, kind: 'tag' });
    expect(targetOf(fx('light-tag').spec, facts('light-tag'))).toEqual({ commit: ONE, kind: 'tag' });
    expect(targetOf({ ...fx('clean').spec, rev: ONE.toUpperCase() }, facts('clean'))).toEqual({ commit: ONE, kind: 'commit' });
  });

  it('prefers a branch to a tag of the same name', () => {
    const f: CheckoutFacts = { ...facts('clean'), lsRemote: `${ONE}\trefs/tags/main\n${TWO}\trefs/heads/main` };
    expect(targetOf(fx('clean').spec, f)).toEqual({ commit: TWO, kind: 'branch' });
  });

  it('fails clearly on an unknown rev and an unreachable remote', () => {
    expect(() => targetOf(fx('no-such-rev').spec, facts('no-such-rev'))).toThrow('/srv/repo.git has no branch or tag nope');
    expect(() => targetOf(fx('unreachable').spec, facts('unreachable'))).toThrow(
      "cannot read main from /srv/nothere.git (git ls-remote as myproj): fatal: '/srv/nothere.git' does not appear to be a git repository",
    );
    expect(() => targetOf(fx('git-not-installed').spec, facts('git-not-installed'))).toThrow(/failed to run command 'git'/);
  });
});

describe('planCheckout', () => {
  it('is empty for a checkout at the commit its branch points to', () => {
    expect(plan('clean')).toEqual([]);
  });

  it('clones into a missing or empty directory, naming the commit', () => {
    expect(plan('absent')).toEqual([{ path: 'checkout', action: 'create', after: `/srv/repo.git main (${TWO})` }]);
    expect(plan('empty-dir')).toEqual([{ path: 'checkout', action: 'create', after: `/srv/repo.git main (${TWO})` }]);
    // git comes from a package installed earlier in the same run.
    expect(plan('git-not-installed')).toEqual([{ path: 'checkout', action: 'create', after: '/srv/repo.git main (git is not installed yet)' }]);
  });

  it('moves to the commit the remote branch now points to', () => {
    expect(plan('behind')).toEqual([{ path: 'commit', action: 'update', before: TWO, after: THREE }]);
  });

  it('moves to a tag, detached, and back to a branch', () => {
    expect(plan('annotated-tag')).toEqual([{ path: 'commit', action: 'update', before: TWO, after: ONE }]);
    expect(plan('light-tag')).toEqual([{ path: 'commit', action: 'update', before: TWO, after: ONE }]);
    // At v1 already, but origin points elsewhere.
    expect(plan('detached-other-remote')).toEqual([{ path: 'remote', action: 'update', before: '/srv/other.git', after: '/srv/repo.git' }]);
    const f = facts('detached-other-remote');
    expect(planCheckout({ ...fx('clean').spec }, { ...f, remote: '/srv/repo.git', lsRemote: `${THREE}\trefs/heads/main` })).toEqual([
      { path: 'commit', action: 'update', before: ONE, after: THREE },
      { path: 'branch', action: 'update', before: '(detached)', after: 'main' },
    ]);
  });

  it('refuses to move a checkout with local changes, unless force discards them', () => {
    expect(() => plan('behind-dirty')).toThrow('/srv/myproj/app has local changes (M app.py), so it is not moved to main');
    expect(plan('behind-dirty', { force: true })).toEqual([
      { path: 'commit', action: 'update', before: TWO, after: THREE },
      { path: 'local_changes', action: 'delete', before: 'M app.py' },
    ]);
    // Not moving: local changes stay, unless force makes them drift.
    const atTarget: CheckoutFacts = { ...facts('behind-dirty'), lsRemote: `${TWO}\trefs/heads/main` };
    expect(planCheckout(fx('behind-dirty').spec, atTarget)).toEqual([]);
    expect(planCheckout({ ...fx('behind-dirty').spec, force: true }, atTarget)).toEqual([{ path: 'local_changes', action: 'delete', before: 'M app.py' }]);
  });

  it('refuses a directory that is not a checkout, and another user\'s repository', () => {
    expect(() => plan('not-a-checkout')).toThrow('/srv/myproj/venv exists and is not a git checkout');
    expect(() => plan('other-owner')).toThrow('/srv/rootrepo is owned by root, and git as myproj cannot read it');
    expect(() => planCheckout({ ...fx('clean').spec, user: 'www-data' }, facts('clean'))).toThrow(/owned by myproj, and git as www-data would run in another user's repository/);
  });
});

describe('git_checkout apply', () => {
  const commands = async (name: string, over: Partial<GitCheckoutSpec> = {}) => {
    const spec = { ...fx(name).spec, ...over };
    const f = facts(name);
    const { ctx, commands: sent } = recorder();
    await gitCheckout.apply(spec, planCheckout(spec, f), { checkout: f }, ctx);
    return sent;
  };

  it('clones: root hands the directory over, the owner inits, fetches and checks out the planned commit on its branch', async () => {
    const [prepare, git] = await commands('absent');
    expect(prepare.runAs).toBeUndefined();
    expect(prepare.script).toContain('mkdir -p /srv/myproj/app2\nchown -h myproj: /srv/myproj/app2');
    expect(git.runAs).toBe('myproj');
    expect(git.script).toContain('[ -e "$p/.git" ] || git init -q "$p"');
    expect(git.script).toContain('git remote set-url origin /srv/repo.git 2>/dev/null || git remote add origin /srv/repo.git');
    expect(git.script).toContain(`have() { git cat-file -e ${TWO}^{commit} 2>/dev/null; }\nhave || git fetch -q --prune --tags --force origin`);
    expect(git.script).toContain(`git checkout -q -B main ${TWO}\ngit branch -q --set-upstream-to=origin/main main`);
  });

  it('moves an existing checkout as the owner only, detached for a tag, with -f under force', async () => {
    const moved = await commands('behind');
    expect(moved.map((c) => c.runAs)).toEqual(['myproj']);
    expect(moved[0].script).toContain(`git checkout -q -B main ${THREE}`);
    const [tag] = await commands('annotated-tag');
    expect(tag.script).toContain(`git checkout -q --detach ${ONE}`);
    const [forced] = await commands('behind-dirty', { force: true });
    expect(forced.script).toContain(`git checkout -q -f -B main ${THREE}`);
  });

  it('comes after its directory, its owner and git', () => {
    expect(gitCheckout.id!(fx('clean').spec)).toBe('git_checkout:/srv/myproj/app');
    expect(gitCheckout.implicitAfter!(fx('clean').spec)).toEqual(['directory:/srv/myproj', 'directory:/srv', 'user:myproj', 'package:git']);
  });
});
