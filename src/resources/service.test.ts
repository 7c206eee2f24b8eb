// service: the unit fact parser on `systemctl show` output captured from a
// test container (test/fixtures/service/*.json, captured by test/fixtures/capture.mjs),
// plans for each unit state, the apply script's order, and when a watched
// change restarts.

import { describe, expect, it } from 'vitest';
import { planInput } from '../../test/support/fixtures.js';
import type { Change } from '../core/resource.js';
import { applyScript, parseUnitFacts, planService, service, splitUnitsFacts, unitName, watchAction, type UnitFacts } from './service.js';

/** The unit fact of a scenario fixture, through the loader that refuses one captured from another fact script. */
const fixture = (name: string): UnitFacts => planInput(service, name).facts.unit;

const running = fixture('running-enabled');
const stopped = fixture('stopped-disabled');
const masked = fixture('masked');
const notFound = fixture('not-found');
const staticRunning = fixture('static-running');

describe('unit names and ids', () => {
  it('implies .service only when the name has no unit suffix', () => {
    expect(unitName('nginx')).toBe('nginx.service');
    expect(unitName('php8.2-fpm')).toBe('php8.2-fpm.service');
    expect(unitName('apt-daily.timer')).toBe('apt-daily.timer');
    expect(unitName('getty@tty1.service')).toBe('getty@tty1.service');
  });

  it('names the same unit the same way, with or without .service', () => {
    expect(service.id!({ name: 'nginx' })).toBe('service:nginx');
    expect(service.id!({ name: 'nginx.service' })).toBe('service:nginx');
    expect(service.id!({ name: 'apt-daily.timer' })).toBe('service:apt-daily.timer');
  });

  it('comes after its package, its unit file and its drop-in directory', () => {
    expect(service.implicitAfter!({ name: 'nginx' })).toEqual(['package:nginx', 'file:/etc/systemd/system/nginx.service', 'directory:/etc/systemd/system/nginx.service.d']);
  });
});

describe('one systemctl show for all units of a host', () => {
  // As unitsFactScript prints for two units: systemctl's blocks (a blank line between), then each unit's own lines.
  const shown = [
    'LoadState=loaded\nActiveState=active\nUnitFileState=enabled\nNeedDaemonReload=no\nFragmentPath=/lib/systemd/system/ssh.service\nDropInPaths=\n',
    'LoadState=loaded\nActiveState=active\nUnitFileState=static\nNeedDaemonReload=no\nFragmentPath=/etc/systemd/system/fx.service\nDropInPaths=\n',
  ].join('\n');
  const own = 'ConvergeUnit=ssh.service\nConvergeDropIns=\nConvergeUnit=fx.service\nConvergeUnitFile=/etc/systemd/system/fx.service\nConvergeDropIns= /etc/systemd/system/fx.service.d/nice.conf\n';

  it('gives each unit its block and its own lines', () => {
    const [ssh, fx] = splitUnitsFacts(shown + own, ['ssh.service', 'fx.service']).map(parseUnitFacts);
    expect(ssh).toEqual({ loadState: 'loaded', activeState: 'active', unitFileState: 'enabled', stale: false });
    // The drop-in on disk is not among those systemd loaded: a daemon-reload is due for fx alone.
    expect(fx).toEqual({ loadState: 'loaded', activeState: 'active', unitFileState: 'static', stale: true });
  });

  it('gives no unit a block when systemctl did not print one per unit (no systemd)', () => {
    const parts = splitUnitsFacts(own, ['ssh.service', 'fx.service']);
    expect(parts.map((p) => parseUnitFacts(p).loadState)).toEqual([undefined, undefined]);
    expect(() => planService({ name: 'ssh', running: true }, parseUnitFacts(parts[0]))).toThrow(/systemctl show printed nothing/);
  });

  it('is one query per host: every service names the same merge, with its unit as the item', () => {
    const q = (name: string) => service.facts({ name }, { host: { name: 'h', sshPort: 22, loginUser: 'root' }, statesDir: '/', sensitive: false }).unit;
    expect(q('ssh').merge!.key).toBe(q('nginx').merge!.key);
    expect(q('nginx').merge!.item).toBe('nginx.service');
    expect(q('nginx').merge!.script(['a.service', 'b.service'])).toMatch(/^systemctl show a\.service b\.service -p /);
  });
});

