// One apply or destroy at a time per deployment: a lock file beside the settings naming its
// holder. A holder that died (same machine, process gone) leaves a stale lock, which is taken over.
import { open, readFile, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { UserError } from '../../errors.ts';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

async function take(file: string, holder: string): Promise<boolean> {
  try {
    const fd = await open(file, 'wx', 0o644);
    await fd.writeFile(holder);
    await fd.close();
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new UserError(`${file}: cannot make the deployment's lock (${(err as NodeJS.ErrnoException).code})`);
    return false;
  }
}

/** Runs `fn` holding `<settings>.lock`; another holder's lock refuses with who holds it. */
export async function withDeploymentLock<T>(settingsFile: string, doing: string, say: (m: string) => void, fn: () => Promise<T>): Promise<T> {
  const file = `${settingsFile}.lock`;
  const holder = `pid ${process.pid} on ${hostname()} since ${new Date().toISOString()}: ${doing}\n`;
  if (!(await take(file, holder))) {
    const other = (await readFile(file, 'utf8').catch(() => '')).trim();
    const m = /^pid (\d+) on (\S+) /.exec(other);
    if (!m || m[2] !== hostname() || alive(Number(m[1]))) {
      throw new UserError(`${settingsFile} is locked by another run (${other || 'unknown holder'}): wait for it to end; if it is gone, remove ${file}`);
    }
    say(`${file}: taking over the lock of a run that is gone (${other})`);
    await unlink(file).catch(() => undefined);
    if (!(await take(file, holder))) throw new UserError(`${settingsFile} was locked by another run just now: wait for it to end`);
  }
  try {
    return await fn();
  } finally {
    // Only our own lock goes.
    if ((await readFile(file, 'utf8').catch(() => '')) === holder) await unlink(file).catch(() => undefined);
  }
}
