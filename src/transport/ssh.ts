// One ssh2 connection per host, reused for every command of the run.

import { readFileSync } from 'node:fs';
import { Client, type ConnectConfig } from 'ssh2';
import { HostError } from '../core/diagnostics.js';
import { preferredHostKeyAlgorithms, verifyHostKey, type HostKeyVerdict } from './known-hosts.js';
import { commandLine, firstLineOf, invocation, quote, stderrCollector, type ExecOptions, type ExecResult, type Held, type Transport } from './transport.js';

export interface SshTarget {
  hostName: string;
  address: string;
  port: number;
  user: string;
  /** Private key file; without it, ssh-agent (SSH_AUTH_SOCK) is used. */
  keyFile?: string;
  knownHostsFile: string;
  acceptNewHostKeys: boolean;
  connectTimeoutMs?: number;
}

/** A host that could not be reached at all: reported apart from hosts that failed. */
export class UnreachableError extends HostError {
  constructor(message: string, hint?: string) {
    super(message, hint);
    this.name = 'UnreachableError';
  }
}

export class SshTransport implements Transport {
  readonly hostName: string;
  execCount = 0;
  private constructor(
    private readonly client: Client,
    private readonly target: SshTarget,
  ) {
    this.hostName = target.hostName;
  }

  static async connect(target: SshTarget): Promise<SshTransport> {
    const client = new Client();
    let verdict: HostKeyVerdict | undefined;
    const config: ConnectConfig = {
      host: target.address,
      port: target.port,
      username: target.user,
      readyTimeout: target.connectTimeoutMs ?? 15000,
      keepaliveInterval: 10000,
      hostVerifier: (key: Buffer) => {
        verdict = verifyHostKey(target.knownHostsFile, target.address, target.port, key, target.acceptNewHostKeys);
        return verdict.ok;
      },
    };
    const algorithms = preferredHostKeyAlgorithms(target.knownHostsFile, target.address, target.port);
    if (algorithms) config.algorithms = { serverHostKey: algorithms as never };
    if (target.keyFile) {
      try {
        config.privateKey = readFileSync(target.keyFile);
      } catch (e) {
        throw new UnreachableError(`cannot read ssh key ${target.keyFile}: ${(e as Error).message}`, 'set "key" in the inventory to a readable private key file');
      }
    } else if (process.env.SSH_AUTH_SOCK) {
      config.agent = process.env.SSH_AUTH_SOCK;
    }
    await new Promise<void>((resolve, reject) => {
      client.once('ready', () => resolve());
      // on, not once: a connection cut before the handshake emits a socket error and then
      // "Connection lost before handshake"; a second error with no listener kills the process.
      client.on('error', (err: Error & { level?: string }) => reject(err));
      // Without TCP_NODELAY an exec's small packets (channel open, request,
      // data, EOF) wait out Nagle and delayed ACKs: 62 ms per exec on the
      // development VM against 21 ms with it, 60 execs in a bench host's first apply.
      client.on('connect', () => client.setNoDelay(true));
      client.connect(config);
    }).catch((err: Error & { level?: string }) => {
      client.end();
      throw connectError(target, err, verdict);
    });
    return new SshTransport(client, target);
  }

  exec(script: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const { line, input } = invocation(this.target.user, opts.runAs, script, opts.stdin, opts.guard);
    this.execCount++;
    return new Promise((resolve, reject) => {
      this.client.exec(line, (err, stream) => {
        if (err) return reject(new HostError(`ssh exec failed: ${err.message}`));
        const out: Buffer[] = [];
        const errOut = stderrCollector(opts.onProgress);
        stream.on('data', (d: Buffer) => out.push(d));
        stream.stderr.on('data', (d: Buffer) => errOut.push(d));
        stream.on('close', (code: number | null | undefined, signal?: string) => {
          const cutOff =
            typeof code === 'number' ? undefined : signal ? `killed by ${signal}` : 'the SSH connection was lost; the command may still be running on the host';
          resolve({ code: code ?? (signal ? 128 : 255), stdout: Buffer.concat(out).toString('utf8'), stderr: errOut.text(), cutOff });
        });
        stream.end(input);
      });
    });
  }

  hold(script: string, onProgress?: (message: string) => void): Promise<Held> {
    this.execCount++;
    return new Promise((resolve, reject) => {
      this.client.exec(commandLine(this.target.user, undefined, `sh -c ${quote(script)}`), (err, stream) => {
        if (err) return reject(new HostError(`ssh exec failed: ${err.message}`));
        const closed = new Promise<void>((r) => stream.on('close', () => r()));
        const errOut = stderrCollector(onProgress);
        stream.stderr.on('data', (d: Buffer) => errOut.push(d));
        firstLineOf(stream, closed).then(
          (firstLine) =>
            resolve({
              firstLine,
              release: async () => {
                stream.end();
                await closed;
              },
            }),
          reject,
        );
      });
    });
  }

  async close(): Promise<void> {
    this.client.end();
  }
}

function connectError(target: SshTarget, err: Error & { level?: string }, verdict?: HostKeyVerdict): HostError {
  const where = `${target.user}@${target.address}:${target.port}`;
  if (verdict && !verdict.ok && verdict.reason === 'changed') {
    return new UnreachableError(
      `host key for ${where} CHANGED: the host offered ${verdict.type} ${verdict.fingerprint}, which does not match ${target.knownHostsFile}`,
      `if you know why the key changed (host rebuilt), remove the old line with \`ssh-keygen -f ${target.knownHostsFile} -R '${target.port === 22 ? target.address : `[${target.address}]:${target.port}`}'\` and run again with --accept-new-host-keys`,
    );
  }
  if (verdict && !verdict.ok) {
    return new UnreachableError(
      `host key for ${where} is unknown: ${verdict.type} ${verdict.fingerprint} is not in ${target.knownHostsFile}`,
      'check the fingerprint out of band, then run once with --accept-new-host-keys to record it',
    );
  }
  if (err.level === 'client-authentication') {
    return new UnreachableError(`ssh authentication as ${where} failed`, 'check "user" and "key" for this host in the inventory, or load the key into ssh-agent');
  }
  return new UnreachableError(`cannot connect to ${where}: ${err.message}`, 'check that the host is up and "address"/"port" in the inventory are right');
}
