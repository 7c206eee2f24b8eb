// service: a systemd unit enabled at boot, running, masked (or not); fields
// left out are not managed. A watched change restarts (or reloads) it, after
// a daemon-reload when its unit file or drop-ins changed on disk.

import { HostError } from '../core/diagnostics.js';
import type { Change, ResourceType } from '../core/resource.js';
import { shq } from '../core/shell.js';
import type { ServiceSpec } from '../generated/index.js';
import { keyValues } from './lib/fs-common.js';

const UNIT_SUFFIXES = ['service', 'socket', 'timer', 'target', 'path', 'mount', 'automount', 'swap', 'slice', 'scope', 'device'];
const UNIT_DIR = '/etc/systemd/system';

/** The full unit name: .service is implied when the name has no unit suffix (php8.2-fpm has a dot but no suffix). */
export function unitName(name: string): string {
  return UNIT_SUFFIXES.some((s) => name.endsWith(`.${s}`)) ? name : `${name}.service`;
}

export interface UnitFacts {
  /** loaded, not-found, masked, bad-setting, error; undefined when systemd did not answer. */
  loadState?: string;
  /** active, reloading, inactive, failed, activating, deactivating. */
  activeState?: string;
  /** enabled, disabled, static, masked, alias, indirect, ... ('' for a unit with no unit file). */
  unitFileState?: string;
  /** What is on disk differs from what systemd loaded: a daemon-reload is due. */
  stale: boolean;
}

/**
 * sh that sets $stale to yes when systemd's loaded unit differs from the
 * disk. NeedDaemonReload alone misses two cases converge creates: a unit file
 * in /etc/systemd/system that now shadows the loaded one, and a drop-in in a
 * .d directory that did not exist when the unit was loaded.
 */
export function staleScript(unit: string): string {
  const u = shq(unit);
  return [
    'stale=no',
    `[ "$(systemctl show -p NeedDaemonReload --value ${u})" = yes ] && stale=yes`,
    `[ -f ${UNIT_DIR}/${u} ] && [ "$(systemctl show -p FragmentPath --value ${u})" != ${UNIT_DIR}/${u} ] && stale=yes`,
    `loaded=" $(systemctl show -p DropInPaths --value ${u}) "`,
    `for c in ${UNIT_DIR}/${u}.d/*.conf; do [ -f "$c" ] && case "$loaded" in *" $c "*) ;; *) stale=yes ;; esac; done`,
  ].join('\n');
}

/**
 * Read-only, for several units at once: their load/active/unit-file states
 * from ONE `systemctl show` (a D-Bus round trip, 15-70 ms, for all of a
 * host's units rather than one each), then per unit what parseUnitFacts
 * needs to tell whether a daemon-reload is due (the same three checks as
 * staleScript, which apply runs at the time of a restart).
 */
export function unitsFactScript(units: string[]): string {
  const us = units.map(shq).join(' ');
  return [
    `systemctl show ${us} -p LoadState,ActiveState,UnitFileState,NeedDaemonReload,FragmentPath,DropInPaths`,
    `for u in ${us}; do`,
    '  echo "ConvergeUnit=$u"',
    `  f=${UNIT_DIR}/$u; [ -f "$f" ] && echo "ConvergeUnitFile=$f"`,
    '  d=; for c in "$f".d/*.conf; do [ -f "$c" ] && d="$d $c"; done; echo "ConvergeDropIns=$d"',
    'done',
  ].join('\n');
}

/**
 * unitsFactScript's output cut per unit: systemctl's blocks (one per unit,
 * in order, a blank line between) each with that unit's lines of the loop.
 * When systemctl did not print one block per unit (no systemd), no unit gets
 * any of it: each plans as "systemctl show printed nothing".
 */
