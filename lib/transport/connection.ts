import { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { NodeSSH, type Config } from 'node-ssh';
import type { SFTPWrapper } from 'ssh2';
import type { SshTarget } from '../inventory/types.ts';
import { CommandTimeoutError, ConnectionLostError, UnreachableError } from './errors.ts';
import {
  hostKeyName,
  preferredHostKeyAlgorithms,
  readKnownHosts,
  recordHostKey,
  verifyHostKey,
} from './knownhosts.ts';
import { KeyStore } from './keys.ts';
import { q } from './shell.ts';
import type { Connection, ConnectionStats, ExecOptions, ExecResult } from './types.ts';

export type HostKeyChecking = 'strict' | 'accept-new' | 'off';

export interface TransportSettings {
  hostKeyChecking: HostKeyChecking;
  connectTimeoutMs: number;
  /** Default limit for one remote command; steps may ask for more. */
  commandTimeoutMs: number;
}

export type { ConnectionStats, ExecOptions, ExecResult } from './types.ts';

/** Opens a channel to address:port through the jump host's connection, to carry an inner SSH session. */
export type Forwarder = (jump: SshTarget, address: string, port: number) => Promise<Readable>;

// ssh2 throws on names it does not implement, so only these are offered first.
const HOST_KEY_ALGORITHMS = new Set([
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
]);
// Linux limits one argv string to 128 KiB; longer scripts travel on stdin instead.
const MAX_ARGV_SCRIPT = 96 * 1024;
const SFTP_OPTIONS = { concurrency: 64, chunkSize: 256 * 1024, mode: 0o600 };

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException & { level?: string };
  if (e?.level === 'client-authentication') return 'authentication failed (key not accepted)';
  if (e?.level === 'client-timeout') return 'timed out during SSH handshake';
  return e?.code && !String(e.message).includes(e.code) ? `${e.message} (${e.code})` : String(e?.message ?? err);
}

/** A TCP socket without Nagle's delay: small SSH packets (one per command) must not wait for ACKs. */
function tcpSocket(host: string, port: number): Socket {
  const sock = new Socket();
  sock.setNoDelay(true);
  sock.connect({ host, port });
  return sock;
}

/**
 * The one SSH connection to a host for a whole run (node-ssh over ssh2). Connects at first use;
 * after a drop, the next use reopens it once, and a failed reopen makes the host unreachable.
 */
export class HostConnection implements Connection {
  readonly stats: ConnectionStats = { exec: 0, sftp: 0, logins: 0, forwards: 0 };
  #ssh: NodeSSH | null = null;
  #opening: Promise<NodeSSH> | null = null;
  #sftp: Promise<SFTPWrapper> | null = null;
  #interactive: Promise<void> | undefined;
  #closed = false;

  constructor(
    readonly target: SshTarget,
    private readonly settings: TransportSettings,
    private readonly forward: Forwarder,
    private readonly warn: (message: string) => void,
    private readonly keys: KeyStore = new KeyStore(),
  ) {}

  get name(): string {
    return this.target.name;
  }

  get become(): boolean {
    return this.target.become;
  }

