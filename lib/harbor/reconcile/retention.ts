import type { HarborProject, HarborRetention, HarborRule } from '../client.ts';
import { diffAttrs, entry, type PlanEntry, type ReconcileContext } from '../plan.ts';
import type { ProjectSpec, RetentionRuleSpec } from '../spec.ts';
import { repoSelector, rulePatterns, tagSelector } from './selectors.ts';

const toRule = (r: RetentionRuleSpec): HarborRule => ({
  disabled: false,
  action: 'retain',
  template: r.template,
  params: r.value === undefined ? {} : { [r.template]: r.value },
  tag_selectors: [tagSelector(r.tags, r.untagged)],
  scope_selectors: { repository: [repoSelector(r.repositories)] },
});

/** A rule as one comparable line: "latestPushedK=10 repositories=** tags=** untagged". */
const describe = (r: HarborRule): string => {
  const p = rulePatterns(r);
  const value = r.params?.[r.template];
  return `${r.template}${value === undefined ? '' : `=${String(value)}`} repositories=${p.repositories} tags=${p.tags}${p.untagged ? ' untagged' : ''}${r.disabled ? ' disabled' : ''}`;
};

/** The project's tag retention policy (Harbor keeps one per project, its id in the project's metadata). */
export async function planRetention(ctx: ReconcileContext, project: string, have: HarborProject | undefined, want: NonNullable<ProjectSpec['retention']>): Promise<PlanEntry[]> {
  const { client } = ctx;
  const id = Number(have?.metadata?.retention_id) || undefined;
  const current = id ? await client.retention(id) : undefined;
  const rules = want.rules.map(toRule);
  const diffs = diffAttrs(
    { schedule: current?.trigger?.settings?.cron ?? '', rules: current?.rules.map(describe) },
    { schedule: want.schedule, rules: rules.map(describe) },
  );
  const name = `retention of ${project}`;
  if (current && diffs.length === 0) return [entry('retention', name, 'ok')];
  return [
    entry('retention', name, current ? 'update' : 'create', diffs, async () => {
      const ref = have?.project_id ?? (await client.getProject(project))!.project_id; // made by this apply
      const policy: HarborRetention = { algorithm: 'or', rules, trigger: { kind: 'Schedule', settings: { cron: want.schedule }, references: {} }, scope: { level: 'project', ref } };
      await client.setRetention(id, id ? { ...policy, id } : policy);
    }),
  ];
}
