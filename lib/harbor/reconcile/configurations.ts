import { changesBody, diffConfigurations, requireEditable, type Configurations } from '../configurations.ts';
import { entry, type PlanEntry, type ReconcileContext } from '../plan.ts';

/** Harbor's system configuration: one object, updated in one PUT of the keys that differ. */
export async function planConfigurations(ctx: ReconcileContext, want: Configurations): Promise<PlanEntry[]> {
  const { client } = ctx;
  const current = await client.configurations();
  const changes = diffConfigurations(current, want);
  requireEditable(current, changes, client.url);
  const diffs = changes.map((c) => ({ attr: c.key, from: c.from, to: c.to }));
  return [entry('configuration', 'system', diffs.length ? 'update' : 'ok', diffs, () => client.updateConfigurations(changesBody(changes)))];
}
