// Harbor objects as data, the way steps and AWS resources are: each kind reads Harbor once and
// returns plan entries (create / update with attribute diffs / delete / ok / unmanaged); the plan
// is shown Terraform-style, and applying it runs exactly its entries, reported through the
// engine's events (the same ok/changed/failed lines, --json and recap as a role run).
import { UserError } from '../errors.ts';
import type { EventSink, StepStatus } from '../run/types.ts';
import type { Secret } from '../secret.ts';
import type { HarborClient } from './client.ts';

export type PlanAction = 'create' | 'update' | 'delete' | 'ok' | 'unmanaged';

export interface AttrDiff {
  attr: string;
  from?: unknown;
  to?: unknown;
}

export interface PlanEntry {
  kind: string;
  name: string;
  action: PlanAction;
  diffs: AttrDiff[];
  /** Makes Harbor match this entry, with what the plan read (never re-read). Absent for ok and unmanaged. */
  apply?: () => Promise<void>;
}

/** The deployment's vault as reconcile sees it: a secret is saved before Harbor is given it. */
export interface SecretStore {
  get(key: string): Secret | undefined;
  /**
   * Keeps under `key` what `next` makes of the value kept there (undefined when none), written
   * to the vault at once and in one step (under the vault's lock where it has one).
   */
  update(key: string, next: (kept: Secret | undefined) => Secret): Promise<Secret>;
}

export interface ReconcileContext {
  client: HarborClient;
  /** Remove what Harbor holds that the spec does not name (else it is reported and kept). */
  prune: boolean;
  secrets: SecretStore;
}

/** An entry; `apply` is kept only for the actions that change something. */
export const entry = (kind: string, name: string, action: PlanAction, diffs: AttrDiff[] = [], apply?: () => Promise<void>): PlanEntry =>
  action === 'ok' || action === 'unmanaged' ? { kind, name, action, diffs } : { kind, name, action, diffs, apply };

/** Attributes whose wanted value is given and differs from Harbor's. */
export function diffAttrs(have: Record<string, unknown>, want: Record<string, unknown>): AttrDiff[] {
  return Object.entries(want)
    .filter(([k, v]) => v !== undefined && JSON.stringify(v) !== JSON.stringify(have[k]))
    .map(([attr, to]) => ({ attr, from: have[attr], to }));
}

/** What the spec does not name: kept and reported, or, with --prune, deleted. */
export function unnamed(ctx: ReconcileContext, kind: string, name: string, remove: () => Promise<void>): PlanEntry {
  return ctx.prune ? entry(kind, name, 'delete', [], remove) : entry(kind, name, 'unmanaged');
}

/** The order of work: creations and changes as planned (parents first), removals after, children first. */
export function applyOrder(entries: PlanEntry[]): PlanEntry[] {
  return [...entries.filter((e) => e.action !== 'delete'), ...entries.filter((e) => e.action === 'delete').reverse()];
}

const show = (v: unknown): string => (v === undefined ? '(unset)' : typeof v === 'string' && v !== '' ? v : JSON.stringify(v));
const SIGN: Record<PlanAction, string> = { create: '+', update: '~', delete: '-', ok: ' ', unmanaged: '?' };

/** One line per change, "attr: from → to" for each differing attribute. */
export function summary(e: PlanEntry): string {
  switch (e.action) {
    case 'create':
      return ['created', ...e.diffs.map((d) => `${d.attr}: ${show(d.to)}`)].join('; ');
    case 'update':
      return e.diffs.map((d) => `${d.attr}: ${show(d.from)} → ${show(d.to)}`).join('; ');
    case 'delete':
      return 'deleted';
    case 'unmanaged':
      return 'not in the spec: kept (--prune removes it)';
    case 'ok':
      return '';
  }
}

const count = (entries: PlanEntry[], a: PlanAction) => entries.filter((e) => e.action === a).length;

/** Terraform-style: `+`/`~`/`-` per object with its attribute diffs, `?` for unnamed ones, then the totals. */
export function formatPlan(entries: PlanEntry[]): string {
  const lines: string[] = [];
  for (const e of entries.filter((x) => x.action !== 'ok')) {
    lines.push(`  ${SIGN[e.action]} ${e.kind} ${e.name}${e.action === 'unmanaged' ? `: ${summary(e)}` : ''}`);
    if (e.action === 'create') for (const d of e.diffs) lines.push(`      ${d.attr}: ${show(d.to)}`);
    if (e.action === 'update') for (const d of e.diffs) lines.push(`      ${d.attr}: ${show(d.from)} → ${show(d.to)}`);
  }
  const kept = count(entries, 'unmanaged');
  const changes = count(entries, 'create') + count(entries, 'update') + count(entries, 'delete');
  lines.push(
    changes === 0
      ? `No changes: Harbor matches the spec (${count(entries, 'ok')} objects)${kept ? `; ${kept} not in the spec, kept` : ''}.`
      : `Plan: ${count(entries, 'create')} to add, ${count(entries, 'update')} to change, ${count(entries, 'delete')} to remove${kept ? `; ${kept} not in the spec, kept` : ''}.`,
  );
  return lines.join('\n') + '\n';
}

export const hasChanges = (entries: PlanEntry[]): boolean => entries.some((e) => e.apply);

/**
 * Runs the plan as a one-role run on the host `host` (Harbor's name): a step event per object,
 * then the recap. Check mode reports what would change and calls nothing. Stops at the first
 * failure, as a host's role run does. Returns the exit code (0, or 2 after a failure).
 */
export async function applyPlan(entries: PlanEntry[], opts: { host: string; check: boolean; sink: EventSink }): Promise<number> {
  const { host, check, sink } = opts;
  const started = performance.now();
  const recap = { ok: 0, changed: 0, unreachable: 0, failed: 0, skipped: 0, roundTrips: { exec: 0, sftp: 0 } };
  sink({ type: 'run', roles: ['harbor'], check });
  sink({ type: 'role', role: 'harbor', hosts: [host] });
  for (const e of applyOrder(entries)) {
    const t0 = performance.now();
    let status: StepStatus = e.action === 'ok' ? 'ok' : e.action === 'unmanaged' ? 'skipped' : 'changed';
    let error: string | undefined;
    if (e.apply && !check) {
      try {
        await e.apply();
      } catch (err) {
        if (!(err instanceof UserError)) throw err;
        status = 'failed';
        error = err.message;
      }
    }
    recap[status]++;
    if (status === 'changed') recap.ok++;
    sink({ type: 'step', role: 'harbor', host, step: `${e.kind} ${e.name}`, kind: `harbor ${e.kind}`, handler: false, status, summary: (status !== 'failed' && summary(e)) || undefined, error, ms: performance.now() - t0 });
    if (status === 'failed') break;
  }
  sink({ type: 'recap', hosts: { [host]: recap }, wallMs: performance.now() - started, check });
  return recap.failed > 0 ? 2 : 0;
}
