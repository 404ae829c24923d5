import { existsSync } from 'node:fs';
import { readdir, readFile, readlink, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A lab's processes are exactly those living in its network namespaces: each host's init and
 * everything under it, plus anything a test started there with nsenter/ip netns exec.
 */

export function netnsPath(ns: string): string {
  return `/run/netns/${ns}`;
}

/** The inode that identifies a named network namespace, or null when it does not exist. */
export async function netnsInode(ns: string): Promise<number | null> {
  return stat(netnsPath(ns)).then((s) => s.ino, () => null);
}

/** Live processes (zombies have no namespaces left) grouped by network namespace inode, for the given inodes. */
export async function pidsInNetns(inodes: Set<number>): Promise<Map<number, number[]>> {
  const byInode = new Map<number, number[]>();
  const pids = (await readdir('/proc')).filter((d) => /^\d+$/.test(d));
  await Promise.all(
    pids.map(async (pid) => {
      const link = await readlink(`/proc/${pid}/ns/net`).catch(() => '');
      const ino = Number(/^net:\[(\d+)\]$/.exec(link)?.[1]);
      if (inodes.has(ino)) byInode.set(ino, [...(byInode.get(ino) ?? []), Number(pid)]);
    }),
  );
  return byInode;
}

/** The pid recorded in a pid file if that process is alive inside namespace `ns`, else null. */
export async function livePid(pidFile: string, ns: string): Promise<number | null> {
  // The init writes "PID\n" in one write once sshd has started; an empty file means still booting.
  const pid = Number(/^(\d+)\n$/.exec(await readFile(pidFile, 'utf8').catch(() => ''))?.[1]);
  const ino = await netnsInode(ns);
  if (!pid || ino === null) return null;
  const link = await readlink(`/proc/${pid}/ns/net`).catch(() => '');
  return link === `net:[${ino}]` ? pid : null;
}

async function parentOf(pid: number): Promise<number | null> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat ? Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) : null;
}

/** Waits until the given processes are gone from /proc: reaped, not just dead. */
async function awaitGone(pids: number[], deadline: number): Promise<void> {
  while (pids.some((pid) => existsSync(`/proc/${pid}`)) && Date.now() < deadline) await sleep(10);
}

/**
 * SIGKILLs every process in the given namespaces until none is left. Host inits go first: each
 * takes its whole PID namespace with it and is reaped by its `unshare` parent, which then exits
 * by itself (and is reaped by Node if this process started it); only stragglers that merely
 * entered a namespace are killed after that. Killing `unshare` first would leave the init a
 * zombie for the machine's init to reap, whenever it gets to it.
 */
export async function killNetnsProcesses(inodes: Set<number>, inits: number[], timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const kill = (pid: number) => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  const parents = await Promise.all(inits.map(parentOf));
  const ourWrappers = (await Promise.all(parents.map(async (p) => (p && (await parentOf(p)) === process.pid ? p : null)))).filter(
    (p): p is number => p !== null,
  );
  inits.forEach(kill);
  await awaitGone(inits, Math.min(deadline, Date.now() + 2000));
  for (;;) {
    const pids = [...(await pidsInNetns(inodes)).values()].flat();
    if (pids.length === 0) break;
    if (Date.now() > deadline) throw new Error(`processes ${pids.join(' ')} survived SIGKILL for ${timeoutMs} ms`);
    pids.forEach(kill);
    await sleep(20);
  }
  await awaitGone(ourWrappers, Math.min(deadline, Date.now() + 2000));
}

/** Proportional set size of the given processes in KiB: shared pages count once overall. */
export async function pssKiB(pids: number[]): Promise<number> {
  const sizes = await Promise.all(
    pids.map(async (pid) => {
      const text = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '');
      return Number(/^Pss:\s+(\d+) kB/m.exec(text)?.[1] ?? 0);
    }),
  );
  return sizes.reduce((a, b) => a + b, 0);
}
