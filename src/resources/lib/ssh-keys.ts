// authorized_keys as the user resource manages it: a key is its type and
// base64 blob; options and comments never make two keys different. Reports
// name keys by fingerprint and comment, never by the whole key.

import { createHash } from 'node:crypto';
import { HostError } from '../../core/diagnostics.js';

export interface PublicKey {
  type: string;
  /** The base64 key blob. */
  blob: string;
  comment: string;
  /** The whole line as written (options, key, comment). */
  line: string;
}

/** Words of a line; a double-quoted part (command="a b") stays inside its word. */
const WORD = /(?:[^\s"]+|"(?:[^"\\]|\\.)*")+/g;

/** The key type a base64 blob names in its own first field (the SSH wire format), if it is one. */
function blobType(b64: string): string | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return undefined;
  const buf = Buffer.from(b64, 'base64');
  if (buf.length < 4) return undefined;
  const len = buf.readUInt32BE(0);
  return len > 0 && len <= 64 && 4 + len <= buf.length ? buf.subarray(4, 4 + len).toString('latin1') : undefined;
}

/**
 * `[options] type blob [comment]`: the key is the first pair of words where
 * the blob says it is of that type, so options need no parsing and no list
 * of key types goes stale. Undefined for blank, comment and other lines.
 */
export function parseKeyLine(line: string): PublicKey | undefined {
  const text = line.trim();
  if (!text || text.startsWith('#')) return undefined;
  const words = [...text.matchAll(WORD)];
  for (let i = 0; i + 1 < words.length; i++) {
    const [type, blob] = [words[i][0], words[i + 1][0]];
    if (blobType(blob) === type) return { type, blob, comment: text.slice(words[i + 1].index! + blob.length).trim(), line: text };
  }
  return undefined;
}

const identity = (k: PublicKey) => `${k.type} ${k.blob}`;

/** `SHA256:... comment`, as `ssh-keygen -lf` names a key. */
export function keyLabel(k: PublicKey): string {
  const fp = createHash('sha256').update(Buffer.from(k.blob, 'base64')).digest('base64').replace(/=+$/, '');
  return k.comment ? `SHA256:${fp} ${k.comment}` : `SHA256:${fp}`;
}

/** The spec's keys, each of which must be a public key line. */
export function parseWantedKeys(lines: string[]): PublicKey[] {
  return lines.map((line, i) => {
    const k = parseKeyLine(line);
    if (!k) {
      throw new HostError(
        `ssh_keys[${i}] is not a public key: "${line.length > 40 ? `${line.slice(0, 40)}...` : line}"`,
        'give the whole line of the .pub file: key type, base64 key and an optional comment',
      );
    }
    return k;
  });
}

export interface KeysReconciled {
  add: PublicKey[];
  /** Labels of what goes away (exclusive only): keys, and lines that are not keys. */
  remove: string[];
  /** The new file: kept lines in their order (with their options), then the added keys. */
  content: string;
}

/**
 * What makes `current` (the file's text) hold every wanted key, and with
 * `exclusive` nothing else that could grant a login: unknown non-comment
 * lines go too, since they may be keys of a type this parser misreads.
 */
export function reconcileKeys(current: string, wanted: PublicKey[], exclusive: boolean): KeysReconciled {
  const wantedIds = new Set(wanted.map(identity));
  const present = new Set<string>();
  const kept: string[] = [];
  const remove: string[] = [];
  current.split('\n').forEach((line, i) => {
    const k = parseKeyLine(line);
    const keep = !exclusive || (k ? wantedIds.has(identity(k)) : !line.trim() || line.trim().startsWith('#'));
    if (k && keep) present.add(identity(k));
    if (keep) kept.push(line);
    else remove.push(k ? keyLabel(k) : `line ${i + 1} (not a key)`);
  });
  const add = wanted.filter((k, i) => !present.has(identity(k)) && wanted.findIndex((w) => identity(w) === identity(k)) === i);
  while (kept.length && !kept[kept.length - 1].trim()) kept.pop();
  const lines = [...kept, ...add.map((k) => k.line)];
  return { add, remove, content: lines.length ? `${lines.join('\n')}\n` : '' };
}
