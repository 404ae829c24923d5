// Waiting for what AWS is still making or removing.
import { setTimeout as sleep } from 'node:timers/promises';
import { UserError } from '../../errors.ts';
import type { AwsContext } from './plan.ts';

/** One look at a resource: its state now, and the value to return once it is ready. */
export interface Look<T> {
  state: string;
  done?: T;
}

type Waiting = Pick<AwsContext, 'say' | 'pollIntervalMs' | 'waitTimeoutMs'>;

/**
 * Polls `look` every ctx.pollIntervalMs until it gives `done`; says each new state; fails after
 * ctx.waitTimeoutMs (or `timeoutMs`) with a one-line error naming `what`.
 */
export async function waitFor<T>(ctx: Waiting, what: string, look: () => Promise<Look<T>>, timeoutMs = ctx.waitTimeoutMs): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const now = await look();
    if (now.done !== undefined) return now.done;
    if (now.state !== last) ctx.say(`waiting for ${what}: ${now.state}`);
    last = now.state;
    if (Date.now() >= deadline) {
      throw new UserError(`${what} is still ${now.state} after ${Math.round(timeoutMs / 1000)} s; check it in the AWS console, then run again`);
    }
    await sleep(ctx.pollIntervalMs);
  }
}
