// Jinja-like templating (nunjucks) for file content and for string values
// in state files. The YAML text itself is never templated, so every error
// keeps its file and line; a variable that is not defined is an error.

import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import nunjucks from 'nunjucks';
import { errorMessage, InputError, type Where } from '../core/diagnostics.js';

export type Vars = Record<string, unknown>;

export class Templates {
  private readonly env: nunjucks.Environment;
  /** Compiled string templates: the same state text is rendered for every host. */
  private readonly compiled = new Map<string, nunjucks.Template>();
  constructor(readonly statesDir: string) {
    this.env = new nunjucks.Environment(new nunjucks.FileSystemLoader(statesDir, { noCache: false }), {
      autoescape: false,
      throwOnUndefined: true,
      trimBlocks: true,
      lstripBlocks: true,
    });
  }

  /** Render a template file from the state tree; `where` is the resource that uses it. */
  renderFile(name: string, vars: Vars, where: () => Where): string {
    const file = relative(process.cwd(), join(this.statesDir, name));
    if (!existsSync(join(this.statesDir, name))) {
      throw new InputError({ message: `template "${name}" not found (looked for ${file})`, where: where(), hint: 'template names are paths relative to the states directory: states/web/site.conf.j2 is web/site.conf.j2' });
    }
    try {
      return this.env.render(name, vars);
    } catch (e) {
      // The error is in the template file: point there, and say which resource rendered it.
      const used = where();
      const line = /\[Line (\d+), Column \d+\]/.exec(errorMessage(e))?.[1];
      throw templateError(e, { file, line: line ? Number(line) : undefined, host: used.host }, name, ` (rendered for ${used.path} at ${used.file}:${used.line})`);
    }
  }

  /**
   * Render one string value. A string that is exactly one {{ expression }}
   * yields the expression's value itself (a list stays a list).
   */
  renderString(text: string, vars: Vars, where: () => Where): unknown {
    if (!text.includes('{{') && !text.includes('{%')) return text;
    try {
      const whole = /^\{\{([^{}]*)\}\}$/.exec(text);
      if (whole) return JSON.parse(this.template(`{{ (${whole[1]}) | dump | safe }}`).render(vars));
      return this.template(text).render(vars);
    } catch (e) {
      throw templateError(e, where(), text);
    }
  }

  private template(text: string): nunjucks.Template {
    let t = this.compiled.get(text);
    if (!t) {
      t = new nunjucks.Template(text, this.env, undefined, true);
      this.compiled.set(text, t);
    }
    return t;
  }

  /** Render every string inside a JSON-like value. */
  renderValue(value: unknown, vars: Vars, where: () => Where): unknown {
    if (typeof value === 'string') return this.renderString(value, vars, where);
    if (Array.isArray(value)) return value.map((v) => this.renderValue(v, vars, where));
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.renderValue(v, vars, where)]));
    }
    return value;
  }
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
  const quoted = `"${source.length > 80 ? source.slice(0, 80) + '…' : source}"`;
  return new InputError({
    message: undef
      ? `template uses a variable that is not defined in ${quoted}${lineMatch && !where.line ? ` (template line ${lineMatch[1]})` : ''}${usedBy}`
      : `template error in ${quoted}: ${detail}${usedBy}`,
    where,
    hint: undef
      ? 'define the variable in the inventory (fleet, role or host vars) or guard it with {% if x is defined %}'
      : /template not found/.test(raw)
        ? 'template names are paths relative to the states directory: states/web/site.conf.j2 is web/site.conf.j2'
        : 'fix the template syntax (nunjucks, Jinja-like: {{ var }}, {% if %}, {% for %})',
  });
}
