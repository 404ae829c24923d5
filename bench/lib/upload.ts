import { open, rm } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { labExec } from '../../lib/lab/index.ts';
import type { BenchLab } from './lab.ts';
import { BENCH_DIR, REPO_DIR } from './paths.ts';
import { mustRun } from './proc.ts';
import { repeat } from './stats.ts';

/** Random bytes, so neither side gains from compression; returns the file's sha256. */
async function makeFile(file: string, mib: number): Promise<string> {
  const f = await open(file, 'w', 0o600);
  const hash = createHash('sha256');
  try {
    for (let i = 0; i < mib; i++) {
      const chunk = randomBytes(2 ** 20);
      hash.update(chunk);
      await f.write(chunk);
    }
  } finally {
    await f.close();
  }
  return hash.digest('hex');
}

/**
 * MB/s (10^6 bytes/s) uploading a `mib` MiB file to the first bench host, through the bastion:
 * harbormaster's transport (connect + SFTP upload, in-process) against OpenSSH scp with the
 * lab's ssh_config (ProxyJump bastion, pinned known_hosts; wall time incl. connecting).
 * The destination is the host's /tmp (tmpfs), so the disk is not what is measured; each copy is
 * checked by sha256 on the host and removed.
 */
export async function benchUpload(lab: BenchLab, work: string, mib: number, samples: number, progress: (m: string) => void) {
  const local = path.join(work, `upload-${mib}m.bin`);
  const sum = await makeFile(local, mib);
  const host = lab.hosts[0]!.name;
  const remote = '/tmp/bench-upload.bin';
  const bytes = mib * 2 ** 20;
  const check = async (tool: string) => {
    const r = await labExec(lab.info, host, `sha256sum ${remote} && rm -f ${remote}`);
    if (!r.stdout.startsWith(sum)) throw new Error(`${tool} upload to ${host}: checksum mismatch (${r.stdout.trim()} ${r.stderr.trim()})`);
  };
  const mbps: { hm: number[]; other: number[] } = { hm: [], other: [] };
  try {
    await repeat(samples, async (i) => {
      const hm = await mustRun('upload.mts', 'node', [path.join(BENCH_DIR, 'upload.mts'), lab.info.inventoryFile, host, local, remote], {
        env: { ...process.env, NODE_OPTIONS: '--import=tsx' },
        cwd: REPO_DIR,
      });
      await check('harbormaster');
      const scp = await mustRun('scp', 'scp', ['-q', '-F', lab.info.sshConfig, local, `${host}:${remote}`]);
      await check('scp');
      const hmSeconds = (JSON.parse(hm.stdout.trim()) as { seconds: number }).seconds;
      mbps.hm.push(bytes / hmSeconds / 1e6);
      mbps.other.push(bytes / scp.seconds / 1e6);
      progress(`upload sample ${i + 1}/${samples}: harbormaster ${mbps.hm.at(-1)!.toFixed(0)} MB/s, scp ${mbps.other.at(-1)!.toFixed(0)} MB/s`);
    });
  } finally {
    await rm(local, { force: true });
  }
  return { mib, mbps };
}

/** bench/exec-latency.mts on the first bench host alone (as a run uses it: no exec on the bastion). */
export async function execLatency(lab: BenchLab): Promise<{ silent: number; output: number }> {
  const host = lab.hosts[0]!.name;
  const r = await mustRun('exec-latency.mts', 'node', [path.join(BENCH_DIR, 'exec-latency.mts'), lab.info.inventoryFile, host], {
    env: { ...process.env, NODE_OPTIONS: '--import=tsx' },
    cwd: REPO_DIR,
  });
  return (JSON.parse(r.stdout.trim()) as Record<string, { silent: number; output: number }>)[host]!;
}
