// line: one line, or one `key = value` setting, in a file converge does not
// own (sshd_config, /etc/default/...). The edit is a pure function of the
// file's text, so plan shows it as a diff; apply reads the file again (other
// lines of the same run may have edited it since the facts were read), edits
// that text and writes it back with atomicWriteScript, which keeps the
// file's owner and mode.

import { errorMessage, HostError, InputError } from '../core/diagnostics.js';
import type { Change, ResourceType } from '../core/resource.js';
import { shq } from '../core/shell.js';
import type { LineSpec } from '../generated/index.js';
import { atomicWriteScript, keptMetadata } from './lib/atomic-write.js';
import { fileFactScript, fileFactScriptOf, isText, MAX_FETCH_BYTES, parseFileFacts, sha256, textDiff, type FileFacts } from './file.js';
import { pathImplicitAfter } from './lib/fs-common.js';

const DEFAULT_SEPARATOR = ' = ';
export const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The line the spec wants; undefined when it only names lines to remove. */
export function wantedLine(spec: LineSpec): string | undefined {
  if (spec.line !== undefined) return spec.line;
  if (spec.key !== undefined && spec.value !== undefined) return `${spec.key}${spec.separator ?? DEFAULT_SEPARATOR}${spec.value}`;
  return undefined;
}

/** Which existing lines the spec is about: the wanted line itself, its key's setting, or `match`. */
function matcher(spec: LineSpec): (line: string) => boolean {
  const want = wantedLine(spec);
  if (spec.match !== undefined) {
    const re = new RegExp(spec.match);
    return (l) => l === want || re.test(l);
  }
  if (spec.key !== undefined) {
    // "key", then the separator (spaces around it allowed) or, for a blank separator, whitespace.
    const sep = (spec.separator ?? DEFAULT_SEPARATOR).trim();
    const re = new RegExp(`^\\s*${escapeRegExp(spec.key)}${sep ? `\\s*${escapeRegExp(sep)}` : '(\\s|$)'}`);
    return (l) => re.test(l);
  }
  return (l) => l === want;
}

export interface LineEdit {
  text: string;
  /** The line replaced in place (present), or the lines removed (absent). */
  replaced: string[];
}

/**
 * Pure: present replaces the LAST matching line (as Ansible's lineinfile
 * does), or appends; absent removes every matching line. Last, not first:
 * a config file lists commented examples before the live setting
 * (redis.conf's `# bind 192.168.1.100` lines before `bind 127.0.0.1`), so a
 * pattern that also takes over a commented default (`^#?\s*bind\s`) edits
 * the line in force. Other matching lines are left as they are.
 */
export function editLines(text: string, spec: LineSpec): LineEdit {
  const newline = text.endsWith('\n');
  const lines = text === '' ? [] : (newline ? text.slice(0, -1) : text).split('\n');
  const matches = matcher(spec);
  const join = (ls: string[], nl: boolean) => ls.join('\n') + (nl && ls.length ? '\n' : '');
  if (spec.ensure === 'absent') return { text: join(lines.filter((l) => !matches(l)), newline), replaced: lines.filter(matches) };
  const want = wantedLine(spec)!;
  let i = lines.length - 1;
  while (i >= 0 && !matches(lines[i])) i--;
  if (i < 0) return { text: join([...lines, want], true), replaced: [] };
  const replaced = [lines[i]];
  lines[i] = want;
  return { text: join(lines, newline), replaced };
}

/** The file's current text, or why this resource cannot edit it. */
function currentText(spec: LineSpec, f: FileFacts): string | undefined {
  if (f.type === 'absent') {
    if (spec.ensure === 'absent') return undefined;
    if (!spec.create) throw new HostError(`${spec.path} does not exist`, 'set create: true to create it, or require the resource that installs it');
    return '';
  }
  if (f.type !== 'file') throw new HostError(`${spec.path} is a ${f.type}, not a file`, 'line edits regular files only');
  if (f.content === undefined) throw new HostError(`${spec.path} is larger than ${MAX_FETCH_BYTES / 1024} KiB`, 'line edits small configuration files; manage a big file whole with file');
  if (!isText(f.content)) throw new HostError(`${spec.path} is not a UTF-8 text file`, 'line edits text files only');
  return f.content.toString();
}

