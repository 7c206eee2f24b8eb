// Values marked sensitive must never reach a log, a diff, a report or a
// process argument list. Every text converge prints passes through a Redactor
// that knows every secret value of the run, so even an error message that
// quotes a secret by accident prints "(sensitive)" instead.

export const REDACTED = '(sensitive)';

export class Redactor {
  private readonly secrets = new Set<string>();

  add(value: unknown): void {
    if (typeof value === 'string' && value.length >= 4) this.secrets.add(value);
    else if (typeof value === 'number') this.add(String(value));
    else if (Array.isArray(value)) value.forEach((v) => this.add(v));
    else if (value && typeof value === 'object') Object.values(value).forEach((v) => this.add(v));
  }

  get empty(): boolean {
    return this.secrets.size === 0;
  }

  /** True when the text contains any secret value. */
  touches(text: string): boolean {
    for (const s of this.secrets) if (text.includes(s)) return true;
    return false;
  }

  redact(text: string): string {
    let out = text;
    // Longest first, so a secret that contains another is replaced whole.
    for (const s of [...this.secrets].sort((a, b) => b.length - a.length)) out = out.split(s).join(REDACTED);
    return out;
  }

  /** Deep copy of a JSON-like value with every secret replaced. */
  redactValue<T>(value: T): T {
    return JSON.parse(this.redact(JSON.stringify(value) ?? 'null')) as T;
  }
}

/** The redactor of this process: the CLI loads secrets into it and redacts everything it prints with it. */
export const processRedactor = new Redactor();
