// The value of the plainest YAML, read without the `yaml` package's
// Document. An inventory of 1000 hosts took that parser ~0.2 s of CPU and
// kept its Document (every node with its position) for the whole run, though
// positions are only needed to word an error. This reader accepts a small
// subset whose meaning is beyond doubt and gives up (undefined) on anything
// else, which is then read by the `yaml` package as before: so it never has
// to agree with YAML on a hard case, nor word an error.
//
// The subset: a block mapping at the root; block mappings and sequences;
// flow mappings and sequences closed on their line; keys and values that are
// plain words (see plainValue), or quoted on one line (few escapes);
// comment lines, and comments after a value. No tabs, CR, anchors, aliases,
// tags, directives, multi-line or empty-in-flow values, duplicate keys.

/** Thrown (and caught in readPlainYaml) where the text leaves the subset. */
class NotPlain extends Error {}
const NOT_PLAIN = new NotPlain();

interface Line {
  indent: number;
  text: string;
}

/** The text's value, or undefined when the text is not in the subset (read it with the `yaml` package). */
export function readPlainYaml(text: string): { value: unknown } | undefined {
  if (/[\t\r\uFEFF]/.test(text)) return undefined;
  const lines: Line[] = [];
  for (const raw of text.split('\n')) {
    const body = raw.trimStart();
    if (body === '' || body.startsWith('#')) continue;
    lines.push({ indent: raw.length - body.length, text: body.trimEnd() });
  }
  if (lines.length === 0 || lines[0].indent !== 0 || isSeqItem(lines[0].text)) return undefined;
  try {
    const [value, next] = block(lines, 0, 0);
    return next === lines.length ? { value } : undefined;
  } catch (e) {
    if (e instanceof NotPlain) return undefined;
    throw e;
  }
}

const isSeqItem = (text: string) => text === '-' || text.startsWith('- ');

/** The block collection whose first line is lines[i], at `indent`; returns it and the index after it. */
function block(lines: Line[], i: number, indent: number): [unknown, number] {
  return isSeqItem(lines[i].text) ? blockSeq(lines, i, indent) : blockMap(lines, i, indent);
}

function blockMap(lines: Line[], i: number, indent: number): [unknown, number] {
  const out: Record<string, unknown> = {};
  while (i < lines.length && lines[i].indent >= indent) {
    const { text } = lines[i];
    if (lines[i].indent > indent || isSeqItem(text)) throw NOT_PLAIN;
    const cur = new Cursor(text);
    const key = cur.key();
    if (Object.hasOwn(out, key)) throw NOT_PLAIN;
    i++;
    let value: unknown;
    if (cur.atEnd()) {
      // `key:` then a nested block: more indented, or a sequence at the key's indent.
      if (i < lines.length && (lines[i].indent > indent || (lines[i].indent === indent && isSeqItem(lines[i].text)))) {
        [value, i] = block(lines, i, lines[i].indent);
      } else value = null;
    } else {
      value = cur.value(false);
      cur.end();
    }
    out[key] = value;
  }
  return [out, i];
}

function blockSeq(lines: Line[], i: number, indent: number): [unknown, number] {
  const out: unknown[] = [];
  while (i < lines.length && lines[i].indent === indent && isSeqItem(lines[i].text)) {
    const cur = new Cursor(lines[i].text, 1);
    i++;
    if (cur.atEnd()) {
      let value: unknown = null;
      if (i < lines.length && lines[i].indent > indent) [value, i] = block(lines, i, lines[i].indent);
      out.push(value);
    } else {
      out.push(cur.value(false));
      cur.end();
    }
  }
  if (i < lines.length && lines[i].indent > indent) throw NOT_PLAIN;
  return [out, i];
}

/** A run of these is a plain word: no indicator, quote, space, colon or comment sign. */
const WORD = /[A-Za-z0-9_.\/@+~-]+/y;
/** Words that are strings to YAML 1.2's core schema whatever follows their first character. */
const STRING_WORD = /^[A-Za-z_\/~][A-Za-z0-9_.\/@+~-]*$/;
/** A dotted quad and the like: more than one dot is never a number. */
const DOTTED = /^[0-9]+(?:\.[0-9]+){2,}$/;
const INTEGER = /^(?:0|[1-9][0-9]{0,14})$/;
/** Core schema words for null and booleans in other spellings than these: left to the `yaml` package. */
const KEYWORDS = new Map<string, unknown>([
  ['null', null],
  ['true', true],
  ['false', false],
]);
const OTHER_KEYWORDS = /^(?:~|Null|NULL|True|TRUE|False|FALSE)$/;

