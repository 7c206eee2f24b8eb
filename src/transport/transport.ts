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

/** A command kept running on the host until released (or until the connection dies). */
export interface Held {
  /** The first line the command printed. */
  firstLine: string;
  /** Close its stdin and wait for it to end. */
  release(): Promise<void>;
}

export interface Transport {
  readonly hostName: string;
  /** Exec requests sent so far: the cost a no-op run is measured in. */
  readonly execCount: number;
  exec(script: string, opts?: ExecOptions): Promise<ExecResult>;
  /**
   * Start a script (as root) that prints one line and then lives as long as
   * its stdin is open: converge's run lock is a flock held by such a command,
   * so a controller that dies releases it with its connection.
   */
  hold(script: string): Promise<Held>;
  close(): Promise<void>;
}

/** Shared by transports: resolve on the first stdout line of a held command. */
export function firstLineOf(stdout: NodeJS.ReadableStream, done: Promise<unknown>): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    stdout.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      const i = buf.indexOf('\n');
      if (i >= 0) resolve(buf.slice(0, i));
    });
    done.then(() => resolve(buf.trim()), reject);
  });
}

/**
 * Wrap a script so it runs as `runAs` given the login user: the login user
 * itself needs nothing; root becomes another user with su (always present,
 * sets HOME; -s because system users have nologin shells); anyone else
 * escalates with passwordless sudo (-n never prompts). The script goes on
 * stdin to `sh -s` unless stdin carries content, when it is a -c argument.
 */
export function commandLine(loginUser: string, runAs: string | undefined, scriptOnStdin: boolean, script: string): string {
  const target = runAs ?? 'root';
  const body = scriptOnStdin ? 'sh -s' : `sh -c ${quote(script)}`;
  if (target === loginUser) return body;
  if (loginUser === 'root') return `su -s /bin/sh -c ${quote(body)} ${quote(target)}`;
  return `sudo -n -H -u ${quote(target)} ${body}`;
}

function quote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
