// SCRAM-SHA-256 password verifiers as PostgreSQL stores them in
// pg_authid.rolpassword (RFC 5802/7677):
//   SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>
// Computed on the controller so a password never reaches a host in clear:
// apply sends a verifier made with a fresh random salt, and plan recomputes
// the verifier with the salt and iteration count the host already stores, so
// "is the password right?" has an exact answer without ever changing it.
//
// PostgreSQL runs the password through SASLprep (RFC 4013) first. An ASCII
// password is left as it is (PostgreSQL's own fast path), so the verifier
// below is exact for it. A non-ASCII one would be NFKC-normalized and
// checked against the Unicode 3.2 tables of RFC 3454, which converge does not
// carry: such passwords are refused rather than stored under a verifier the
// server's login would not reproduce.

import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { HostError } from '../../core/diagnostics.js';

/** PostgreSQL's defaults (scram_iterations before 16, SCRAM_DEFAULT_SALT_LEN). */
export const SCRAM_ITERATIONS = 4096;
const SALT_BYTES = 16;

/** What the host stores for a role's password, as the pg_role fact reads it (never the verifier itself). */
export type StoredPassword =
  | { scheme: 'scram-sha-256'; iterations: number; salt: string; sha256: string }
  | { scheme: 'md5' | 'other' };

export function scramVerifier(password: string, saltB64: string, iterations: number): string {
  const salted = pbkdf2Sync(Buffer.from(password, 'utf8'), Buffer.from(saltB64, 'base64'), iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${saltB64}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** A verifier with a fresh random salt: what apply sends. */
export function newScramVerifier(password: string): string {
  return scramVerifier(password, randomBytes(SALT_BYTES).toString('base64'), SCRAM_ITERATIONS);
}

/** Throws (without quoting the password) unless PostgreSQL's SASLprep leaves it unchanged. */
export function assertAsciiPassword(password: string, role: string): void {
  // NUL cannot be stored at all; every other ASCII byte skips SASLprep.
  if (!/^[\x01-\x7f]+$/.test(password)) {
    throw new HostError(
      `the password of role ${role} contains non-ASCII characters (or NUL)`,
      'use an ASCII password: PostgreSQL SASLprep-normalizes non-ASCII passwords with Unicode tables converge does not reproduce, so converge could not compute the verifier the server checks logins against',
    );
  }
}

/** True when `password` is the one behind the stored verifier (compared by hash: the fact never carries the verifier). */
export function passwordMatches(password: string, stored: StoredPassword): boolean {
  if (stored.scheme !== 'scram-sha-256') return false;
  const mine = scramVerifier(password, stored.salt, stored.iterations);
  return createHash('sha256').update(mine, 'utf8').digest('hex') === stored.sha256;
}
