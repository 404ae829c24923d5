import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Writes a public file atomically (temp file in the same directory, then rename), creating its
 * directory with `dirMode`. Returns false, touching nothing, when content and mode already match.
 */
export async function writePublicFile(path: string, content: string, mode = 0o644, dirMode = 0o755): Promise<boolean> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: dirMode });
  await chmod(dir, dirMode);
  if ((await readIfExists(path)) === content && ((await stat(path)).mode & 0o7777) === mode) return false;
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, content, { mode, flag: 'wx' });
    await chmod(tmp, mode); // the umask may have narrowed it
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  return true;
}
