// known_hosts verification for ssh2: unknown or changed host keys fail
// closed; --accept-new-host-keys records unknown ones (never changed ones).

import { createHash, createHmac } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface KnownKey {
  type: string;
  /** base64 of the key blob, as in known_hosts */
  blob: string;
}

export function hostPattern(address: string, port: number): string {
  return port === 22 ? address : `[${address}]:${port}`;
}

function patternMatches(pattern: string, host: string): boolean {
  if (pattern.startsWith('|1|')) {
    const [, , salt, hash] = pattern.split('|');
    const mac = createHmac('sha1', Buffer.from(salt, 'base64')).update(host).digest('base64');
    return mac === hash;
  }
  return pattern.split(',').includes(host);
}

export function knownKeysFor(file: string, address: string, port: number): KnownKey[] {
  if (!existsSync(file)) return [];
  const host = hostPattern(address, port);
  const keys: KnownKey[] = [];
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith('@')) continue;
    const [patterns, type, blob] = line.split(/\s+/);
    if (patterns && type && blob && patternMatches(patterns, host)) keys.push({ type, blob });
  }
  return keys;
}

export function fingerprint(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

/** The key type is the first string inside the blob (uint32 length + name). */
export function keyType(blob: Buffer): string {
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString('ascii');
}

export function recordKey(file: string, address: string, port: number, blob: Buffer): void {
  mkdirSync(dirname(file), { recursive: true });
  appendFileSync(file, `${hostPattern(address, port)} ${keyType(blob)} ${blob.toString('base64')}\n`, { mode: 0o600 });
}

export type HostKeyVerdict =
  | { ok: true; recorded?: boolean }
  | { ok: false; reason: 'unknown' | 'changed'; fingerprint: string; type: string };

export function verifyHostKey(file: string, address: string, port: number, blob: Buffer, acceptNew: boolean): HostKeyVerdict {
  const known = knownKeysFor(file, address, port);
  const b64 = blob.toString('base64');
  const type = keyType(blob);
  if (known.some((k) => k.blob === b64)) return { ok: true };
  if (known.length > 0) return { ok: false, reason: 'changed', fingerprint: fingerprint(blob), type };
  if (acceptNew) {
    recordKey(file, address, port, blob);
    return { ok: true, recorded: true };
  }
  return { ok: false, reason: 'unknown', fingerprint: fingerprint(blob), type };
}

/** Host key algorithms to offer, with the types already known first (as OpenSSH does). */
export function preferredHostKeyAlgorithms(file: string, address: string, port: number): string[] | undefined {
  const known = [...new Set(knownKeysFor(file, address, port).map((k) => k.type))];
  if (known.length === 0) return undefined;
  const defaults = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
  const expanded = known.flatMap((t) => (t === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [t]));
  return [...expanded, ...defaults.filter((d) => !expanded.includes(d))];
}
