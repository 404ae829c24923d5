import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Writes a file atomically (temp file in the same directory, then rename) unless it already
 * holds exactly this content, so re-running `up` leaves files and their mtimes alone.
 */
export async function writeIfChanged(file: string, content: string, mode = 0o644): Promise<boolean> {
  const old = await readFile(file, 'utf8').catch(() => null);
  if (old === content) return false;
  await mkdir(dirname(file), { recursive: true });
  const tmp = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, content, { mode, flag: 'wx' });
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  return true;
}