/** The file a symlink at path points to, as one sh word (the path itself when it is no link). */
const followed = (path: string) => `"$(readlink -f -- ${shq(path)})"`;

/** Stat, hash and content of the file (with follow, of the file a symlink there points to). */
const readScript = (spec: LineSpec) => (spec.follow ? `f=${followed(spec.path)}\n${fileFactScriptOf('"$f"')}` : fileFactScript(spec.path, undefined, true));

export const line: ResourceType<LineSpec, { file: FileFacts }> = {
  kind: 'line',
  id: (spec) => `line:${spec.path}:${spec.key ?? spec.match ?? spec.line}`,
  implicitAfter: (spec) => pathImplicitAfter(spec.path, {}),

  resolve(spec, ctx) {
    const fail = (message: string, hint: string) => {
      throw new InputError({ message, where: ctx.where, hint });
    };
    if (spec.ensure !== 'absent' && wantedLine(spec) === undefined) fail('line needs `line`, or `key` and `value`', 'e.g. { path: /etc/ssh/sshd_config, key: PermitRootLogin, value: "no", separator: " " }');
    if (spec.ensure === 'absent' && spec.line === undefined && spec.key === undefined && spec.match === undefined) fail('line with ensure: absent needs `line`, `key` or `match` to know which lines to remove', 'e.g. { path: /etc/environment, key: http_proxy, ensure: absent }');
    if (spec.match !== undefined) {
      try {
        new RegExp(spec.match);
      } catch (e) {
        fail(`match is not a valid regular expression: ${errorMessage(e)}`, 'JavaScript syntax, e.g. "^#?\\s*PermitRootLogin\\s"');
      }
    }
    return spec;
  },

  // One download per file, whatever the number of lines managed in it.
  facts: (spec) => ({ file: { key: `file:${spec.path}:content${spec.follow ? ':follow' : ''}`, script: readScript(spec), parse: parseFileFacts } }),

  plan(spec, facts, ctx) {
    const f = facts.file;
    const old = currentText(spec, f);
    if (old === undefined) return [];
    const edit = editLines(old, spec);
    if (edit.text === old) return [];
    const change: Change =
      spec.ensure === 'absent'
        ? { path: 'line', action: 'delete', before: edit.replaced.length === 1 ? edit.replaced[0] : edit.replaced }
        : { path: 'line', action: edit.replaced.length ? 'update' : 'create', before: edit.replaced[0], after: wantedLine(spec) };
    if (ctx.sensitive) return [{ ...change, sensitive: true }];
    const diff = textDiff(spec.path, Buffer.from(old), Buffer.from(edit.text), f.type === 'absent');
    return [diff ? { ...change, diff } : change];
  },

  async apply(spec, _changes, _facts, ctx) {
    const p = shq(spec.path);
    const read = await ctx.run({ script: readScript(spec) }, `reading ${spec.path}`);
    const f = parseFileFacts(read.stdout);
    const old = currentText(spec, f);
    // Gone since the plan: no line left to remove.
    if (old === undefined) return;
    const text = editLines(old, spec).text;
    // Refuse to overwrite an edit someone made since that read.
    const changed = `{ echo ${shq(`${spec.path} changed while converge was editing it; run again`)} >&2; exit 4; }`;
    const guard = f.sha256 ? `[ "$(sha256sum < ${p} | cut -d' ' -f1)" = ${f.sha256} ] || ${changed}` : `[ ! -e ${p} ] || ${changed}`;
    // Reading through a symlink (the guard) follows it anyway; the write goes to where it points.
    await ctx.run({ script: `${guard}\n${atomicWriteScript({ path: spec.follow ? followed(spec.path) : p, metadata: keptMetadata(), sha256: sha256(text) })}`, stdin: text }, `editing ${spec.path}`);
  },
};
