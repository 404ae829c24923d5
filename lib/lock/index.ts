// Locks between harbormaster processes: one run per inventory, one writer of a vault at a time.
// The kernel holds them (flock(2), through util-linux's `flock`: Node has no flock of its own),
// so a process that dies, even by SIGKILL, releases its lock, and the next one takes it over.
// The lock file records the holder's pid and start time, for whoever is refused or takes over.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, open, readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { UserError } from '../errors.ts';

export interface Holder {
  pid: number;
  /** When the holding process started (ISO 8601). */
  started: string;
  host: string;
}

export interface Lock {
  file: string;
  /** The previous holder, when it died holding the lock (its record was never cleared). */
  tookOver?: Holder;
  /** Clears the record and lets the lock go; safe to call twice. */
  release(): Promise<void>;
}

export interface LockOptions {
  /** What the lock guards, for messages: "inventory inventory/lab.yaml", "vault vault/lab.yaml". */
  what: string;
  /** How long to wait for the holder to let go; 0 refuses at once. */
  waitSeconds: number;
}

/** The lock of a file: hidden beside it (`.NAME.lock`), so inventory and group_vars loaders skip it. */
export const lockFileOf = (file: string): string => join(dirname(file), `.${basename(file)}.lock`);

const DEAD_HOLDER_WAIT_SECONDS = 5;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** flock's exit status when the lock is held (-E), told apart from its own failures. */
const BUSY = 75;

const self = (): Holder => ({ pid: process.pid, started: new Date(performance.timeOrigin).toISOString(), host: hostname() });

/** Takes the lock `file` (made 0600, its directory 0700, when missing), or fails naming its holder. */
export async function acquireLock(file: string, opts: LockOptions): Promise<Lock> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await (await open(file, 'a', 0o600)).close();
  const wait = opts.waitSeconds > 0 ? ['-w', String(opts.waitSeconds)] : ['-n'];
  // Its own process group: a Ctrl-C meant for the run must not release the lock under it.
  const child = spawn('flock', ['-E', String(BUSY), ...wait, file, '-c', 'echo locked && exec cat >/dev/null'], {
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  const outcome = await new Promise<'locked' | number | Error>((settle) => {
    child.stdout!.once('data', () => settle('locked'));
    child.once('error', settle);
    child.once('exit', (code) => settle(code ?? 1));
  });
  if (outcome instanceof Error) throw new UserError(`cannot lock ${file}: ${(outcome as NodeJS.ErrnoException).code === 'ENOENT' ? 'the flock command (util-linux) is not installed' : outcome.message}`);
  if (outcome === BUSY) {
    const holder = await readHolder(file);
    // A holder just killed: its flock helper lets go within moments of seeing its pipe close.
    if (holder && opts.waitSeconds === 0 && holder.host === hostname() && !alive(holder.pid)) {
      return acquireLock(file, { ...opts, waitSeconds: DEAD_HOLDER_WAIT_SECONDS });
    }
    const by = holder ? `pid ${holder.pid} on ${holder.host}, started ${holder.started}` : 'another process';
    throw new UserError(`${opts.what} is in use by ${by} (lock ${file})${opts.waitSeconds > 0 ? `; waited ${opts.waitSeconds} s` : ''}: wait for it to finish`);
  }
  if (outcome !== 'locked') throw new UserError(`cannot lock ${file}: flock exited with status ${outcome}`);
  return held(file, child, await readHolder(file));
}

/** Holding: our record in the file; the child's pipes no longer keep this process alive. */
async function held(file: string, child: ChildProcess, previous: Holder | undefined): Promise<Lock> {
  await writeRecord(file, JSON.stringify(self()) + '\n');
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr]) (stream as unknown as { unref?(): void })?.unref?.();
  let released: Promise<void> | undefined;
  return {
    file,
    ...(previous ? { tookOver: previous } : {}),
    release: () =>
      (released ??= (async () => {
        await writeRecord(file, '');
        const exited = child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise<void>((done) => child.once('exit', () => done()));
        child.ref(); // until it has exited, which is when the lock is free
        child.stdin!.end();
        await exited;
      })()),
  };
}

/** In place: renaming a new file over it would swap the inode that flock holds. */
async function writeRecord(file: string, text: string): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    await handle.truncate(0);
    await handle.write(text, 0);
  } finally {
    await handle.close();
  }
}

async function readHolder(file: string): Promise<Holder | undefined> {
  try {
    const record = JSON.parse(await readFile(file, 'utf8')) as Holder;
    return Number.isInteger(record.pid) ? record : undefined;
  } catch {
    return undefined; // empty (released) or being written
  }
}
