// Tiny pure-Python wheels for tests, written directly (no index is reachable,
// so `pip wheel` could not fetch setuptools to build one). A wheel is a zip of
// the package and a NAME-VERSION.dist-info with METADATA, WHEEL and RECORD;
// the zip here is stored (uncompressed), which every unzip reads.

import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';

/** A zip archive of the given files, stored, dated 1980-01-01. */
export function zip(files: Record<string, string>): Buffer {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [name, text] of Object.entries(files)) {
    const data = Buffer.from(text);
    const fname = Buffer.from(name);
    const crc = crc32(data);
    // Fields shared by the local and the central header, from "version needed" to the name length.
    const common = Buffer.alloc(26);
    common.writeUInt16LE(20, 0); // version needed
    common.writeUInt16LE(0, 2); // flags
    common.writeUInt16LE(0, 4); // stored
    common.writeUInt16LE(0, 6); // time 00:00
    common.writeUInt16LE(0x21, 8); // date 1980-01-01
    common.writeUInt32LE(crc, 10);
    common.writeUInt32LE(data.length, 14);
    common.writeUInt32LE(data.length, 18);
    common.writeUInt16LE(fname.length, 22);
    common.writeUInt16LE(0, 24); // extra length
    const local = Buffer.concat([u32(0x04034b50), common, fname, data]);
    // Comment length, disk, internal and external attributes: all 0; then where the local header is.
    const tail = Buffer.alloc(14);
    tail.writeUInt32LE(offset, 10);
    central.push(Buffer.concat([u32(0x02014b50), u16(20), common, tail, fname]));
    locals.push(local);
    offset += local.length;
  }
  const dir = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(central.length, 8);
  end.writeUInt16LE(central.length, 10);
  end.writeUInt32LE(dir.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, dir, end]);
}

const u16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
};
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};

/** `name-version-py3-none-any.whl` holding the package `name` whose __init__ says VERSION = "version". */
export function wheel(name: string, version: string): { filename: string; data: Buffer } {
  const info = `${name}-${version}.dist-info`;
  const files: Record<string, string> = {
    [`${name}/__init__.py`]: `VERSION = "${version}"\n`,
    [`${info}/METADATA`]: `Metadata-Version: 2.1\nName: ${name}\nVersion: ${version}\n`,
    [`${info}/WHEEL`]: 'Wheel-Version: 1.0\nGenerator: converge-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n',
  };
  const hash = (text: string) => createHash('sha256').update(text).digest('base64url');
  const record = Object.entries(files).map(([path, text]) => `${path},sha256=${hash(text)},${Buffer.byteLength(text)}\n`);
  files[`${info}/RECORD`] = `${record.join('')}${info}/RECORD,,\n`;
  return { filename: `${name}-${version}-py3-none-any.whl`, data: zip(files) };
}
