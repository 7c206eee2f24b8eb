// PostgreSQL's own reading of a setting's value, redone on the controller so
// pg_conf can compare a desired value with pg_settings.setting exactly:
// '128MB' for shared_buffers (unit 8kB) is 16384, '5min' for
// checkpoint_timeout (unit s) is 300, 'yes' for a bool is on. Mirrors
// parse_int/parse_real/convert_to_base_unit/parse_bool in PostgreSQL's guc.c
// (including its round-half-to-even rounding); enums are checked against
// pg_settings.enumvals.

/** One row of pg_settings, as the pg_conf fact reads it. */
export interface PgSetting {
  setting: string;
  unit: string | null;
  vartype: 'bool' | 'integer' | 'real' | 'string' | 'enum';
  context: string;
  source: string;
  enumvals: string[] | null;
  /** current_setting(): the value with its best unit, for people (128MB). */
  display: string;
}

export type DesiredValue = string | number | boolean | string[];

/** Sizes of the units PostgreSQL accepts, in the smallest one (bytes, microseconds); each table runs large to small. */
const MEMORY_UNITS: [string, number][] = [['TB', 2 ** 40], ['GB', 2 ** 30], ['MB', 2 ** 20], ['kB', 2 ** 10], ['B', 1]];
const TIME_UNITS: [string, number][] = [['d', 86_400_000_000], ['h', 3_600_000_000], ['min', 60_000_000], ['s', 1_000_000], ['ms', 1000], ['us', 1]];

/** C rint(): round half to even. */
export function rint(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d !== 0.5) return d < 0.5 ? f : f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** A setting's base unit (pg_settings.unit: 8kB, kB, MB, B, ms, s, min) as a size in its table. */
function baseUnit(unit: string): { table: [string, number][]; size: number } | undefined {
  const m = /^(\d*)(.+)$/.exec(unit);
  if (!m) return undefined;
  for (const table of [MEMORY_UNITS, TIME_UNITS]) {
    const u = table.find(([name]) => name === m[2]);
    if (u) return { table, size: (m[1] ? Number(m[1]) : 1) * u[1] };
  }
  return undefined;
}

/**
 * convert_to_base_unit: the value in the setting's base unit. A fractional
 * value is first rounded to a whole number of the next smaller unit
 * ("30.1GB"), as PostgreSQL does. Multipliers are one division of exact
 * integers, so they are the very doubles guc.c computes.
 */
function toBaseUnit(value: number, unit: string, base: string): number | undefined {
  const b = baseUnit(base);
  if (!b) return undefined;
  const i = b.table.findIndex(([name]) => name === unit);
  if (i < 0) return undefined;
  const next = b.table[i + 1];
  const cvalue = value * (b.table[i][1] / b.size);
  return next ? rint(cvalue / (next[1] / b.size)) * (next[1] / b.size) : cvalue;
}

/** strtol(s, 0) then, at '.', 'e' or 'E', strtod: the number and what follows it. */
function leadingNumber(text: string): { value: number; rest: string } | undefined {
  const s = text.replace(/^\s+/, '');
  const int = /^([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)/.exec(s);
  if (int && !/^[.eE]/.test(s.slice(int[0].length))) {
    const digits = int[2];
    const v = /^0[xX]/.test(digits) ? parseInt(digits.slice(2), 16) : digits.length > 1 && digits[0] === '0' ? parseInt(digits, 8) : Number(digits);
    return { value: int[1] === '-' ? -v : v, rest: s.slice(int[0].length) };
  }
  const real = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?/.exec(s);
  return real ? { value: Number(real[0]), rest: s.slice(real[0].length) } : undefined;
}

/** A number with an optional unit, in the setting's base unit (before integer rounding). */
function parseNumeric(text: string, unit: string | null): number | undefined {
  const n = leadingNumber(text);
  if (!n) return undefined;
  const u = n.rest.trim();
  if (u === '') return n.value;
  return unit ? toBaseUnit(n.value, u, unit) : undefined;
}

/** parse_bool: any prefix of true/false/yes/no, on, of(f), 1, 0; case-insensitive. */
export function parseBool(text: string): boolean | undefined {
  const s = text.toLowerCase();
  if (!s) return undefined;
  if ('true'.startsWith(s) || 'yes'.startsWith(s) || s === '1' || s === 'on') return true;
  if ('false'.startsWith(s) || 'no'.startsWith(s) || s === '0' || (s.length >= 2 && 'off'.startsWith(s))) return false;
  return undefined;
}

/** Split a list setting as PostgreSQL shows it (a, "b c") into its elements. */
export function splitList(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') (cur += '"'), i++;
      else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') out.push(cur.trim()), (cur = '');
    else cur += ch;
  }
  if (cur.trim() || out.length) out.push(cur.trim());
  return out;
}

/** The desired value as text (what ALTER SYSTEM gets, and what a report shows). */
export function valueText(v: DesiredValue): string {
  if (Array.isArray(v)) return v.join(', ');
  if (typeof v === 'boolean') return v ? 'on' : 'off';
  return String(v);
}

/**
 * Does the running setting equal the desired value? Throws an Error with a
 * sentence when PostgreSQL would reject the value for this setting.
 */
export function settingMatches(name: string, s: PgSetting, desired: DesiredValue): boolean {
  const text = valueText(desired);
  const reject = (why: string) => new Error(`${name} = ${JSON.stringify(text)}: ${why}`);
  if (Array.isArray(desired)) {
    if (s.vartype !== 'string') throw reject(`a list is only valid for list settings, and ${name} is ${s.vartype}`);
    const cur = splitList(s.setting);
    return cur.length === desired.length && cur.every((c, i) => c === desired[i]);
  }
  switch (s.vartype) {
    case 'bool': {
      const b = typeof desired === 'boolean' ? desired : parseBool(text);
      if (b === undefined) throw reject('not a boolean (on/off, true/false, yes/no, 1/0)');
      return (b ? 'on' : 'off') === s.setting;
    }
    case 'integer':
    case 'real': {
      const v = parseNumeric(text, s.unit);
      if (v === undefined || !Number.isFinite(v)) {
        throw reject(s.unit ? `not a number with a valid unit (${baseUnit(s.unit)!.table.map(([u]) => u).join(', ')}; case-sensitive)` : 'not a number');
      }
      // The integer is rounded like parse_int; a real is shown with %g (6 significant digits).
      return s.vartype === 'integer' ? rint(v) === Number(s.setting) : Number(v.toPrecision(6)) === Number(Number(s.setting).toPrecision(6));
    }
    case 'enum': {
      const allowed = s.enumvals ?? [];
      if (!allowed.some((e) => e.toLowerCase() === text.toLowerCase())) throw reject(`must be one of ${allowed.join(', ')}`);
      return text.toLowerCase() === s.setting.toLowerCase();
    }
    default:
      return text === s.setting;
  }
}
