import type { Step } from '../steps/types.ts';
import type { Role, RoleContext } from './types.ts';

export interface TagFilter {
  tags?: string[];
  skipTags?: string[];
}

/**
 * Ansible's tag rules: with --tags a step runs when it has one of them (`all` matches every
 * step; a step tagged `always` runs unless `always` is skipped); --skip-tags removes steps
 * having any of them. Every step also carries its role's name as a tag. A step tagged `never`
 * (an operator's chore, e.g. a backup) runs only when --tags names one of its own tags.
 */
export function tagSelected(stepTags: string[], role: string, filter: TagFilter): boolean {
  const tags = new Set([...stepTags, role]);
  const skip = filter.skipTags ?? [];
  if (skip.some((t) => tags.has(t) || t === 'all')) return false;
  const want = filter.tags ?? [];
  if (stepTags.includes('never')) return want.some((t) => stepTags.includes(t));
  if (want.length === 0 || want.includes('all')) return true;
  if (tags.has('always')) return true;
  return want.some((t) => tags.has(t));
}

/** `*` wildcards in a --start-at pattern; otherwise the exact step name. */
export function nameMatcher(pattern: string): (name: string) => boolean {
  if (!pattern.includes('*')) return (name) => name === pattern;
  const re = new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
  return (name) => re.test(name);
}

/**
 * Where --start-at leaves a host: steps before the first matching one are dropped, and while
 * no step has matched (across the roles of the run) every step is. `started` carries over from
 * role to role.
 */
export function startAt<T extends Pick<Step, 'name'>>(
  steps: T[],
  matches: ((name: string) => boolean) | undefined,
  started: boolean,
): { steps: T[]; started: boolean } {
  if (!matches || started) return { steps, started: true };
  const i = steps.findIndex((s) => matches(s.name));
  return i < 0 ? { steps: [], started: false } : { steps: steps.slice(i), started: true };
}

/** Whether a later step's probe may be stale after a change: undefined paths mean "anything". */
export function mayAffect(writes: string[] | undefined, reads: string[] | undefined): boolean {
  if (writes === undefined) return true;
  if (writes.length === 0) return false;
  if (reads === undefined) return true;
  const within = (p: string, q: string) => p === q || p.startsWith(q.endsWith('/') ? q : `${q}/`);
  return writes.some((w) => reads.some((r) => within(w, r) || within(r, w)));
}

export interface RoleSelection {
  /** The steps to run, in order. */
  steps: Step[];
  handlers: Step[];
  /** --start-at: whether this host has reached the named step (carried to the next role). */
  started: boolean;
}

/**
 * What a role runs on a host (the run and --list-steps agree on it): its steps after --tags /
 * --skip-tags and --start-at, and its handlers. A step notifying no handler of the role is an error.
 */
export function roleSteps(
  role: Role,
  ctx: RoleContext,
  filter: TagFilter,
  matches: ((name: string) => boolean) | undefined,
  started: boolean,
): RoleSelection {
  const tagged = role.steps(ctx).filter((s) => tagSelected(s.tags, role.name, filter));
  const from = startAt(tagged, matches, started);
  const handlers = role.handlers?.(ctx) ?? [];
  const known = new Set(handlers.map((h) => h.name));
  for (const s of from.steps) {
    const unknown = s.notify.find((n) => !known.has(n));
    if (unknown) throw new Error(`step "${s.name}" notifies "${unknown}", which is not a handler of role ${role.name}`);
  }
  return { steps: from.steps, handlers, started: from.started };
}