export function splitUnitsFacts(text: string, units: string[]): string[] {
  const at = text.startsWith('ConvergeUnit=') ? 0 : text.indexOf('\nConvergeUnit=');
  const loop = at < 0 ? text.length : at === 0 ? 0 : at + 1;
  const shown = text.slice(0, loop).trim();
  const blocks = shown ? shown.split(/\n\n+/) : [];
  const own = text.slice(loop).split(/^(?=ConvergeUnit=)/m);
  return units.map((_, i) => `${blocks.length === units.length ? `${blocks[i]}\n` : ''}${own[i] ?? ''}`);
}

export function parseUnitFacts(text: string): UnitFacts {
  const kv = keyValues(text);
  const unitFile = kv.get('ConvergeUnitFile');
  const loadedDropIns = ` ${kv.get('DropInPaths') ?? ''} `;
  const stale =
    kv.get('NeedDaemonReload') === 'yes' ||
    // A unit file in /etc/systemd/system that now shadows the loaded one.
    (unitFile !== undefined && kv.get('FragmentPath') !== unitFile) ||
    // A drop-in systemd has not loaded (its .d directory may be new).
    (kv.get('ConvergeDropIns') ?? '').split(' ').some((c) => c !== '' && !loadedDropIns.includes(` ${c} `));
  return {
    loadState: kv.get('LoadState') || undefined,
    activeState: kv.get('ActiveState'),
    unitFileState: kv.get('UnitFileState'),
    stale,
  };
}

const isRunning = (f: UnitFacts) => ['active', 'reloading', 'activating', 'refreshing'].includes(f.activeState ?? '');
const isMasked = (f: UnitFacts) => f.loadState === 'masked' || (f.unitFileState ?? '').startsWith('masked');
const isEnabled = (f: UnitFacts) => ['enabled', 'enabled-runtime', 'alias'].includes(f.unitFileState ?? '');
/** Units with no [Install] section (or made by generators) cannot be enabled or disabled: nothing to do either way. */
const isFixed = (f: UnitFacts) => ['static', 'indirect', 'generated', 'transient'].includes(f.unitFileState ?? '');

export function planService(spec: ServiceSpec, f: UnitFacts): Change[] {
  const unit = unitName(spec.name);
  if (!f.loadState) {
    throw new HostError(`cannot read the state of ${unit}: systemctl show printed nothing`, 'service resources need systemd running as PID 1 on the host');
  }
  // Not found yet: a package or file installed earlier in this run may
  // provide it (the engine re-plans after upstream changes), so its changes
  // are planned anyway; apply fails clearly when it is still missing.
  const missing = f.loadState === 'not-found';
  const masked = isMasked(f);
  const changes: Change[] = [];
  // A daemon-reload makes systemd see the unit as it is on disk (apply
  // reloads for a missing unit anyway).
  if (f.stale && !missing && !masked) changes.push({ path: 'unit', action: 'update', before: 'changed on disk', after: 'reloaded (systemctl daemon-reload)' });

  if (spec.masked !== undefined && spec.masked !== masked) changes.push({ path: 'masked', action: 'update', before: masked, after: spec.masked });
  const willBeMasked = spec.masked ?? masked;
  if (willBeMasked && (spec.enabled || spec.running)) {
    throw new HostError(`${unit} is masked, so it cannot be ${spec.enabled ? 'enabled' : 'started'}`, 'add masked: false to unmask it (or unmask it by hand)');
  }

  if (spec.enabled !== undefined && !willBeMasked && !isFixed(f)) {
    // An unmasked unit's own state only shows after unmask, so it is (re)set then.
    const enabled = !missing && !masked && isEnabled(f);
    if (spec.enabled !== enabled || masked) changes.push({ path: 'enabled', action: 'update', before: missing ? 'not-found' : f.unitFileState, after: spec.enabled });
  }

  const wantRunning = willBeMasked ? false : spec.running;
  if (wantRunning !== undefined && wantRunning !== isRunning(f)) {
    changes.push({ path: 'running', action: 'update', before: missing ? 'not-found' : isRunning(f), after: wantRunning });
  }
  return changes;
}

