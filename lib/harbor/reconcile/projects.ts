import type { HarborProject } from '../client.ts';
import { diffAttrs, entry, unnamed, type PlanEntry, type ReconcileContext } from '../plan.ts';
import type { ProjectSpec } from '../spec.ts';
import { planImmutability } from './immutability.ts';
import { planMembers } from './members.ts';
import { planRetention } from './retention.ts';
import { planWebhooks } from './webhooks.ts';

/** Harbor keeps project settings as metadata strings. */
function wantedMetadata(spec: ProjectSpec): Record<string, string> {
  const out: Record<string, string> = {};
  if (spec.public !== undefined) out.public = String(spec.public);
  for (const [k, v] of Object.entries(spec.settings)) if (v !== undefined) out[k] = String(v);
  return out;
}

/** Projects (visibility, quota, settings), then what each holds: members, retention, immutability, webhooks. */
export async function planProjects(ctx: ReconcileContext, want: Record<string, ProjectSpec>, users: Set<string>): Promise<PlanEntry[]> {
  const { client } = ctx;
  const all = await client.listProjects();
  const plans = await Promise.all(
    Object.entries(want).map(async ([name, spec]): Promise<PlanEntry[]> => {
      const have = all.find((p) => p.name === name);
      if (spec.absent) return [have ? entry('project', name, 'delete', [], () => client.deleteProject(name)) : entry('project', name, 'ok')];
      const metadata = wantedMetadata(spec);
      const self = have ? await updateProject(ctx, have, spec, metadata) : createProject(ctx, name, spec, metadata);
      const children = await Promise.all([
        spec.members || spec.groups ? planMembers(ctx, name, have, spec, users) : [],
        spec.retention ? planRetention(ctx, name, have, spec.retention) : [],
        spec.immutability ? planImmutability(ctx, name, have, spec.immutability) : [],
        spec.webhooks ? planWebhooks(ctx, name, have, spec.webhooks) : [],
      ]);
      return [self, ...children.flat()];
    }),
  );
  const rest = all.filter((p) => !(p.name in want)).map((p) => unnamed(ctx, 'project', p.name, () => client.deleteProject(p.name)));
  return [...plans.flat(), ...rest];
}

function createProject(ctx: ReconcileContext, name: string, spec: ProjectSpec, metadata: Record<string, string>): PlanEntry {
  const diffs = diffAttrs({}, { ...metadata, storage_limit: spec.storage_limit });
  return entry('project', name, 'create', diffs, async () => {
    await ctx.client.createProject({ name, public: spec.public ?? false, storageLimit: spec.storage_limit, metadata });
  });
}

async function updateProject(ctx: ReconcileContext, have: HarborProject, spec: ProjectSpec, metadata: Record<string, string>): Promise<PlanEntry> {
  const { client } = ctx;
  const quota = spec.storage_limit === undefined ? undefined : await client.projectQuota(have);
  const metaDiffs = diffAttrs(have.metadata ?? {}, metadata);
  const quotaDiffs = quota ? diffAttrs({ storage_limit: quota.hard.storage }, { storage_limit: spec.storage_limit }) : [];
  const diffs = [...metaDiffs, ...quotaDiffs];
  return entry('project', have.name, diffs.length ? 'update' : 'ok', diffs, async () => {
    if (metaDiffs.length) await client.setProjectMetadata(have.name, Object.fromEntries(metaDiffs.map((d) => [d.attr, String(d.to)])));
    if (quota && quotaDiffs.length) await client.setQuota(have.name, quota, spec.storage_limit!);
  });
}