  /** The live node-ssh connection, opening it if needed. */
  ssh(): Promise<NodeSSH> {
    if (this.#closed) return Promise.reject(new UnreachableError(`${this.target.name}: connection closed`));
    if (this.#ssh?.isConnected()) return Promise.resolve(this.#ssh);
    this.#opening ??= this.#open().finally(() => (this.#opening = null));
    return this.#opening;
  }

  /**
   * Runs a POSIX sh script (through `sudo -n` when the target needs become). A script too long
   * for argv travels on stdin, or, when stdin carries data, in a 0600 temp file sent first.
   */
  async exec(script: string, opts: ExecOptions = {}): Promise<ExecResult> {
    if (script.length > MAX_ARGV_SCRIPT && opts.stdin !== undefined) {
      const saved = await this.exec('umask 077; t=$(mktemp) && cat > "$t" && echo "$t"', { stdin: script });
      const tmp = saved.stdout.trim();
      if (saved.code !== 0 || !tmp) throw new Error(`${this.target.name}: cannot store a long script: ${saved.stderr.trim()}`);
      return this.exec(`trap 'rm -f ${q(tmp)}' EXIT\n. ${q(tmp)}`, opts);
    }
    const client = (await this.ssh()).connection!;
    const viaStdin = opts.stdin === undefined && script.length > MAX_ARGV_SCRIPT;
    const shell = viaStdin ? '/bin/sh -s' : `/bin/sh -c ${q(script)}`;
    const line = this.target.become ? `sudo -n ${shell}` : shell;
    const stdin = viaStdin ? script : opts.stdin;
    const timeoutMs = opts.timeoutMs ?? this.settings.commandTimeoutMs;
    this.stats.exec++;
    this.#interactive ??= Promise.resolve();
    return new Promise((resolve, reject) => {
      client.exec(line, (err, ch) => {
        if (err) return reject(this.#lost(err));
        const out: Buffer[] = [];
        const errOut: Buffer[] = [];
        let exit: { code: number | null; signal?: string } | undefined;
        let timedOut = false;
        const timer = setTimeout(() => {
          timedOut = true;
          ch.signal('KILL');
          ch.close();
        }, timeoutMs);
        ch.on('data', (d: Buffer) => out.push(d));
        ch.stderr.on('data', (d: Buffer) => errOut.push(d));
        ch.on('error', () => undefined); // surfaced through 'close' without an exit status
        ch.on('exit', (code: number | null, signal?: string) => (exit = { code, signal }));
        ch.on('close', () => {
          clearTimeout(timer);
          if (timedOut) return reject(new CommandTimeoutError(`${this.target.name}: command timed out after ${timeoutMs / 1000}s`));
          if (!exit) return reject(new ConnectionLostError(`${this.target.name}: connection lost during a command`));
          const stderr = Buffer.concat(errOut).toString('utf8');
          resolve({
            code: exit.code ?? 255,
            stdout: Buffer.concat(out).toString('utf8'),
            stderr: exit.signal ? `${stderr}killed by signal ${exit.signal}\n` : stderr,
          });
        });
        ch.end(stdin);
      });
    });
  }

  /**
   * Copies a local file to remotePath (created 0600) over SFTP with many requests in flight.
   * A connection that drops meanwhile fails it at once (SFTP alone would wait forever).
   */
  async upload(localFile: string, remotePath: string, timeoutMs = this.settings.commandTimeoutMs): Promise<void> {
    const client = (await this.ssh()).connection!;
    const sftp = await this.#sftpSession();
    // Dropped between the two awaits: its 'close' has been and gone, so nothing would end the upload.
    if (this.#ssh?.connection !== client) throw new ConnectionLostError(`${this.target.name}: connection lost before an upload to ${remotePath}`);
    this.stats.sftp++;
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        client.removeListener('close', onClose);
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      const onClose = () => done(new ConnectionLostError(`${this.target.name}: connection lost during an upload to ${remotePath}`));
      const timer = setTimeout(() => {
        done(new CommandTimeoutError(`${this.target.name}: upload to ${remotePath} timed out after ${timeoutMs / 1000}s`));
        sftp.end();
      }, timeoutMs);
      client.once('close', onClose);
      sftp.fastPut(localFile, remotePath, SFTP_OPTIONS, (err) =>
        done(err ? new Error(`${this.target.name}: upload to ${remotePath} failed: ${err.message}`) : undefined),
      );
    });
  }

  /** Opens a channel from this host to address:port (it is the jump for that host). */
  async forwardOut(address: string, port: number): Promise<Readable> {
    const ssh = await this.ssh();
    // sshd turns Nagle off on a connection's socket when the connection runs its first session.
    // A jump host that only forwards would otherwise hold each small packet it relays back to us
    // ~40 ms (Nagle waiting for our delayed ACK): one empty exec first, unless one ran already.
    this.#interactive ??= this.exec('true').then(
      () => undefined,
      () => undefined,
    );
    await this.#interactive;
    this.stats.forwards++;
    try {
      return await ssh.forwardOut('127.0.0.1', 0, address, port);
    } catch (err) {
      throw new UnreachableError(`${address}:${port} cannot be reached through ${this.target.name}: ${describe(err)}`);
    }
  }

  close(): void {
    this.#closed = true;
    this.#ssh?.dispose();
    this.#ssh = null;
  }

  #lost(err: unknown): Error {
    if (this.#ssh?.isConnected()) return err instanceof Error ? err : new Error(String(err));
    return new ConnectionLostError(`${this.target.name}: connection lost (${describe(err)})`);
  }

  #sftpSession(): Promise<SFTPWrapper> {
    const current = this.#sftp;
    if (current) return current;
    const opening = this.ssh().then((ssh) => {
      this.stats.sftp++;
      return ssh.requestSFTP();
    });
    this.#sftp = opening;
    opening.catch(() => (this.#sftp = null));
    return opening;
  }

  async #open(): Promise<NodeSSH> {
    const t = this.target;
    this.#sftp = null;
    const config = await this.#config();
    const ssh = new NodeSSH();
    let refusal: string | undefined;
    config.hostVerifier = (key: Buffer, verify: (ok: boolean) => void) => {
      this.#checkHostKey(key).then(
        (problem) => {
          refusal = problem;
          verify(!problem);
        },
        (err) => {
          refusal = `cannot check host key: ${describe(err)}`;
          verify(false);
        },
      );
    };
    let sock: Readable;
    try {
      sock = config.sock = t.jump ? await this.#forwardWithin(t.jump) : tcpSocket(t.address, t.port);
      await ssh.connect(config);
    } catch (err) {
      ssh.dispose();
      throw new UnreachableError(`${t.name}: ${refusal ?? (err instanceof UnreachableError ? err.message : describe(err))}`);
    }
    this.stats.logins++;
    const client = ssh.connection!;
    // After 'ready' node-ssh stops listening for errors; an unhandled one would kill the process.
    client.on('error', () => undefined);
    // A host that goes away quietly reaches us through a jump as an EOF only: the jump keeps its
    // channel half-open, so nothing would ever fail the commands in flight. The server's EOF ends
    // the connection (closing the channel), which fails them at once and lets the next use reopen.
    client.on('end', () => sock.destroy());
    client.on('close', () => {
      if (this.#ssh !== ssh) return;
      this.#ssh = null;
      this.#sftp = null;
    });
    this.#ssh = ssh;
    this.#interactive = undefined;
    return ssh;
  }

  /** The channel through the jump host, or an error once the connect timeout has passed. */
  #forwardWithin(jump: SshTarget): Promise<Readable> {
    const ms = this.settings.connectTimeoutMs;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no channel through ${jump.name} within ${ms / 1000}s`)), ms);
      this.forward(jump, this.target.address, this.target.port).then(
        (sock) => (clearTimeout(timer), resolve(sock)),
        (err) => (clearTimeout(timer), reject(err)),
      );
    });
  }

  async #config(): Promise<Config> {
    const t = this.target;
    const known = await readKnownHosts(t.knownHostsFile);
    const preferred = preferredHostKeyAlgorithms(known, hostKeyName(t.address, t.port)).filter((a) =>
      HOST_KEY_ALGORITHMS.has(a),
    );
    const config: Config = {
      host: t.address,
      port: t.port,
      username: t.user,
      readyTimeout: this.settings.connectTimeoutMs,
      keepaliveInterval: 15_000,
      keepaliveCountMax: 3,
    };
    if (preferred.length) config.algorithms = { serverHostKey: { remove: preferred, prepend: preferred } as never };
    // Only the method we have: ssh2 would otherwise spend a round trip trying "none" first.
    Object.assign(config, await this.keys.auth(t));
    return config;
  }

  /** undefined when the key may be used; otherwise why it is refused (with fingerprints). */
  async #checkHostKey(key: Buffer): Promise<string | undefined> {
    const t = this.target;
    const mode = this.settings.hostKeyChecking;
    if (mode === 'off') return undefined;
    const name = hostKeyName(t.address, t.port);
    const verdict = verifyHostKey(await readKnownHosts(t.knownHostsFile), name, key);
    if (verdict.status === 'known') return undefined;
    if (verdict.status === 'changed') {
      return (
        `host key for ${name} has CHANGED: ${t.knownHostsFile} pins ${verdict.known.join(', ')}, ` +
        `the host offers ${verdict.offered}. If the host was rebuilt, remove the old entry and retry`
      );
    }
    if (mode === 'accept-new') {
      await recordHostKey(t.knownHostsFile, name, key);
      this.warn(`${t.name}: recorded new host key ${verdict.offered} for ${name} in ${t.knownHostsFile}`);
      return undefined;
    }
    return (
      `host key for ${name} is unknown (offered ${verdict.offered}, not in ${t.knownHostsFile}); ` +
      `add it there or run with --host-key-checking accept-new`
    );
  }
}
