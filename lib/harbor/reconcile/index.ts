// The whole spec planned at once: Harbor is read in parallel per kind, and the entries come out
// in the order they apply (system configuration, users, projects and what they hold, robots, GC),
// removals reversed.
import type { PlanEntry, ReconcileContext } from '../plan.ts';
import type { HarborSpec } from '../spec.ts';
import { planConfigurations } from './configurations.ts';
import { planGc } from './gc.ts';
import { planProjects } from './projects.ts';
import { planRobots } from './robots.ts';
import { planUsers } from './users.ts';

export { planRobotRotation, robotFullName, robotSecretKey } from './robots.ts';
export { userPasswordKey } from './users.ts';
export { planMembers } from './members.ts';
export { planUsers, planProjects };

export async function planHarbor(ctx: ReconcileContext, spec: HarborSpec): Promise<PlanEntry[]> {
  const harborUsers = spec.users || spec.projects ? await ctx.client.listUsers() : [];
  const users = knownUsers(harborUsers.map((u) => u.username), spec);
  const parts = await Promise.all([
    spec.configurations ? planConfigurations(ctx, spec.configurations) : [],
    spec.users ? planUsers(ctx, spec.users, harborUsers) : [],
    spec.projects ? planProjects(ctx, spec.projects, users) : [],
    spec.robots ? planRobots(ctx, spec.robots) : [],
    spec.gc ? planGc(ctx, spec.gc) : [],
  ]);
  return parts.flat();
}

/** The users a member may name: Harbor's, plus those the spec adds, less those it removes. */
export function knownUsers(harbor: string[], spec: Pick<HarborSpec, 'users'>): Set<string> {
  const users = new Set(harbor);
  for (const [name, u] of Object.entries(spec.users ?? {})) {
    if (u.absent) users.delete(name);
    else users.add(name);
  }
  return users;
}
