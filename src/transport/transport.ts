// A transport runs sh scripts on one host. Scripts go to `sh -s` on stdin
// when no other stdin is needed, so nothing but the shell's name shows in
// the target's process list.

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  stdin?: string | Buffer;
  /** Run as this user (through sudo when it is not the login user). */
  runAs?: string;
  signal?: AbortSignal;
}

export interface Transport {
  readonly hostName: string;
  /** Exec requests sent so far: the cost a no-op run is measured in. */
  readonly execCount: number;
  exec(script: string, opts?: ExecOptions): Promise<ExecResult>;
  close(): Promise<void>;
}

/**
 * Wrap a script so it runs as `runAs` given the login user: root needs no
 * sudo; anyone else escalates with passwordless sudo (-n never prompts).
 * The script itself is passed as a quoted -c argument only when stdin is
 * taken by content; otherwise it goes on stdin to `sh -s`.
 */
export function commandLine(loginUser: string, runAs: string | undefined, scriptOnStdin: boolean, script: string): string {
  const target = runAs ?? 'root';
  const sh = scriptOnStdin ? 'sh -s' : `sh -c ${quote(script)}`;
  if (target === loginUser) return sh;
  return `sudo -n -H -u ${quote(target)} ${sh}`;
}

function quote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
