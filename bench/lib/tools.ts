import path from 'node:path';
import { closeMasters, countAnsibleRoundTrips, runAnsible } from './ansible.ts';
import type { BenchLab } from './lab.ts';
import type { RoundTrips, ToolRun } from './tool.ts';

/** One side of the converge comparison, as the harness drives it. */
export interface Tool {
  name: string;
  /** bench_root on the hosts: each tool has its own tree, wiped before every first converge. */
  root: string;
  /** Changes per host on fresh hosts (every changing step, plus the handler). */
  firstChanged: number;
  run(lab: BenchLab): Promise<ToolRun & { roundTrips?: Map<string, RoundTrips> }>;
  /** After a sample: drop whatever the tool keeps between runs (Ansible's ControlPersist masters). */
  endSample(): Promise<void>;
  /** Round trips per bench host of a no-op rerun, keyed by host name. */
  countRerun(lab: BenchLab): Promise<Map<string, RoundTrips>>;
}

export function ansibleTool(work: string): Tool {
  let sample = 0;
  const controlDir = () => path.join(work, `cp-${sample}`);
  const target = (lab: BenchLab) => ({
    inventoryFile: lab.info.inventoryFile,
    limit: 'registry',
    hosts: lab.hosts.length,
    root: '/srv/bench-ansible',
    controlDir: controlDir(),
  });
  return {
    name: 'Ansible',
    root: '/srv/bench-ansible',
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
