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
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
  const ino = await netnsInode(ns);
  if (!pid || ino === null) return null;
  const link = await readlink(`/proc/${pid}/ns/net`).catch(() => '');
  return link === `net:[${ino}]` ? pid : null;
}

/**
 * Killed processes stay zombies until their parent reaps them: this process (Node reaps from its
 * event loop) or the machine's init. Waits a little for that, so "down" leaves no trace in /proc.
 */
async function awaitReaped(pids: Set<number>, deadline: number): Promise<void> {
  while ([...pids].some((pid) => existsSync(`/proc/${pid}`)) && Date.now() < deadline) await sleep(20);
}

/** SIGKILLs every process in the given namespaces until none is left (a host's init takes its whole PID namespace with it). */
export async function killNetnsProcesses(inodes: Set<number>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const killed = new Set<number>();
  for (;;) {
    const pids = [...(await pidsInNetns(inodes)).values()].flat();
    if (pids.length === 0) return awaitReaped(killed, Math.min(deadline, Date.now() + 3000));
    if (Date.now() > deadline) throw new Error(`processes ${pids.join(' ')} survived SIGKILL for ${timeoutMs} ms`);
    for (const pid of pids) {
      killed.add(pid);
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await sleep(50);
  }
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
