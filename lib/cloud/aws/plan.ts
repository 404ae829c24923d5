// Terraform's plan and apply, for resources found by tags: each `ensure` reads what exists,
// records what it does (or, planning, would do) and returns the resource's id.
import type { AwsClients } from './clients.ts';
import type { AwsSettings } from './settings.ts';

export type ChangeAction = 'create' | 'update' | 'delete' | 'ok';

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

export interface AwsContext {
  settings: AwsSettings;
  clients: AwsClients;
  /** Planning: read only, report what apply would do. */
  dryRun: boolean;
  record(change: Change): void;
  /** Progress for long waits (NAT gateway, instances). */
  say(message: string): void;
  /** Between two polls of something AWS is still making (tests use a few ms). */
  pollIntervalMs: number;
  /** How long a wait may take before it fails naming what it waited for. */
  waitTimeoutMs: number;
}

/** The id a dependent resource gets while planning, when what it depends on does not exist yet. */
export const KNOWN_AFTER_APPLY = '(known after apply)';

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

const SIGN: Record<ChangeAction, string> = { create: '+', update: '~', delete: '-', ok: ' ' };

const count = (changes: Change[], a: ChangeAction) => changes.filter((c) => c.action === a).length;

/** Terraform's plan: a line per change, then what it adds up to. */
export function formatPlan(changes: Change[]): string {
  const lines = changes
    .filter((c) => c.action !== 'ok')
    .map((c) => `  ${SIGN[c.action]} ${c.kind} ${c.name}${c.id && c.id !== KNOWN_AFTER_APPLY ? ` (${c.id})` : ''}${c.detail ? `: ${c.detail}` : ''}`);
  const n = (a: ChangeAction) => count(changes, a);
  return [...lines, `Plan: ${n('create')} to add, ${n('update')} to change, ${n('delete')} to destroy, ${n('ok')} unchanged.`].join('\n') + '\n';
}

/** The line that ends an apply or a destroy (its changes were shown as they happened). */
export function formatDone(changes: Change[], destroying: boolean): string {
  const n = (a: ChangeAction) => count(changes, a);
  return destroying
    ? `Destroy complete: ${n('delete')} destroyed.\n`
    : `Apply complete: ${n('create')} added, ${n('update')} changed, ${n('delete')} destroyed, ${n('ok')} unchanged.\n`;
}