/** sh for the planned changes, in an order that works: reload, unmask, enable, start/stop, mask last (a mask does not stop). */
export function applyScript(unit: string, changes: Change[], f: UnitFacts): string {
  const u = shq(unit);
  const to = (path: string) => changes.find((c) => c.path === path)?.after;
  const lines = ['set -e'];
  // Masking a unit that does not exist is fine (it keeps a later package's unit from starting); enabling or starting it is not.
  const needsUnit = f.loadState === 'not-found' && (to('enabled') === true || to('running') === true);
  if (to('unit') !== undefined || needsUnit) lines.push('systemctl daemon-reload');
  if (needsUnit) {
    lines.push(
      `if [ "$(systemctl show -p LoadState --value ${u})" = not-found ]; then`,
      `  echo ${shq(`unit ${unit} does not exist: no unit file found after systemctl daemon-reload; install the package that provides it or manage its unit file with a file resource`)} >&2; exit 3`,
      'fi',
    );
  }
  // A runtime mask (in /run) is removed with --runtime; both are no-ops when absent.
  if (to('masked') === false) lines.push(`systemctl unmask ${u}`, `systemctl unmask --runtime ${u}`);
  if (to('enabled') !== undefined) lines.push(`systemctl ${to('enabled') ? 'enable' : 'disable'} ${u}`);
  if (to('running') !== undefined) lines.push(`systemctl ${to('running') ? 'start' : 'stop'} ${u}`);
  if (to('masked') === true) lines.push(`systemctl mask ${u}`);
  return lines.join('\n');
}

/** What a watched change does; undefined when nothing should happen. */
export function watchAction(spec: ServiceSpec, f: UnitFacts, applied: Change[]): 'restart' | 'reload-or-restart' | undefined {
  if (spec.masked || spec.running === false) return undefined;
  // Just started by its own apply: it already runs with the new config.
  if (applied.some((c) => c.path === 'running' && c.after === true)) return undefined;
  // Unmanaged and stopped: a restart would start it.
  if (spec.running === undefined && !isRunning(f)) return undefined;
  return spec.reload ? 'reload-or-restart' : 'restart';
}

const UNITS_MERGE = { key: 'systemd-units', script: unitsFactScript, split: splitUnitsFacts };

export const service: ResourceType<ServiceSpec, { unit: UnitFacts }> = {
  kind: 'service',
  id: (spec) => `service:${unitName(spec.name).replace(/\.service$/, '')}`,
  // The package named like the unit, and the unit's own file and drop-in
  // directory under /etc/systemd/system. (Drop-in files cannot be named
  // here; watch or require them.)
  implicitAfter(spec) {
    const unit = unitName(spec.name);
    return [`package:${unit.slice(0, unit.lastIndexOf('.'))}`, `file:${UNIT_DIR}/${unit}`, `directory:${UNIT_DIR}/${unit}.d`];
  },

  facts: (spec) => {
    const unit = unitName(spec.name);
    return { unit: { key: `systemd-unit:${unit}`, script: unitsFactScript([unit]), parse: parseUnitFacts, merge: { ...UNITS_MERGE, item: unit } } };
  },

  plan: (spec, facts) => planService(spec, facts.unit),

  async apply(spec, changes, facts, ctx) {
    const unit = unitName(spec.name);
    await ctx.run({ script: applyScript(unit, changes, facts.unit) }, `changing ${unit} (${changes.map((c) => c.path).join(', ')})`);
  },

  async onWatch(spec, facts, applied, ctx) {
    const action = watchAction(spec, facts.unit, applied);
    if (!action) return undefined;
    const unit = unitName(spec.name);
    // Re-checked now: the watched change may be this unit's own file or drop-in.
    const script = [staleScript(unit), 'if [ "$stale" = yes ]; then systemctl daemon-reload || exit 1; fi', `systemctl ${action} ${shq(unit)}`].join('\n');
    await ctx.run({ script }, `${action === 'restart' ? 'restarting' : 'reloading'} ${unit}`);
    return action === 'restart' ? 'restarted' : 'reloaded';
  },

  watchVerb: (spec) => (spec.reload ? 'reload' : 'restart'),
};