describe('parseUnitFacts (systemctl show captured from a container)', () => {
  it('reads each unit state', () => {
    expect(running).toEqual({ loadState: 'loaded', activeState: 'active', unitFileState: 'enabled', stale: false });
    expect(stopped).toEqual({ loadState: 'loaded', activeState: 'inactive', unitFileState: 'disabled', stale: false });
    expect(masked).toEqual({ loadState: 'masked', activeState: 'inactive', unitFileState: 'masked', stale: false });
    expect(notFound).toEqual({ loadState: 'not-found', activeState: 'inactive', unitFileState: '', stale: false });
    expect(staticRunning).toEqual({ loadState: 'loaded', activeState: 'active', unitFileState: 'static', stale: false });
    expect(fixture('failed')).toMatchObject({ activeState: 'failed', unitFileState: 'static' });
  });

  it('sees a due daemon-reload: edited unit file, new drop-in directory, unit file that now shadows the loaded one', () => {
    expect(fixture('stale-need-daemon-reload').stale).toBe(true);
    expect(fixture('stale-new-dropin').stale).toBe(true);
    expect(fixture('stale-shadowed').stale).toBe(true);
  });

  it('reads no load state when systemd is not running', () => {
    expect(fixture('no-systemd').loadState).toBeUndefined();
  });
});

describe('planService', () => {
  it('is empty when the unit is as asked, and for fields left out', () => {
    expect(planService({ name: 'demo', enabled: true, running: true }, running)).toEqual([]);
    expect(planService({ name: 'demo', enabled: false, running: false }, stopped)).toEqual([]);
    expect(planService({ name: 'demo' }, running)).toEqual([]);
    expect(planService({ name: 'demo' }, stopped)).toEqual([]);
    expect(planService({ name: 'demo', masked: true }, masked)).toEqual([]);
    expect(planService({ name: 'demo', masked: false, running: true }, running)).toEqual([]);
  });

  it('enables and starts a stopped unit, disables and stops a running one', () => {
    expect(planService({ name: 'demo', enabled: true, running: true }, stopped)).toEqual([
      { path: 'enabled', action: 'update', before: 'disabled', after: true },
      { path: 'running', action: 'update', before: false, after: true },
    ]);
    expect(planService({ name: 'demo', enabled: false, running: false }, running)).toEqual([
      { path: 'enabled', action: 'update', before: 'enabled', after: false },
      { path: 'running', action: 'update', before: true, after: false },
    ]);
  });

  it('treats a failed unit as stopped', () => {
    expect(planService({ name: 'demo', running: true }, fixture('failed'))).toEqual([{ path: 'running', action: 'update', before: false, after: true }]);
  });

  it('leaves enablement of a static unit alone (it has no [Install] section), but manages running', () => {
    expect(planService({ name: 'dbus', enabled: true, running: true }, staticRunning)).toEqual([]);
    expect(planService({ name: 'dbus', enabled: false }, staticRunning)).toEqual([]);
    expect(planService({ name: 'dbus', running: false }, staticRunning)).toEqual([{ path: 'running', action: 'update', before: true, after: false }]);
  });

  it('masks and stops; unmasks and sets enablement again', () => {
    expect(planService({ name: 'demo', masked: true }, running)).toEqual([
      { path: 'masked', action: 'update', before: false, after: true },
      { path: 'running', action: 'update', before: true, after: false },
    ]);
    expect(planService({ name: 'demo', masked: false, enabled: true, running: true }, masked)).toEqual([
      { path: 'masked', action: 'update', before: true, after: false },
      { path: 'enabled', action: 'update', before: 'masked', after: true },
      { path: 'running', action: 'update', before: false, after: true },
    ]);
    // Links left from before the mask show again on unmask: disable is planned, to be sure.
    expect(planService({ name: 'demo', masked: false, enabled: false }, masked)).toEqual([
      { path: 'masked', action: 'update', before: true, after: false },
      { path: 'enabled', action: 'update', before: 'masked', after: false },
    ]);
  });

  it('refuses to enable or start a masked unit unless asked to unmask it', () => {
    expect(() => planService({ name: 'demo', running: true }, masked)).toThrow(/demo.service is masked, so it cannot be started/);
    expect(() => planService({ name: 'demo', enabled: true }, masked)).toThrow(/cannot be enabled/);
    expect(planService({ name: 'demo', enabled: false, running: false }, masked)).toEqual([]);
  });

  it('plans a missing unit anyway (an earlier resource may install it), and nothing to undo', () => {
    expect(planService({ name: 'demo', enabled: true, running: true }, notFound)).toEqual([
      { path: 'enabled', action: 'update', before: 'not-found', after: true },
      { path: 'running', action: 'update', before: 'not-found', after: true },
    ]);
    expect(planService({ name: 'demo', enabled: false, running: false }, notFound)).toEqual([]);
    expect(planService({ name: 'demo', masked: true }, notFound)).toEqual([{ path: 'masked', action: 'update', before: false, after: true }]);
  });

  it('plans a daemon-reload when the unit changed on disk', () => {
    const stale = fixture('stale-need-daemon-reload');
    expect(planService({ name: 'demo', enabled: true, running: true }, stale)).toEqual([{ path: 'unit', action: 'update', before: 'changed on disk', after: 'reloaded (systemctl daemon-reload)' }]);
    expect(planService({ name: 'demo' }, stale).map((c) => c.path)).toEqual(['unit']);
  });

  it('fails clearly without systemd', () => {
    expect(() => planService({ name: 'ssh', running: true }, fixture('no-systemd'))).toThrow(/cannot read the state of ssh.service/);
  });
});

