// apt_repo: a vendor repository as a deb822 /etc/apt/sources.list.d/NAME.sources
// whose Signed-By names its own key, /etc/apt/keyrings/NAME.asc. No apt-key:
// the key is trusted for this repository only. apt reads an ASCII-armored
// key from a Signed-By file since 1.4, so every key is stored armored (a
// binary key from the state tree is armored on the controller).
//
// Index refresh. The issue asks that a repository change makes the next
// package step refresh the apt index once, not once per package. Two ways
// were weighed: a marker file that the package resource compares with the
// lists' age, or a refresh of this repository alone in apt_repo's apply. The
// second is used: `apt-get update` restricted to NAME.sources (every other
// source left out, no list cleanup, no partial cache written) fetches only this
// repository's index, once per changed repository, whatever the number of
// packages from it. The package resource needs no knowledge of repositories,
// and a repository that cannot be fetched (wrong key, wrong suite) fails
// here, naming this repository, instead of as "unable to locate package"
// later. The facts also check that the repository's index was fetched, so a
// run interrupted between writing the file and the refresh is repaired by
// the next one.

import { readFileSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { HostError, InputError } from '../core/diagnostics.js';
import type { ResourceType } from '../core/resource.js';
import { shq } from '../core/shell.js';
import type { AptRepoSpec } from '../generated/index.js';
import type { FileFacts } from './file.js';
import { managedFileChanges, managedFileQuery, managedFileRemovals, removeFiles, writeChangedFiles, type ManagedFile } from './lib/managed-file.js';

const SOURCES_DIR = '/etc/apt/sources.list.d';
const KEYRINGS_DIR = '/etc/apt/keyrings';
const ARMOR_BEGIN = '-----BEGIN PGP PUBLIC KEY BLOCK-----';

export const sourcesPath = (name: string): string => `${SOURCES_DIR}/${name}.sources`;
export const keyPath = (name: string): string => `${KEYRINGS_DIR}/${name}.asc`;

/**
 * apt options that make apt-get see this one sources file and nothing else,
 * without writing the package cache (it would hold this repository alone; the
 * next apt run rebuilds the full cache because the lists changed).
 */
const onlyThisRepo = (name: string): string =>
  `-o Dir::Etc::sourcelist=${shq(sourcesPath(name))} -o Dir::Etc::sourceparts=/nonexistent -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=`;

/** CRC-24 of RFC 4880 section 6.1, the checksum line of an armored block. */
function crc24(data: Buffer): number {
  let crc = 0xb704ce;
  for (const byte of data) {
    crc ^= byte << 16;
    for (let i = 0; i < 8; i++) {
      crc <<= 1;
      if (crc & 0x1000000) crc ^= 0x1864cfb;
    }
  }
  return crc & 0xffffff;
}

/** ASCII armor for a binary OpenPGP public key (what `gpg --armor --export` prints). */
export function armorPublicKey(data: Buffer): string {
  const crc = crc24(data);
  const sum = Buffer.from([(crc >> 16) & 0xff, (crc >> 8) & 0xff, crc & 0xff]).toString('base64');
  const body = data.toString('base64').match(/.{1,64}/g)!.join('\n');
  return `${ARMOR_BEGIN}\n\n${body}\n=${sum}\n-----END PGP PUBLIC KEY BLOCK-----\n`;
}

/** An armored key as given, or a binary one armored; undefined when it is neither. */
export function normalizeKey(data: Buffer): string | undefined {
  const text = data.toString('utf8');
  const begin = text.indexOf(ARMOR_BEGIN);
  if (begin >= 0 && text.includes('-----END PGP PUBLIC KEY BLOCK-----')) return text.slice(begin).trimEnd() + '\n';
  // A binary OpenPGP packet starts with a tag byte whose top bit is set.
  if (data.length > 0 && (data[0] & 0x80) !== 0 && !text.includes('-----BEGIN')) return armorPublicKey(data);
  return undefined;
}

/** The deb822 stanza. */
export function renderSources(spec: AptRepoSpec): string {
  const lines = [
    `# Managed by converge (apt_repo ${spec.name}): changes made here are overwritten.`,
    `Types: ${(spec.types ?? ['deb']).join(' ')}`,
    `URIs: ${spec.uris!.join(' ')}`,
    `Suites: ${spec.suites!.join(' ')}`,
  ];
  if (spec.components) lines.push(`Components: ${spec.components.join(' ')}`);
  if (spec.architectures) lines.push(`Architectures: ${spec.architectures.join(' ')}`);
  lines.push(`Signed-By: ${keyPath(spec.name)}`);
  return lines.join('\n') + '\n';
}

/** The key first: it is written first, so the sources file never names a key that is not there yet. */
function files(spec: AptRepoSpec): [ManagedFile, ManagedFile] {
  return [
    // Readable by all: apt verifies signatures as the unprivileged _apt user.
    { label: 'key', path: keyPath(spec.name), content: spec.key ?? '', mode: '0644', noDiff: true },
    { label: 'sources', path: sourcesPath(spec.name), content: spec.ensure === 'absent' ? '' : renderSources(spec), mode: '0644' },
  ];
}

/**
 * Read-only: "REPO_URI SUITE" for each suite of this sources file whose
 * index (Packages, Sources) is on disk: apt lists an index target only once
 * apt-get update has fetched it.
 */
export function indexScript(name: string): string {
  return [
    `if [ -f ${shq(sourcesPath(name))} ]; then`,
    `  apt-get indextargets ${onlyThisRepo(name)} --format '$(REPO_URI) $(RELEASE)' 'Optional: no'`,
    'fi',
  ].join('\n');
}

/** The distinct fetched "REPO_URI SUITE" pairs. */
export function parseIndex(out: string): string[] {
  return [...new Set(out.split('\n').map((l) => l.trim().replace(/\s+/g, ' ')).filter((l) => l.split(' ').length === 2))].sort();
}

/** Every URI x suite has its index on disk (apt normalizes the URIs it prints, so they are counted, not compared). */
export const indexed = (spec: AptRepoSpec, fetched: string[]): boolean => fetched.length >= spec.uris!.length * spec.suites!.length;

export const aptRepo: ResourceType<AptRepoSpec, { key: FileFacts; sources: FileFacts; index: string[] }> = {
  kind: 'apt_repo',
  id: (spec) => `apt_repo:${spec.name}`,
  implicitAfter: () => [`directory:${SOURCES_DIR}`, `directory:${KEYRINGS_DIR}`],

  /** key_source: read from the state tree (never fetched), armored when binary. */
  resolve(spec, ctx) {
    if (spec.ensure === 'absent') return spec;
    if (spec.key !== undefined) {
      const key = normalizeKey(Buffer.from(spec.key));
      if (!key?.startsWith(ARMOR_BEGIN)) {
        throw new InputError({ message: `apt_repo ${spec.name}: key is not an ASCII-armored public key`, where: ctx.where, hint: `paste the whole block from ${ARMOR_BEGIN} to its END line, or use key_source for a binary key file` });
      }
      return { ...spec, key };
    }
    const { key_source, ...rest } = spec;
    const path = join(ctx.statesDir, key_source!);
    const rel = relative(ctx.statesDir, path);
    if (rel.startsWith('..') || isAbsolute(rel)) {
      throw new InputError({ message: `apt_repo ${spec.name}: key_source ${key_source} is outside the states directory`, where: ctx.where, hint: 'keep the key file in the state tree, e.g. keys/NAME.asc' });
    }
    let data: Buffer;
    try {
      data = readFileSync(path);
    } catch (e) {
      throw new InputError({ message: `apt_repo ${spec.name}: cannot read key_source ${key_source}: ${(e as Error).message}`, where: ctx.where, hint: `put the repository's public key at ${path} (converge never downloads keys)` });
    }
    const key = normalizeKey(data);
    if (!key) throw new InputError({ message: `apt_repo ${spec.name}: ${key_source} is not an OpenPGP public key (neither armored nor binary)`, where: ctx.where, hint: 'export it with `gpg --armor --export KEYID`' });
    return { ...rest, key };
  },

  facts(spec) {
    const [key, sources] = files(spec);
    return {
      key: managedFileQuery(key),
      sources: managedFileQuery(sources),
      index: { key: `apt-index:${spec.name}`, script: indexScript(spec.name), parse: parseIndex },
    };
  },

  plan(spec, facts) {
    const fs = files(spec);
    const stats = [facts.key, facts.sources];
    if (spec.ensure === 'absent') return managedFileRemovals(fs, stats);
    const changes = fs.flatMap((f, i) => managedFileChanges(f, stats[i]));
    const fetched = indexed(spec, facts.index);
    if (changes.length || !fetched) {
      changes.push({ path: 'index', action: 'run', before: fetched ? 'fetched' : 'not fetched', after: 'apt-get update of this repository only' });
    }
    return changes;
  },

  async apply(spec, changes, _facts, ctx) {
    const fs = files(spec);
    if (spec.ensure === 'absent') return removeFiles(fs, ctx, `removing apt repository ${spec.name}`);
    await writeChangedFiles(fs, changes, ctx);
    if (!changes.some((c) => c.path === 'index')) return;
    const res = await ctx.exec({ script: `apt-get -q update ${onlyThisRepo(spec.name)} -o APT::Get::List-Cleanup=0 2>&1` });
    // apt-get update exits 0 on some fetch failures (it only warns): the facts
    // re-read after apply catch those as "index not fetched".
    if (res.code !== 0) {
      const tail = res.stdout.trim().split('\n').filter((l) => /^(E|W):/.test(l)).slice(-3).join(' / ');
      throw new HostError(
        `apt-get update of repository ${spec.name} failed (exit ${res.code})${tail ? `: ${tail}` : ''}`,
        'check uris and suites, and that the key is the one the repository is signed with (NO_PUBKEY names the key it wants)',
      );
    }
  },
};
