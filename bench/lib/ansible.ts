import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { BENCH_DIR } from './paths.ts';
import { mustRun, timed } from './proc.ts';
import type { BenchLab } from './lab.ts';
import type { Recap, RoundTrips, Tool, ToolRun } from './tool.ts';

const PLAYBOOK = path.join(BENCH_DIR, 'ansible', 'playbook.yml');
const CONFIG = path.join(BENCH_DIR, 'ansible', 'ansible.cfg');

export interface AnsibleTarget {
  inventoryFile: string;
  /** Inventory group (or pattern) the play runs on. */
  limit: string;
  hosts: number;
  /** bench_root on the hosts. */
  root: string;
  /** Where ControlMaster sockets live: a fresh directory means fresh connections. */
  controlDir: string;
}

function env(t: AnsibleTarget): NodeJS.ProcessEnv {
  return { ...process.env, ANSIBLE_CONFIG: CONFIG, ANSIBLE_SSH_CONTROL_PATH_DIR: t.controlDir, ANSIBLE_NOCOLOR: '1' };
}

/** ansible-playbook on the bench hosts with forks = hosts; -vvv only when counting round trips. */
export async function runAnsible(t: AnsibleTarget, verbose = false): Promise<ToolRun & { log: string }> {
  await mkdir(t.controlDir, { recursive: true, mode: 0o700 });
  const args = ['-i', t.inventoryFile, '-l', t.limit, '-f', String(t.hosts), '-e', `bench_root=${t.root}`, PLAYBOOK];
  if (verbose) args.unshift('-vvv');
  const r = await mustRun('ansible-playbook', 'ansible-playbook', args, { env: env(t) });
  return { seconds: r.seconds, recap: parseRecap(r.stdout), log: r.stdout };
}

/** Ends the ControlPersist masters of a sample so the next sample starts with no connection. */
export async function closeMasters(controlDir: string): Promise<void> {
  const sockets = await readdir(controlDir).catch(() => [] as string[]);
  await Promise.all(sockets.map((s) => timed('ssh', ['-o', `ControlPath=${path.join(controlDir, s)}`, '-O', 'exit', 'bench'])));
  await rm(controlDir, { recursive: true, force: true });
}

/** PLAY RECAP lines: `host : ok=26 changed=25 unreachable=0 failed=0 ...`. */
export function parseRecap(out: string): Map<string, Recap> {
  const recap = new Map<string, Recap>();
  const line = /^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/gm;
  for (const m of out.matchAll(line)) {
    recap.set(m[1]!, { ok: +m[2]!, changed: +m[3]!, unreachable: +m[4]!, failed: +m[5]! });
  }
  return recap;
}

/**
 * Round trips per host from a -vvv log: every `SSH: EXEC ssh` is one exec request on the
 * multiplexed connection (the first also opens the master); every `SSH: EXEC sftp|scp` is a
 * file transfer session. Hosts are keyed by the address Ansible logs (`<10.205.1.2>`).
 */
export function countAnsibleRoundTrips(log: string): Map<string, RoundTrips> {
  const per = new Map<string, RoundTrips>();
  for (const m of log.matchAll(/^<([^>]+)> SSH: EXEC (\S+)/gm)) {
    const rt = per.get(m[1]!) ?? { exec: 0, sftp: 0 };
    if (/(^|\/)(sftp|scp)$/.test(m[2]!)) rt.sftp++;
    else rt.exec++;
    per.set(m[1]!, rt);
  }
  return per;
}

/** ansible-playbook as the harness drives it: a fresh ControlPath directory per sample. */
export function ansibleTool(work: string): Tool {
  const root = '/srv/bench-ansible';
  let sample = 0;
  const controlDir = () => path.join(work, `cp-${sample}`);
  const target = (lab: BenchLab) => ({
    inventoryFile: lab.info.inventoryFile,
    limit: 'registry',
    hosts: lab.hosts.length,
    root,
    controlDir: controlDir(),
  });
  return {
    name: 'Ansible',
    root,
    // 24 changing tasks (the stat task never changes) + the handler
    firstChanged: 25,
    run: (lab) => runAnsible(target(lab)),
    async endSample() {
      await closeMasters(controlDir());
      sample++;
    },
    async countRerun(lab) {
      const byAddress = countAnsibleRoundTrips((await runAnsible(target(lab), true)).log);
      await this.endSample();
      return new Map(lab.hosts.map((h) => [h.name, byAddress.get(h.address) ?? { exec: 0, sftp: 0 }]));
    },
  };
}
