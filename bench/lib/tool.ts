/** What the harness records of one run of either tool. */

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
