// Jinja-like templating (nunjucks) for file content and for string values
// in state files. The YAML text itself is never templated, so every error
// keeps its file and line; a variable that is not defined is an error.

import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import nunjucks from 'nunjucks';
import { errorMessage, InputError, type Where } from '../core/diagnostics.js';
import { installFilters } from './template-filters.js';
import { firstMissing, plainParts, templateLookups, type Missing, type TemplateLookups } from './template-lookups.js';
import { templateNames } from './template-names.js';
import { ValuesKey } from './entry-cache.js';

export type Vars = Record<string, unknown>;

export class Templates {
  private readonly env: nunjucks.Environment;
  /** Compiled string templates: the same state text is rendered for every host. */
  private readonly compiled = new Map<string, { template: nunjucks.Template; whole: boolean }>();
  /** What each template text reads (names and literal keys), from its parse tree: checked against the vars before each render. */
  private readonly lookups = new Map<string, TemplateLookups | undefined>();
  /** Template files' text, read once per run (every host renders the same files). */
  private readonly fileTexts = new Map<string, string>();
  /**
   * Rendered string values, per text and then per the values of the names it
   * reads (as entry-cache.ts keys entries): an entry that reads `host` is
   * compiled for every host, but its `path: "/srv/{{ project }}/app.ini"` is
   * rendered once. Null: the text cannot be judged by its names (see
   * templateNames) or reads `host`, which differs on every host.
   */
  private readonly rendered = new Map<string, { names: string[]; byValues: Map<string, unknown> } | null>();
  private readonly values = new ValuesKey();
  /** Per string value: its parts when it is only text and lookups (plainParts), else null. */
  private readonly plain = new Map<string, (string | (string | number)[])[] | null>();
  /**
   * missingFiles, given by validate alone: a lookup('file') whose file is not
   * there stands in as a placeholder and its path is listed here, as a
   * missing secret is (a file the checkout makes, such as the test fleet's
   * key, need not exist for CI to validate the tree). Otherwise it is an error.
   */
  constructor(
    readonly statesDir: string,
    private readonly missingFiles?: Set<string>,
  ) {
    this.env = new nunjucks.Environment(new nunjucks.FileSystemLoader(statesDir, { noCache: false }), {
      autoescape: false,
      throwOnUndefined: true,
      trimBlocks: true,
      lstripBlocks: true,
    });
    installFilters(this.env);
    // Non-secret text from a file of the tree (a public key): Ansible's lookup('file', ...).
    this.env.addGlobal('lookup', (kind: unknown, path: unknown) => {
      if (kind !== 'file') throw new Error(`lookup("${String(kind)}") is not known: only lookup('file', PATH) is`);
      const full = join(statesDir, String(path));
      if (!existsSync(full)) {
        if (!this.missingFiles) throw new Error(`lookup('file', '${String(path)}'): no such file in the states directory (${relative(process.cwd(), full)})`);
        this.missingFiles.add(String(path));
        return `placeholder-for-file-${String(path)}`;
      }
      return readFileSync(full, 'utf8').replace(/\r?\n$/, '');
    });
  }

  /** The first name or key the template reads that the vars lack (see firstMissing). */
  private missing(text: string, vars: Vars, after?: { line?: number }): Missing | undefined {
    if (!this.lookups.has(text)) this.lookups.set(text, templateLookups(text));
    const t = this.lookups.get(text);
    return t && firstMissing(t, vars, after);
  }

  /** A render failed: when on an undefined value, name what was undefined. */
  private undefinedCause(e: unknown, text: string, vars: Vars): Missing | undefined {
    const raw = errorMessage(e);
    if (!/undefined/.test(raw)) return undefined;
    const line = /\[Line (\d+), Column \d+\]/.exec(raw)?.[1];
    return this.missing(text, vars, { line: line ? Number(line) : undefined });
  }

