import path from 'node:path';
import { labDown, labExec, labMemoryKiB, labUp, type LabInfo } from '../../lib/lab/index.ts';
import { mustRun } from './proc.ts';

/** The benchmark's own lab, so it never collides with the lab other work uses. */
export const BENCH_LAB = { name: 'blab', subnet: '10.205' };

export interface BenchLab {
  info: LabInfo;
  /** The bench hosts: the registry hosts, reached through the bastion by both tools. */
  hosts: LabInfo['hosts'];
  upSeconds: number;
}

/** A fresh lab of `registries` bench hosts (anything left from an earlier run is removed first). */
export async function freshLab(work: string, registries: number, progress: (m: string) => void): Promise<BenchLab> {
  await labDown({ name: BENCH_LAB.name });
  const started = performance.now();
  const info = await labUp({
    ...BENCH_LAB,
    registries,
    inventoryFile: path.join(work, `${BENCH_LAB.name}.yaml`),
    onProgress: (m) => progress(`lab: ${m}`),
  });
  const upSeconds = (performance.now() - started) / 1000;
  return {
    info,
    hosts: info.hosts.filter((h) => h.group === 'registry'),
    upSeconds,
  };
}

export const downLab = () => labDown({ name: BENCH_LAB.name });

/** Removes a tool's tree from every bench host (inside the hosts, not over SSH), so the next converge starts fresh. */
export async function wipe(lab: BenchLab, root: string): Promise<void> {
  await Promise.all(
    lab.hosts.map(async (h) => {
      const r = await labExec(lab.info, h.name, `rm -rf '${root}'`);
      if (r.code !== 0) throw new Error(`${h.name}: cannot remove ${root}: ${r.stderr.trim()}`);
    }),
  );
}

/** Memory of every lab process (PSS) and the disk used by all hosts' overlay upper dirs, MiB. */
export async function labCost(lab: BenchLab): Promise<{ pssMiB: number; upperMiB: number }> {
  const du = await mustRun('du', 'du', ['-sk', '-c', ...lab.info.hosts.map((h) => h.upperDir)]);
  const totalKiB = Number(/^(\d+)\s+total$/m.exec(du.stdout)?.[1] ?? 0);
  return { pssMiB: (await labMemoryKiB(lab.info)) / 1024, upperMiB: totalKiB / 1024 };
}
