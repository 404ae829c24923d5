// Checks that verify a service. They run after the handlers pending so far (afterHandlers), so
// after a changed certificate, port or user list they see the daemon the run leaves, restarted,
// not the one it found.
import { command, type Step } from '../../lib/steps/index.ts';

export interface WaitOptions {
  /** sh test that passes once the service is as wanted (read-only: it also runs with the probe). */
  test: string;
  /** How long to keep trying: a bound in time, whatever each try costs (a port that never answers). */
  seconds: number;
  /** Seconds between tries. */
  sleep: number;
  /** sh run when it gives up: says why on stderr (a log tail, container states). */
  failure: string;
}

/** sh: retries `test` until it passes; after `seconds`, runs `failure` and exits 1. */
export function waitUntil({ test, seconds, sleep, failure }: WaitOptions): string {
  return [
    `deadline=$(($(date +%s) + ${seconds}))`,
    `until ${test}; do`,
    `  if [ "$(date +%s)" -ge "$deadline" ]; then ${failure}; exit 1; fi`,
    `  sleep ${sleep}`,
    'done',
  ].join('\n');
}

/** A step verifying a service once the pending handlers ran: ok when `test` passes, else it waits for it (changed) or fails. */
export function verifyService(opts: WaitOptions & { name: string }): Step {
  return command({ name: opts.name, cmd: waitUntil(opts), unless: opts.test, afterHandlers: true, tags: ['service'] });
}
