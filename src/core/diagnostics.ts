// One diagnostic shape for every error converge reports: what happened,
// where (file:line and path, or host and resource), and what to do next.

export interface Where {
  file?: string;
  line?: number;
  /** Path inside the document, e.g. resources.nginx.file.mode */
  path?: string;
  host?: string;
  resource?: string;
}

export interface Diagnostic {
  message: string;
  where: Where;
  hint?: string;
}

export function formatWhere(w: Where): string {
  const parts: string[] = [];
  if (w.file) parts.push(w.line ? `${w.file}:${w.line}` : w.file);
  else if (w.host) parts.push(`host ${w.host}`);
  if (w.path) parts.push(w.path);
  if (w.resource) parts.push(w.resource);
  return parts.join(': ');
}

/** "file:line: path: message (host h)" and a hint line saying what to do. */
export function formatDiagnostic(d: Diagnostic): string {
  const where = formatWhere(d.where);
  const onHost = d.where.file && d.where.host ? ` (host${d.where.host.includes(', ') ? 's' : ''} ${d.where.host})` : '';
  const head = (where ? `${where}: ${d.message}` : d.message) + onHost;
  return d.hint ? `${head}\n  hint: ${d.hint}` : head;
}

/** Bad input (inventory, states, templates, CLI arguments): reported before any host is touched. */
export class InputError extends Error {
  readonly diagnostics: Diagnostic[];
  constructor(diagnostics: Diagnostic[] | Diagnostic) {
    const list = Array.isArray(diagnostics) ? diagnostics : [diagnostics];
    super(list.map(formatDiagnostic).join('\n'));
    this.name = 'InputError';
    this.diagnostics = list;
  }
}

/** A failure on one host: it fails that host (or resource), never the run. */
export class HostError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'HostError';
  }
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
