// sysctl: a kernel parameter's running value (sysctl -w) and its persisted
// setting in /etc/sysctl.d/99-converge-<name>.conf (a file part). The value
// is set first, so a value the kernel refuses never gets persisted.

import { HostError } from '../core/diagnostics.js';
import type { Change, ResourceType, Facts } from '../core/resource.js';
import { shq } from '../core/shell.js';
import type { SysctlSpec } from '../generated/index.js';
import { file } from './file.js';
import { applyParts, partFacts, planParts, type Part } from './lib/parts.js';

export interface SysctlFacts {
  /** The running value, fields separated by one space; undefined when the kernel has no such parameter. */
  value?: string;
  /** What sysctl said when it could not read the parameter. */
  error?: string;
}

/** sysctl -n separates fields with tabs; a value compares with single spaces. */
export const normalizeValue = (v: string | number) => String(v).trim().split(/\s+/).join(' ');

export const sysctlPath = (name: string) => `/etc/sysctl.d/99-converge-${name}.conf`;

/** Read-only: the running value, or sysctl's error. */
export function sysctlFactScript(name: string): string {
  return `if v=$(sysctl -n ${shq(name)} 2>&1); then echo ok; else echo error; fi\nprintf '%s\\n' "$v"`;
}

export function parseSysctlFacts(text: string): SysctlFacts {
  const [status, ...rest] = text.replace(/\n+$/, '').split('\n');
  const out = rest.join('\n');
  return status === 'ok' ? { value: normalizeValue(out) } : { error: out.trim() || 'sysctl failed' };
}

const parts = (spec: SysctlSpec): Part[] => {
  const path = sysctlPath(spec.name);
  return [{ name: 'conf', type: file, label: path, spec: { path, content: `# Managed by converge.\n${spec.name} = ${normalizeValue(spec.value)}\n`, owner: 'root', group: 'root', mode: '0644' } }];
};

export const sysctl: ResourceType<SysctlSpec, { running: SysctlFacts } & Facts> = {
  kind: 'sysctl',
  id: (spec) => `sysctl:${spec.name}`,
  implicitAfter: () => ['package:procps', 'directory:/etc/sysctl.d'],

  facts: (spec, ctx) => ({ running: { key: `sysctl:${spec.name}`, script: sysctlFactScript(spec.name), parse: parseSysctlFacts }, ...partFacts(parts(spec), ctx) }),

  plan(spec, facts, ctx) {
    const f = facts.running;
    if (f.value === undefined) throw new HostError(`cannot read kernel parameter ${spec.name}: ${f.error}`, 'check the name with `sysctl -a`; some parameters exist only once their module is loaded');
    const want = normalizeValue(spec.value);
    const running: Change[] = f.value === want ? [] : [{ path: 'value', action: 'update', before: f.value, after: want }];
    return [...running, ...planParts(parts(spec), facts, ctx)];
  },

  async apply(spec, changes, facts, ctx) {
    if (changes.some((c) => c.path === 'value')) {
      const want = normalizeValue(spec.value);
      const res = await ctx.exec({ script: `sysctl -w ${shq(`${spec.name}=${want}`)}` });
      if (res.code !== 0) {
        throw new HostError(
          `the kernel refused ${spec.name} = ${want}: ${(res.stderr.trim() || res.stdout.trim()).split('\n').pop()}`,
          'the parameter may be read-only here (containers mount /proc/sys read-only, and many parameters are not per-container), or the value is out of range',
        );
      }
    }
    await applyParts(parts(spec), facts, ctx);
  },
};