/** Double-quoted escapes read here (a state file's `content: "a\\nb"`); any other is left to the `yaml` package. */
const ESCAPES = new Map([
  ['n', '\n'],
  ['t', '\t'],
  ['r', '\r'],
  ['"', '"'],
  ['\\', '\\'],
  ['/', '/'],
]);

/** What a plain word means, or NotPlain when it may mean something else (a float, an octal, `Null`). */
function plainValue(word: string): unknown {
  if (KEYWORDS.has(word)) return KEYWORDS.get(word);
  if (OTHER_KEYWORDS.test(word)) throw NOT_PLAIN;
  if (STRING_WORD.test(word) || DOTTED.test(word)) return word;
  if (INTEGER.test(word)) return Number(word);
  throw NOT_PLAIN;
}

/** Reads one line's key and values from left to right. */
class Cursor {
  constructor(
    private readonly s: string,
    private at = 0,
  ) {}

  private spaces(): number {
    const from = this.at;
    while (this.s.charCodeAt(this.at) === 32) this.at++;
    return this.at - from;
  }

  /** Nothing but spaces, or a comment after a space, is left. */
  atEnd(): boolean {
    const skipped = this.spaces();
    return this.at === this.s.length || (skipped > 0 && this.s[this.at] === '#');
  }

  end(): void {
    if (!this.atEnd()) throw NOT_PLAIN;
  }

  /** A mapping key and its `:` (followed by a space or the line's end). */
  key(): string {
    this.spaces();
    const c = this.s[this.at];
    // A plain key must be a string too: YAML would turn `0x10:` into the key "16".
    const key = c === '"' || c === "'" ? this.quoted() : this.word();
    if ((c !== '"' && c !== "'" && typeof plainValue(key) !== 'string') || key === '__proto__' || this.s[this.at] !== ':') throw NOT_PLAIN;
    this.at++;
    if (this.at < this.s.length && this.s[this.at] !== ' ') throw NOT_PLAIN;
    return key;
  }

  /** A value in block context (ends at the line's end) or in flow context (ends at , ] or }). */
  value(flow: boolean): unknown {
    this.spaces();
    const c = this.s[this.at];
    let v: unknown;
    if (c === '{') v = this.flowMap();
    else if (c === '[') v = this.flowSeq();
    else if (c === '"' || c === "'") v = this.quoted();
    else v = plainValue(this.word());
    // What follows a value: the line's end, a space, or in flow a separator.
    const next = this.s[this.at];
    if (next !== undefined && next !== ' ' && !(flow && (next === ',' || next === ']' || next === '}'))) throw NOT_PLAIN;
    return v;
  }

  private word(): string {
    WORD.lastIndex = this.at;
    const m = WORD.exec(this.s);
    if (!m) throw NOT_PLAIN;
    this.at += m[0].length;
    return m[0];
  }

  /** A quoted scalar on one line: in double quotes, only the escapes in ESCAPES; in single quotes, '' is a quote. */
  private quoted(): string {
    const q = this.s[this.at];
    let v = '';
    let from = this.at + 1;
    for (;;) {
      const close = this.s.indexOf(q, from);
      if (close < 0) throw NOT_PLAIN;
      if (q === "'") {
        v += this.s.slice(from, close);
        if (this.s[close + 1] !== "'") return this.closeAt(close, v);
        v += "'";
        from = close + 2;
        continue;
      }
      const slash = this.s.indexOf('\\', from);
      if (slash < 0 || slash > close) return this.closeAt(close, v + this.s.slice(from, close));
      const escaped = ESCAPES.get(this.s[slash + 1]);
      if (escaped === undefined) throw NOT_PLAIN;
      v += this.s.slice(from, slash) + escaped;
      from = slash + 2;
    }
  }

  private closeAt(close: number, value: string): string {
    this.at = close + 1;
    return value;
  }

  private flowMap(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    this.items('}', () => {
      const key = this.key();
      if (Object.hasOwn(out, key)) throw NOT_PLAIN;
      out[key] = this.value(true);
    });
    return out;
  }

  private flowSeq(): unknown[] {
    const out: unknown[] = [];
    this.items(']', () => out.push(this.value(true)));
    return out;
  }

  /** After the opening bracket: items separated by commas up to `close` (no trailing comma, no empty item). */
  private items(close: string, item: () => void): void {
    this.at++;
    this.spaces();
    if (this.s[this.at] === close) {
      this.at++;
      return;
    }
    for (;;) {
      item();
      this.spaces();
      const c = this.s[this.at++];
      if (c === close) return;
      if (c !== ',') throw NOT_PLAIN;
    }
  }
}
