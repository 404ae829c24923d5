// What the runner needs of a host: run a script (stdin given), copy a file there, close. The
// `ssh` connection (connection.ts) and the `local` one (local.ts) are its implementations.

export interface ExecOptions {
  /** Bytes for the command's stdin (how content and secrets reach the host: never argv). */
  stdin?: string | Buffer;
  timeoutMs?: number;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** What one connection cost: exec requests and SFTP operations are the round trips a run pays for. */
export interface ConnectionStats {
  exec: number;
  sftp: number;
  /** SSH handshakes made (1 unless the connection dropped and was reopened). */
  logins: number;
  /** Channels forwarded through this connection to hosts behind it. */
  forwards: number;
}

export interface Connection {
  /** The inventory host's name (for messages). */
  readonly name: string;
  /** Commands run through `sudo -n`: uploads go through /tmp. */
  readonly become: boolean;
  readonly stats: ConnectionStats;
  /** Runs a POSIX sh script; rejects only when the host cannot be reached or the command timed out. */
  exec(script: string, opts?: ExecOptions): Promise<ExecResult>;
  /** Copies a local file to remotePath, created 0600. */
  upload(localFile: string, remotePath: string): Promise<void>;
  close(): void;
}
