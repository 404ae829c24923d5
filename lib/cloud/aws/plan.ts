// Terraform's plan and apply, for resources found by tags: each resource family reads what
// exists once and adds to the plan what apply must do about it, as data (a change, with the
// calls that make it); apply runs exactly those calls, in order, and reads nothing again.
import type { AwsClients } from './clients.ts';
import type { AwsSettings } from './settings.ts';

/** `replace`: attributes AWS cannot change in place; applied only when asked for by name (--replace). */
export type ChangeAction = 'create' | 'update' | 'replace' | 'delete' | 'ok';

export interface Change {
  action: ChangeAction;
  /** The AWS type, e.g. "vpc", "security group", "route53 record". */
  kind: string;
  /** Its Name tag (or name), e.g. "harbor-vpc". */
  name: string;
  /** Its id once known. */
  id?: string;
  /** What differs, for updates; what it is, for creates (never a secret). */
  detail?: string;
}

export interface PlannedChange extends Change {
  /** The calls that make the change; returns the id of what it made. None for `ok`, or a replace that apply cannot do. */
  run?: () => Promise<string | void>;
  /** A change this one follows from: when that one is not applied (a replace not asked for), neither is this. */
  needs?: PlannedChange;
}

export interface AwsContext {
  settings: AwsSettings;
  clients: AwsClients;
  /** Adds a change to the plan (every resource read adds one, `ok` when nothing is to do). */
  add(change: PlannedChange): void;
  /** Progress for long waits (NAT gateway, instances). */
  say(message: string): void;
  /** Between two polls of something AWS is still making (tests use a few ms). */
  pollIntervalMs: number;
  /** How long a wait may take before it fails naming what it waited for. */
  waitTimeoutMs: number;
  /** What the plan has read, by what: a Describe shared by two families is sent once. */
  reads: Map<string, Promise<unknown>>;
}

/** The answer to a read, sent once per plan. */
export function readOnce<T>(ctx: AwsContext, key: string, read: () => Promise<T>): Promise<T> {
  let answer = ctx.reads.get(key) as Promise<T> | undefined;
  if (!answer) ctx.reads.set(key, (answer = read()));
  return answer;
}

/** The id a dependent resource shows in the plan while what it depends on does not exist yet. */
export const KNOWN_AFTER_APPLY = '(known after apply)';

/** An id that exists now, or once apply has run the change that makes it. */
export class Ref {
  constructor(private value?: string) {}
  get known(): boolean {
    return this.value !== undefined;
  }
  /** The id; only apply reaches a dependent call after the change that sets it. */
  get id(): string {
    if (this.value === undefined) throw new Error('a resource was used before apply made it');
    return this.value;
  }
  set(id: string): string {
    this.value = id;
    return id;
  }
  toString(): string {
    return this.value ?? KNOWN_AFTER_APPLY;
  }
}

/** Adds `ok`, or an update made of the fixes found (each: what it says, the call that makes it). */
export function addFixes(ctx: AwsContext, change: Omit<Change, 'action' | 'detail'>, fixes: { said: string; call: () => Promise<unknown> }[]): void {
  if (!fixes.length) return ctx.add({ action: 'ok', ...change });
  ctx.add({
    action: 'update', ...change, detail: fixes.map((f) => f.said).join(', '),
    run: async () => {
      for (const fix of fixes) await fix.call();
    },
  });
}

/** Tags every taggable resource carries: how it is found again, with no state file. */
export function tagsFor(s: AwsSettings, name: string): { Key: string; Value: string }[] {
  return [
    { Key: 'Project', Value: s.project },
    { Key: 'Name', Value: name },
  ];
}

/** A found resource's Name tag, for messages. */
export const nameTag = (tags?: { Key?: string; Value?: string }[]): string => tags?.find((t) => t.Key === 'Name')?.Value ?? '?';

/** `<project>-<what>`: the Name tag of a resource. */
export const resourceName = (s: AwsSettings, what: string): string => `${s.project}-${what}`;

/** EC2 Describe* filters matching a resource by its tags. */
export function byTags(s: AwsSettings, name?: string): { Name: string; Values: string[] }[] {
  return [{ Name: 'tag:Project', Values: [s.project] }, ...(name ? [{ Name: 'tag:Name', Values: [name] }] : [])];
}

/** The one resource of a project-wide Describe answer with this Name tag. */
export const named = <T extends { Tags?: { Key?: string; Value?: string }[] }>(items: T[] | undefined, name: string): T | undefined =>
  (items ?? []).find((x) => nameTag(x.Tags) === name);

const SIGN: Record<ChangeAction, string> = { create: '+', update: '~', replace: '-/+', delete: '-', ok: ' ' };

const count = (changes: Change[], a: ChangeAction) => changes.filter((c) => c.action === a).length;

export const describeChange = (c: Change): string =>
  `${SIGN[c.action]} ${c.kind} ${c.name}${c.id && c.id !== KNOWN_AFTER_APPLY ? ` (${c.id})` : ''}${c.detail ? `: ${c.detail}` : ''}`;

/** Replaces that will not run: not asked for, or not possible in place. */
export const pendingReplaces = (changes: PlannedChange[], asked: ReadonlySet<string>): PlannedChange[] =>
  changes.filter((c) => c.action === 'replace' && !(c.run && asked.has(c.name)));

/** Terraform's plan: a line per change, then what it adds up to. */
export function formatPlan(changes: PlannedChange[], asked: ReadonlySet<string> = new Set()): string {
  const lines = changes.filter((c) => c.action !== 'ok').map((c) => `  ${describeChange(c)}`);
  const n = (a: ChangeAction) => count(changes, a);
  const pending = pendingReplaces(changes, asked);
  const replacing = n('replace') - pending.length;
  const replaces = n('replace') ? `${replacing} to replace, ` : '';
  const notes = pending.map((c) =>
    c.run ? `Pending: ${c.kind} ${c.name} is replaced only when asked: --replace ${c.name}` : `Pending: ${c.kind} ${c.name} cannot be replaced by apply (${c.detail ?? 'see above'})`,
  );
  return [...lines, `Plan: ${n('create')} to add, ${n('update')} to change, ${replaces}${n('delete')} to destroy, ${n('ok')} unchanged.`, ...notes].join('\n') + '\n';
}

/** The line that ends an apply or a destroy (its changes were shown as they happened). */
export function formatDone(done: Change[], planned: Change[], destroying: boolean): string {
  const n = (a: ChangeAction) => count(done, a);
  if (destroying) return `Destroy complete: ${n('delete')} destroyed.\n`;
  const replaced = n('replace') ? `${n('replace')} replaced, ` : '';
  return `Apply complete: ${n('create')} added, ${n('update')} changed, ${replaced}${n('delete')} destroyed, ${count(planned, 'ok')} unchanged.\n`;
}
