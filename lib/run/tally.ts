// A host's counts for the recap, as Ansible's stats keep them.
import type { HostRecap, StepStatus } from './types.ts';

export const newTally = (): HostRecap => ({ ok: 0, changed: 0, unreachable: 0, failed: 0, skipped: 0, roundTrips: { exec: 0, sftp: 0 } });

/** Counts one result: a changed step counts as ok too. */
export function count(tally: HostRecap, status: StepStatus | 'unreachable'): void {
  tally[status === 'changed' ? 'ok' : status]++;
  if (status === 'changed') tally.changed++;
}
