import type { HarborProject, HarborRule } from '../client.ts';
import { entry, unnamed, type PlanEntry, type ReconcileContext } from '../plan.ts';
import type { ImmutabilitySpec } from '../spec.ts';
import { repoSelector, rulePatterns, tagSelector } from './selectors.ts';

const ruleName = (project: string, r: { repositories: string; tags: string }) => `${project}: tags ${r.tags} in ${r.repositories}`;

/** The project's immutability rules, each known by its repository and tag patterns. */
export async function planImmutability(ctx: ReconcileContext, project: string, have: HarborProject | undefined, want: ImmutabilitySpec[]): Promise<PlanEntry[]> {
  const { client } = ctx;
  const current = have ? await client.listImmutableRules(project) : [];
  const same = (r: HarborRule, w: ImmutabilitySpec) => {
    const p = rulePatterns(r);
    return p.repositories === w.repositories && p.tags === w.tags;
  };
  const out = want.map((w): PlanEntry => {
    const body = (id?: number): HarborRule => ({
      ...(id ? { id } : {}),
      priority: 0,
      disabled: w.disabled,
      action: 'immutable',
      template: 'immutable_template',
      tag_selectors: [tagSelector(w.tags)],
      scope_selectors: { repository: [repoSelector(w.repositories)] },
    });
    const r = current.find((x) => same(x, w));
    if (!r) return entry('immutability', ruleName(project, w), 'create', w.disabled ? [{ attr: 'disabled', to: true }] : [], () => client.putImmutableRule(project, body()));
    if (Boolean(r.disabled) !== w.disabled) {
      return entry('immutability', ruleName(project, w), 'update', [{ attr: 'disabled', from: Boolean(r.disabled), to: w.disabled }], () => client.putImmutableRule(project, body(r.id)));
    }
    return entry('immutability', ruleName(project, w), 'ok');
  });
  for (const r of current.filter((x) => !want.some((w) => same(x, w)))) {
    out.push(unnamed(ctx, 'immutability', ruleName(project, rulePatterns(r)), () => client.deleteImmutableRule(project, r)));
  }
  return out;
}
