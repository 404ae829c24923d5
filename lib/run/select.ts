import type { Step } from '../steps/types.ts';

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
