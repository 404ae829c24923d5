import { entry, diffAttrs, type PlanEntry, type ReconcileContext } from '../plan.ts';
import type { GcSpec } from '../spec.ts';

/** Harbor's garbage-collection schedule and its parameters (delete untagged artifacts, workers). */
export async function planGc(ctx: ReconcileContext, want: GcSpec): Promise<PlanEntry[]> {
  const { client } = ctx;
  const state = await client.gcSchedule();
  const type = state.schedule?.type;
  const exists = Boolean(type) && type !== 'None';
  let params: { delete_untagged?: boolean; workers?: number } = {};
  try {
    params = JSON.parse(state.job_parameters || '{}') as typeof params;
  } catch {
    // Unreadable parameters: every wanted one shows as a change.
  }
  const name = 'schedule';
  if (want.type === 'None') return [exists ? entry('gc', name, 'delete', [], () => client.setGcSchedule(true, { type: 'None' }, {})) : entry('gc', name, 'ok')];
  const have = { schedule: exists ? (type === 'Custom' ? state.schedule?.cron : type) : undefined, delete_untagged: params.delete_untagged, workers: params.workers };
  const diffs = diffAttrs(have, { schedule: want.cron ?? want.type, delete_untagged: want.delete_untagged, workers: want.workers });
  const parameters = { delete_untagged: want.delete_untagged ?? params.delete_untagged ?? false, workers: want.workers ?? params.workers ?? 1 };
  return [
    entry('gc', name, !exists ? 'create' : diffs.length ? 'update' : 'ok', diffs, () =>
      client.setGcSchedule(exists, { type: want.type, ...(want.cron ? { cron: want.cron } : {}) }, parameters),
    ),
  ];
}
