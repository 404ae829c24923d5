/** What the harness records of one run of either tool, and how it drives each. */
import type { BenchLab } from './lab.ts';

export interface Recap {
  ok: number;
  changed: number;
  unreachable: number;
  failed: number;
}

export interface RoundTrips {
  /** exec requests (commands run on the host) */
  exec: number;
  /** SFTP sessions/operations */
  sftp: number;
}

export interface ToolRun {
  seconds: number;
  /** The tool's own account of its run time, without process start-up (harbormaster's recap wallMs). */
  innerSeconds?: number;
  recap: Map<string, Recap>;
}

/**
 * Fails the benchmark loudly unless every expected host finished without failures and with exactly
 * `changed` changes (all steps on fresh hosts; 0 on a rerun, which proves idempotence).
 */
export function checkRecap(tool: string, what: string, run: ToolRun, hosts: number, changed: number): void {
  const bad: string[] = [];
  if (run.recap.size !== hosts) bad.push(`recap has ${run.recap.size} hosts, expected ${hosts}`);
  for (const [host, r] of run.recap) {
    if (r.failed || r.unreachable) bad.push(`${host}: failed=${r.failed} unreachable=${r.unreachable}`);
    if (r.changed !== changed) bad.push(`${host}: changed=${r.changed}, expected ${changed}${changed ? '' : ' (not idempotent)'}`);
  }
  if (bad.length) throw new Error(`${tool} ${what}: ${bad.join('; ')}`);
}

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