describe('applyScript', () => {
  const lines = (spec: Parameters<typeof planService>[0], f: UnitFacts) => applyScript(unitName(spec.name), planService(spec, f), f).split('\n');

  it('enables, then starts', () => {
    expect(lines({ name: 'demo', enabled: true, running: true }, stopped)).toEqual(['set -e', 'systemctl enable demo.service', 'systemctl start demo.service']);
  });

  it('stops before masking (a mask alone does not stop), and unmasks first', () => {
    expect(lines({ name: 'demo', masked: true }, running)).toEqual(['set -e', 'systemctl stop demo.service', 'systemctl mask demo.service']);
    expect(lines({ name: 'demo', masked: false, running: true }, masked)).toEqual([
      'set -e',
      'systemctl unmask demo.service',
      'systemctl unmask --runtime demo.service',
      'systemctl start demo.service',
    ]);
  });

  it('reloads systemd first when the unit is stale', () => {
    expect(lines({ name: 'demo', running: true }, { ...fixture('stale-need-daemon-reload'), activeState: 'inactive' })).toEqual([
      'set -e',
      'systemctl daemon-reload',
      'systemctl start demo.service',
    ]);
  });

  it('reloads for a missing unit and fails clearly when it is still missing', () => {
    const script = applyScript('demo.service', planService({ name: 'demo', enabled: true }, notFound), notFound);
    expect(script).toContain('systemctl daemon-reload');
    expect(script).toMatch(/unit demo.service does not exist: no unit file found after systemctl daemon-reload.*exit 3/);
    // Masking a unit that does not exist needs no unit.
    expect(applyScript('demo.service', planService({ name: 'demo', masked: true }, notFound), notFound)).toBe('set -e\nsystemctl mask demo.service');
  });
});

describe('watchAction', () => {
  const started: Change[] = [{ path: 'running', action: 'update', before: false, after: true }];

  it('restarts, or reloads with reload: true', () => {
    expect(watchAction({ name: 'demo', running: true }, running, [])).toBe('restart');
    expect(watchAction({ name: 'demo', running: true, reload: true }, running, [])).toBe('reload-or-restart');
    expect(service.watchVerb!({ name: 'demo', reload: true })).toBe('reload');
    expect(service.watchVerb!({ name: 'demo' })).toBe('restart');
  });

  it('still restarts after a daemon-reload or an enable (the running process has the old config)', () => {
    expect(watchAction({ name: 'demo', running: true }, running, [{ path: 'unit', action: 'update' }])).toBe('restart');
  });

  it('does nothing when its own apply just started it, or it is meant to be stopped or masked', () => {
    expect(watchAction({ name: 'demo', running: true }, stopped, started)).toBeUndefined();
    expect(watchAction({ name: 'demo', running: false }, stopped, [])).toBeUndefined();
    expect(watchAction({ name: 'demo', masked: true }, masked, [])).toBeUndefined();
  });

  it('restarts an unmanaged unit only when it runs', () => {
    expect(watchAction({ name: 'demo' }, running, [])).toBe('restart');
    expect(watchAction({ name: 'demo' }, stopped, [])).toBeUndefined();
  });
});
