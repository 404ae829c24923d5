// Waiting for what AWS is still making or removing, and telling its errors apart.
import { setTimeout as sleep } from 'node:timers/promises';
import { UserError } from '../../errors.ts';
import type { AwsContext } from './plan.ts';

/** One look at a resource: its state now, and the value to return once it is ready. */
export interface Look<T> {
  state: string;
  done?: T;
}

/**
 * Polls `look` every ctx.pollIntervalMs until it gives `done`; says each new state; fails after
 * ctx.waitTimeoutMs with a one-line error naming `what`.
 */
export async function waitFor<T>(ctx: AwsContext, what: string, look: () => Promise<Look<T>>): Promise<T> {
  const deadline = Date.now() + ctx.waitTimeoutMs;
  let last = '';
  for (;;) {
    const now = await look();
    if (now.done !== undefined) return now.done;
    if (now.state !== last) ctx.say(`waiting for ${what}: ${now.state}`);
    last = now.state;
    if (Date.now() >= deadline) {
      throw new UserError(`${what} is still ${now.state} after ${Math.round(ctx.waitTimeoutMs / 1000)} s; check it in the AWS console, then run again`);
    }
    await sleep(ctx.pollIntervalMs);
  }
}

/** AWS's error code (the SDK's exception name), e.g. InvalidVpcID.NotFound. */
export const awsErrorCode = (err: unknown): string | undefined =>
  err instanceof Error && '$metadata' in err ? err.name : undefined;

/** A DependencyViolation as a one-line error naming what is still in use and what to do. */
export function explainInUse(err: unknown, what: string, hint: string): unknown {
  return awsErrorCode(err) === 'DependencyViolation' ? new UserError(`${what} is still in use (${hint})`) : err;
}
