import { UserError } from '../../errors.ts';
import type { HarborRobot } from '../client.ts';
import { diffAttrs, entry, unnamed, type PlanEntry, type ReconcileContext } from '../plan.ts';
import type { RobotSpec } from '../spec.ts';
import { newSecret } from './secrets.ts';

export const robotSecretKey = (name: string): string => `harbor_robots.${name}`;

/** Harbor's full name: robot$NAME for a system robot, robot$PROJECT+NAME for a project's (default prefix). */
export const robotFullName = (name: string, spec: Pick<RobotSpec, 'project'>): string => `robot$${spec.project ? `${spec.project}+` : ''}${name}`;

/** Permissions as sorted lines, so order in the spec or in Harbor's answer is no difference. */
const permissionLines = (perms: HarborRobot['permissions']): string[] =>
  perms.flatMap((p) => p.access.map((a) => `${p.kind}:${p.namespace}:${a.resource}:${a.action}`)).sort();

const attrs = (r: Pick<HarborRobot, 'description' | 'duration' | 'disable' | 'permissions'>) => ({
  description: r.description ?? '',
  duration: r.duration,
  disabled: r.disable,
  permissions: permissionLines(r.permissions),
});

/**
 * Robot accounts. A new robot's secret is made here and saved in the vault (harbor_robots.NAME)
 * before Harbor gets it; it is never shown. A robot whose secret the vault lacks gets a new one.
 */
export async function planRobots(ctx: ReconcileContext, want: Record<string, RobotSpec>): Promise<PlanEntry[]> {
  const { client, secrets } = ctx;
  const have = await client.listRobots();
  const out: PlanEntry[] = [];
  for (const [name, spec] of Object.entries(want)) {
    const full = robotFullName(name, spec);
    const robot = have.find((r) => r.name === full);
    if (spec.absent) {
      out.push(robot ? entry('robot', full, 'delete', [], () => client.deleteRobot(robot)) : entry('robot', full, 'ok'));
      continue;
    }
    const wanted = { description: spec.description, duration: spec.duration, disable: spec.disabled, permissions: spec.permissions };
    if (!robot) {
      const diffs = diffAttrs({}, { ...attrs(wanted), secret: `saved to the vault as ${robotSecretKey(name)}` });
      out.push(
        entry('robot', full, 'create', diffs, async () => {
          const secret = await newSecret(secrets, robotSecretKey(name));
          await client.createRobot({ name, level: spec.project ? 'project' : 'system', ...wanted, secret });
        }),
      );
      continue;
    }
    const diffs = diffAttrs(attrs(robot), attrs(wanted));
    const noSecret = !secrets.get(robotSecretKey(name));
    if (noSecret) diffs.push({ attr: 'secret', from: 'not in the vault', to: `a new one, saved as ${robotSecretKey(name)}` });
    out.push(
      entry('robot', full, diffs.length ? 'update' : 'ok', diffs, async () => {
        if (diffs.some((d) => d.attr !== 'secret')) await client.updateRobot({ ...robot, ...wanted });
        if (noSecret) await client.setRobotSecret(robot, await newSecret(secrets, robotSecretKey(name)));
      }),
    );
  }
  const named = new Set(Object.entries(want).map(([n, s]) => robotFullName(n, s)));
  for (const robot of have.filter((r) => !named.has(r.name))) out.push(unnamed(ctx, 'robot', robot.name, () => client.deleteRobot(robot)));
  return out;
}

/** `robot rotate NAME`: a new secret, saved in the vault first, then given to Harbor. */
export async function planRobotRotation(ctx: ReconcileContext, name: string, spec: RobotSpec): Promise<PlanEntry> {
  const full = robotFullName(name, spec);
  const robot = (await ctx.client.listRobots()).find((r) => r.name === full);
  if (!robot) throw new UserError(`robot ${full} not found in Harbor at ${ctx.client.url}: create it with harbor.mts apply`);
  return entry('robot', full, 'update', [{ attr: 'secret', from: 'kept in the vault', to: `rotated, saved as ${robotSecretKey(name)}` }], async () => {
    const secret = await newSecret(ctx.secrets, robotSecretKey(name));
    try {
      await ctx.client.setRobotSecret(robot, secret);
    } catch (err) {
      throw new UserError(`${(err as Error).message}; the vault already holds the new secret: run robot rotate ${name} again`);
    }
  });
}
