import type { Step, StepKind, StepOptions } from './types.ts';

/** A mistake in a step's definition or in what the host holds that the step cannot fix. */
export class StepError extends Error {
  override name = 'StepError';
}

/** The fields every step shares, from its options. */
export function common(kind: StepKind, opts: StepOptions, defaultName: string): Omit<Step, 'probe' | 'plan'> {
  return {
    kind,
    name: opts.name ?? defaultName,
    tags: opts.tags ?? [],
    notify: opts.notify ?? [],
    when: opts.when ?? true,
    sensitive: opts.sensitive ?? false,
    ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
    ...(opts.afterHandlers ? { afterHandlers: true } : {}),
  };
}

export function requireAbsolute(path: string, what: string): string {
  if (!path.startsWith('/')) throw new StepError(`${what}: path "${path}" must be absolute`);
  return path;
}