  /** Render a template file from the state tree; `where` is the resource that uses it. */
  renderFile(name: string, vars: Vars, where: () => Where): string {
    const file = relative(process.cwd(), join(this.statesDir, name));
    if (!existsSync(join(this.statesDir, name))) {
      throw new InputError({ message: `template "${name}" not found (looked for ${file})`, where: where(), hint: 'template names are paths relative to the states directory: states/web/site.conf.j2 is web/site.conf.j2' });
    }
    const used = where();
    // The error is in the template file: point there, and say which resource rendered it.
    const usedBy = ` (rendered for ${used.path} at ${used.file}:${used.line})`;
    let text = this.fileTexts.get(name);
    if (text === undefined) this.fileTexts.set(name, (text = readFileSync(join(this.statesDir, name), 'utf8')));
    const missing = this.missing(text, vars);
    if (missing) throw undefinedError(missing, { file, line: missing.line, host: used.host }, name, usedBy);
    try {
      return this.env.render(name, vars);
    } catch (e) {
      const cause = this.undefinedCause(e, text, vars);
      if (cause) throw undefinedError(cause, { file, line: cause.line, host: used.host }, name, usedBy);
      const line = /\[Line (\d+), Column \d+\]/.exec(errorMessage(e))?.[1];
      throw templateError(e, { file, line: line ? Number(line) : undefined, host: used.host }, name, usedBy);
    }
  }

  /**
   * Render one string value. A string that is exactly one {{ expression }}
   * yields the expression's value itself (a list stays a list).
   */
  renderString(text: string, vars: Vars, where: () => Where): unknown {
    if (!text.includes('{{') && !text.includes('{%')) return text;
    let cache = this.rendered.get(text);
    if (cache === undefined) {
      const names = templateNames(text);
      cache = names && !names.has('host') ? { names: [...names].sort(), byValues: new Map() } : null;
      this.rendered.set(text, cache);
    }
    if (cache === null) return this.renderNew(text, vars, where);
    const key = this.values.of(cache.names, vars);
    if (cache.byValues.has(key)) return cache.byValues.get(key);
    // Only what rendered is kept: an error is raised again for each host, naming it.
    const out = this.renderNew(text, vars, where);
    cache.byValues.set(key, out);
    return out;
  }

