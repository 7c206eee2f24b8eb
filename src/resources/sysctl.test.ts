import { describe, expect, it } from 'vitest';
import { planCtx } from '../../test/unit/fixtures.js';
import { recorder } from '../../test/unit/apply-recorder.js';
import { planInput, scenario } from '../../test/support/fixtures.js';
import { parseSysctlFacts, sysctl } from './sysctl.js';

describe('sysctl facts', () => {
  it('read the running value, fields joined by one space', () => {
    expect(parseSysctlFacts(scenario('sysctl', 'port_range_default').facts.running.output)).toEqual({ value: '32768 60999' });
  });
  it('keep what sysctl said about a parameter it cannot read', () => {
    expect(parseSysctlFacts(scenario('sysctl', 'unknown').facts.running.output)).toEqual({ error: 'sysctl: cannot stat /proc/sys/net/ipv4/no_such_key: No such file or directory' });
  });
});

describe('sysctl plan', () => {
  it('sets the running value and persists it in its own sysctl.d file', () => {
    const { spec, facts } = planInput(sysctl, 'port_range_default');
    const changes = sysctl.plan(spec, facts, planCtx());
    expect(changes[0]).toEqual({ path: 'value', action: 'update', before: '32768 60999', after: '1024 65000' });
    expect(changes[1]).toMatchObject({ path: '/etc/sysctl.d/99-converge-net.ipv4.ip_local_port_range.conf content', action: 'create' });
    expect(changes[1].diff).toContain('+net.ipv4.ip_local_port_range = 1024 65000');
  });
  it('is empty when both match, a number and its string alike', () => {
    const { spec, facts } = planInput(sysctl, 'somaxconn_set');
    expect(sysctl.plan(spec, facts, planCtx())).toEqual([]);
    expect(sysctl.plan({ ...spec, value: ' 1024 ' }, facts, planCtx())).toEqual([]);
  });
  it('fails on a parameter the kernel does not have', () => {
    const { spec, facts } = planInput(sysctl, 'unknown');
    expect(() => sysctl.plan(spec, facts, planCtx())).toThrow(/cannot read kernel parameter net.ipv4.no_such_key: sysctl: cannot stat/);
  });
});

describe('sysctl apply', () => {
  it('fails clearly when the kernel refuses, and persists nothing', async () => {
    const { spec, facts } = planInput(sysctl, 'port_range_default');
    const { ctx, commands: sent } = recorder(() => ({ code: 255, stdout: '', stderr: 'sysctl: permission denied on key "net.ipv4.ip_local_port_range"' }));
    const err = await sysctl.apply(spec, sysctl.plan(spec, facts, ctx), facts, ctx).catch((e) => e);
    expect(err.message).toBe('the kernel refused net.ipv4.ip_local_port_range = 1024 65000: sysctl: permission denied on key "net.ipv4.ip_local_port_range"');
    expect(err.hint).toMatch(/read-only/);
    expect(sent.map((s) => s.script)).toEqual(["sysctl -w 'net.ipv4.ip_local_port_range=1024 65000'"]);
  });
});
