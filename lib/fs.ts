// Local files the controller writes: always atomically (temp file in the same directory, fsync,
// rename), so a crash leaves the old file or the new one, never half of either.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, realpath, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

interface AtomicOptions {
  mode: number;
  /** Mode of the directory when it is created. An existing one is left as it is: it may be /tmp. */
  dirMode: number;
  /** Leave the file alone (and return false) when content and mode already match. */
  skipUnchanged?: boolean;
}

/** Replaces `file` atomically; a symlinked file is written through to its target. True when written. */
export async function writeFileAtomic(file: string, data: string | Buffer, opts: AtomicOptions): Promise<boolean> {
  const target = await realpath(file).catch(() => file);
  const dir = dirname(target);
  await mkdir(dir, { recursive: true, mode: opts.dirMode });
  if (opts.skipUnchanged && (await unchanged(target, data, opts.mode))) return false;
  const temp = join(dir, `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', opts.mode);
  try {
    try {
      await handle.chmod(opts.mode); // whatever the umask
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, target);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  await syncDir(dir);
  return true;
}

async function unchanged(file: string, data: string | Buffer, mode: number): Promise<boolean> {
  const current = await readFile(file).catch(() => undefined);
  return current !== undefined && current.equals(Buffer.from(data)) && ((await stat(file)).mode & 0o7777) === mode;
}

/** Makes the rename durable; some filesystems refuse to fsync a directory, which is fine. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r').catch(() => undefined);
  await handle?.sync().catch(() => undefined);
  await handle?.close();
}

/** A secret-bearing file: 0600 in a directory made 0700. */
export async function writePrivateFile(file: string, data: string | Buffer): Promise<void> {
  await writeFileAtomic(file, data, { mode: 0o600, dirMode: 0o700 });
}

/** A public file (certificates, inventories); false, touching nothing, when it is already so. */
export function writePublicFile(path: string, content: string, mode = 0o644, dirMode = 0o755): Promise<boolean> {
  return writeFileAtomic(path, content, { mode, dirMode, skipUnchanged: true });
}