  private renderNew(text: string, vars: Vars, where: () => Where): unknown {
    let out = this.renderPlain(text, vars);
    if (out === undefined) out = this.renderNunjucks(text, vars, where);
    // A var's value that is itself template text is rendered once (hostVars),
    // never again here: braces left over would reach the host as they are.
    if (typeof out === 'string' && /\{\{|\{%/.test(out) && !/\{%-?\s*raw\s*-?%\}/.test(text)) {
      throw new InputError({
        message: `rendering "${text}" left template text in the value: ${JSON.stringify(out.length > 80 ? out.slice(0, 80) + '…' : out)}`,
        where: where(),
        hint: 'a value that holds {{ }} is rendered once, where it is used; write the expression here, or wrap text meant literally in {% raw %}...{% endraw %}',
      });
    }
    return out;
  }

  /**
   * Text and lookups only (plainParts), when every lookup gives a string, a
   * finite number or a boolean: what nunjucks would give (its output of such
   * a value is the value as a string; a whole `{{ x }}` is the value itself,
   * as its JSON round trip would be). Undefined otherwise: nunjucks renders
   * it, and reports what is missing.
   */
  private renderPlain(text: string, vars: Vars): unknown {
    let parts = this.plain.get(text);
    if (parts === undefined) this.plain.set(text, (parts = plainParts(text) ?? null));
    if (parts === null) return undefined;
    let out = '';
    for (const part of parts) {
      if (typeof part === 'string') {
        out += part;
        continue;
      }
      let cur: unknown = vars;
      for (const k of part) {
        if (cur === undefined || cur === null) return undefined;
        cur = (cur as Record<string | number, unknown>)[k];
      }
      if (!(typeof cur === 'string' || typeof cur === 'boolean' || (typeof cur === 'number' && Number.isFinite(cur) && !Object.is(cur, -0)))) return undefined;
      if (parts.length === 1 && this.stringTemplate(text).whole) return cur;
      out += cur;
    }
    return out;
  }

  private renderNunjucks(text: string, vars: Vars, where: () => Where): unknown {
    const missing = this.missing(text, vars);
    if (missing) throw undefinedError(missing, where(), text);
    let out: unknown;
    try {
      const { template, whole } = this.stringTemplate(text);
      if (whole) {
        const json = template.render(vars);
        // dump of undefined prints nothing: the expression has no value.
        if (json === '') throw new InputError({ message: `"${text}" has no value (it evaluates to undefined)`, where: where(), hint: 'give it a value, or a default: {{ x | default("...") }}' });
        out = JSON.parse(json);
      } else out = template.render(vars);
    } catch (e) {
      if (e instanceof InputError) throw e;
      const cause = this.undefinedCause(e, text, vars);
      throw cause ? undefinedError(cause, where(), text) : templateError(e, where(), text);
    }
    return out;
  }

  /** The compiled template of a string value; whole: the text is one {{ expression }}, whose value is dumped as JSON. */
  private stringTemplate(text: string): { template: nunjucks.Template; whole: boolean } {
    let t = this.compiled.get(text);
    if (!t) {
      const whole = /^\{\{([^{}]*)\}\}$/.exec(text);
      t = { template: new nunjucks.Template(whole ? `{{ (${whole[1]}) | dump | safe }}` : text, this.env, undefined, true), whole: !!whole };
      this.compiled.set(text, t);
    }
    return t;
  }

  /** Render every string inside a JSON-like value. */
  renderValue(value: unknown, vars: Vars, where: () => Where): unknown {
    if (typeof value === 'string') return this.renderString(value, vars, where);
    if (Array.isArray(value)) return value.map((v) => this.renderValue(v, vars, where));
    if (value && typeof value === 'object') {
      // A loop, not fromEntries(entries().map()): two arrays per key of every spec of every host.
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(value)) {
        const v = this.renderValue((value as Record<string, unknown>)[k], vars, where);
        // A key "__proto__" stays a key, as fromEntries made it, and never sets the prototype.
        if (k === '__proto__') Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
        else out[k] = v;
      }
      return out;
    }
    return value;
  }
}

const quote = (source: string) => `"${source.length > 80 ? source.slice(0, 80) + '…' : source}"`;

function undefinedError(m: Missing, where: Where, source: string, usedBy = ''): InputError {
  // host.* beyond name, address and roles are the host's facts: read from the host, kept by the controller.
  const fact = m.name.startsWith('host.');
  return new InputError({
    message: `${m.name} is not defined${m.known ? ` (${m.known})` : ''}, in ${quote(source)}${usedBy}`,
    where,
    hint: fact
      ? `host facts are read from the host: check the spelling against \`converge facts ${where.host ?? 'HOST'}\`, which also keeps them for validate and show (a run reads them itself)`
      : `define ${m.name} in the inventory (fleet, role or host vars), fix its spelling, or guard it: {% if ${m.name} is defined %} or {{ ${m.name} | default(...) }}`,
  });
}

function templateError(e: unknown, where: Where, source: string, usedBy = ''): InputError {
  const raw = errorMessage(e);
  const undef = /undefined value|null or undefined|undefined/.test(raw);
  const lineMatch = /\[Line (\d+), Column (\d+)\]/.exec(raw);
  const detail = raw
    .split('\n')
    .map((l) => l.trim().replace(/^\(.*?\)\s*(\[Line \d+, Column \d+\])?\s*/, '').replace(/^Error: /, ''))
    .filter((l) => l && !l.startsWith('Template render error'))
    .join(' ');
  const quoted = quote(source);
  // Never an empty reason: nunjucks' own message, else say it gave none.
  const reason = detail || raw.trim() || 'nunjucks gave no reason';
  return new InputError({
    message: undef
      ? `template uses a variable that is not defined in ${quoted}${lineMatch && !where.line ? ` (template line ${lineMatch[1]})` : ''}${usedBy}`
      : `template error in ${quoted}: ${reason}${usedBy}`,
    where,
    hint: undef
      ? 'define the variable in the inventory (fleet, role or host vars) or guard it with {% if x is defined %}'
      : /template not found/.test(raw)
        ? 'template names are paths relative to the states directory: states/web/site.conf.j2 is web/site.conf.j2'
        : /has no attribute "/.test(raw)
          ? "fix the attribute's name, or say what a missing one means: map(attribute='x', default=...), selectattr('x', 'defined')"
          : /(filter|test) not found/.test(raw)
            ? 'see the filters and tests in docs/state-language.md (nunjucks\' own, plus the Jinja and Ansible ones converge adds)'
            : 'fix the template syntax (nunjucks, Jinja-like: {{ var }}, {% if %}, {% for %})',
  });
}
