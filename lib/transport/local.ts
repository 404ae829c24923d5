// `ansible_connection: local` (or `-c local`): steps run on this machine, by /bin/sh, as the
// controller's user (through `sudo -n` when asked to become another). What the runner's unit
// tests drive, and what a host that is the controller itself uses.
import { spawn } from 'node:child_process';
import { chmod, copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandTimeoutError } from './errors.ts';
import type { Connection, ConnectionStats, ExecOptions, ExecResult } from './types.ts';

// One argv string may hold 128 KiB on Linux; longer scripts are read from a 0600 file.
const MAX_ARGV_SCRIPT = 96 * 1024;

export class LocalConnection implements Connection {
  readonly stats: ConnectionStats = { exec: 0, sftp: 0, logins: 0, forwards: 0 };
  #closed = false;

  constructor(
    readonly name: string,
    readonly become = false,
    private readonly commandTimeoutMs = 600_000,
  ) {}

  async exec(script: string, opts: ExecOptions = {}): Promise<ExecResult> {
    if (this.#closed) throw new Error(`${this.name}: connection closed`);
    this.stats.exec++;
    if (script.length <= MAX_ARGV_SCRIPT) return this.#run(script, opts);
    const dir = await mkdtemp(join(tmpdir(), 'hm-local-'));
    try {
      await writeFile(join(dir, 'script.sh'), script, { mode: 0o600 });
      return await this.#run(`. '${join(dir, 'script.sh')}'`, opts);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async upload(localFile: string, remotePath: string): Promise<void> {
    this.stats.sftp++;
    await copyFile(localFile, remotePath);
    await chmod(remotePath, 0o600);
  }

  close(): void {
    this.#closed = true;
  }

  /**
   * The script in its own process group: a Ctrl-C at the terminal reaches the runner, which
   * lets the step in flight finish, and a timeout kills the whole group.
   */
  #run(script: string, opts: ExecOptions): Promise<ExecResult> {
    const [cmd, args] = this.become ? ['sudo', ['-n', '/bin/sh', '-c', script]] : ['/bin/sh', ['-c', script]];
    const timeoutMs = opts.timeoutMs ?? this.commandTimeoutMs;
    return new Promise((resolve, reject) => {
      const child = spawn(cmd as string, args as string[], { detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const errOut: Buffer[] = [];
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
      }, timeoutMs);
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => errOut.push(d));
      child.stdin.on('error', () => undefined); // a script that does not read its stdin
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`${this.name}: cannot run ${cmd}: ${err.message}`));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (timedOut) return reject(new CommandTimeoutError(`${this.name}: command timed out after ${timeoutMs / 1000}s`));
        const stderr = Buffer.concat(errOut).toString('utf8');
        resolve({ code: code ?? 255, stdout: Buffer.concat(out).toString('utf8'), stderr: signal ? `${stderr}killed by signal ${signal}\n` : stderr });
      });
      child.stdin.end(opts.stdin);
    });
  }
}
