// The firewall change's script, run by the local sh with a python3 and a ufw
// that only log their arguments: which path runs, in what order, and what
// stops it. The driver itself (ufw's frontend in one Python) runs on real
// hosts in test/integration/ufw-sshd.test.ts.

import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ufwCommandsScript } from './ufw-commands.js';

const COMMANDS = ["ufw allow proto tcp from 0.0.0.0/0 to 0.0.0.0/0 port 22 comment 'ssh in'", 'ufw default deny incoming', 'ufw --force enable'];

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'converge-ufw-commands-'));
  // Each fake logs a record per call (ended by \x1e): its name and its arguments, each after a \x1f (the driver's code has newlines).
  const fake = (name: string, rc: string) => {
    writeFileSync(join(dir, name), `#!/bin/sh\nprintf '%s' ${name} >> "${dir}/log"\nfor a in "$@"; do printf '\\037%s' "$a" >> "${dir}/log"; done\nprintf '\\036' >> "${dir}/log"\n${rc}\n`);
    chmodSync(join(dir, name), 0o755);
  };
  fake('ufw', '[ "$1" = fail ] && exit 3; exit 0');
  fake('python3', 'exit "${PY_RC:-0}"');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function run(commands: string[], env: Record<string, string>, path = dir) {
  const r = spawnSync('/bin/sh', ['-c', ufwCommandsScript(commands)], { env: { PATH: path, ...env }, encoding: 'utf8' });
  let log: string[] = [];
  try {
    log = readFileSync(join(dir, 'log'), 'utf8').split('\x1e').slice(0, -1);
  } catch {
    // nothing was called
  }
  return { code: r.status, log: log.map((l) => l.split('\x1f')) };
}

describe('ufwCommandsScript', () => {
  it('hands every command to one python3, with ufw\'s path first and each command line intact', () => {
    const r = run(COMMANDS, { PY_RC: '0' });
    expect(r.code).toBe(0);
    expect(r.log).toHaveLength(1);
    const [name, isolated, dashC, , ufwPath, ...lines] = r.log[0];
    expect([name, isolated, dashC, ufwPath]).toEqual(['python3', '-I', '-c', join(dir, 'ufw')]);
    expect(lines).toEqual(COMMANDS);
  });

  it('fails with the driver\'s exit code, running no command after it', () => {
    const r = run(COMMANDS, { PY_RC: '1' });
    expect(r.code).toBe(1);
    expect(r.log.map((l) => l[0])).toEqual(['python3']);
  });

  it("runs the commands one by one when ufw's Python package is missing (99)", () => {
    const r = run(COMMANDS, { PY_RC: '99' });
    expect(r.code).toBe(0);
    expect(r.log.slice(1)).toEqual([
      ['ufw', 'allow', 'proto', 'tcp', 'from', '0.0.0.0/0', 'to', '0.0.0.0/0', 'port', '22', 'comment', 'ssh in'],
      ['ufw', 'default', 'deny', 'incoming'],
      ['ufw', '--force', 'enable'],
    ]);
  });

  it('runs them one by one when there is no python3, stopping at the first that fails', () => {
    rmSync(join(dir, 'python3'));
    const r = run(['ufw default deny incoming', 'ufw fail now', 'ufw --force enable'], {});
    expect(r.code).toBe(3);
    expect(r.log).toEqual([
      ['ufw', 'default', 'deny', 'incoming'],
      ['ufw', 'fail', 'now'],
    ]);
  });
});
