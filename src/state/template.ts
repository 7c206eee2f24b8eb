// Jinja-like templating (nunjucks) for file content and for string values
// in state files. The YAML text itself is never templated, so every error
// keeps its file and line; a variable that is not defined is an error.

import nunjucks from 'nunjucks';
import { InputError, type Where } from '../core/diagnostics.js';

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

  /** Render a template file from the state tree. */
  renderFile(name: string, vars: Vars, where: () => Where): string {
    try {
      return this.env.render(name, vars);
    } catch (e) {
      throw templateError(e, { ...where(), file: `${where().file} -> template ${name}` }, name);
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

function templateError(e: unknown, where: Where, source: string): InputError {
  const raw = e instanceof Error ? e.message : String(e);
  const undef = /undefined value|null or undefined|undefined/.test(raw);
  const lineMatch = /\[Line (\d+), Column (\d+)\]/.exec(raw);
  const detail = raw.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('Template render error')).join(' ');
  return new InputError({
    message: undef
      ? `template uses a variable that is not defined in "${source.length > 80 ? source.slice(0, 80) + '…' : source}"${lineMatch ? ` (template line ${lineMatch[1]})` : ''}`
      : `template error in "${source.length > 80 ? source.slice(0, 80) + '…' : source}": ${detail}`,
    where,
    hint: undef ? 'define the variable in the inventory (fleet, role or host vars) or guard it with {% if x is defined %}' : 'fix the template syntax',
  });
}
