import { isIP } from 'node:net';
import { UserError } from '../../errors.ts';
import type { HarborUser } from '../client.ts';
import { diffAttrs, entry, unnamed, type PlanEntry, type ReconcileContext } from '../plan.ts';
import type { UserSpec } from '../spec.ts';
import { keptOrNewSecret } from './secrets.ts';

export const userPasswordKey = (name: string): string => `harbor_users.${name}`;

/** Users as the spec names them; a new one's password is generated into the vault (harbor_users.NAME). */
export function planUsers(ctx: ReconcileContext, want: Record<string, UserSpec>, have: HarborUser[]): PlanEntry[] {
  const { client } = ctx;
  const out: PlanEntry[] = [];
  for (const [name, spec] of Object.entries(want)) {
    const user = have.find((u) => u.username === name);
    if (spec.absent) {
      out.push(user ? entry('user', name, 'delete', [], () => client.deleteUser(user)) : entry('user', name, 'ok'));
      continue;
    }
    const profile = { email: spec.email, realname: spec.realname, comment: spec.comment };
    if (!user) {
      const email = spec.email ?? defaultEmail(name, client.url);
      const diffs = diffAttrs({}, { admin: spec.admin, email, realname: spec.realname ?? name, password: `in the vault as ${userPasswordKey(name)}` });
      out.push(
        entry('user', name, 'create', diffs, async () => {
          const password = await keptOrNewSecret(ctx.secrets, userPasswordKey(name));
          const id = await client.createUser({ username: name, email, realname: spec.realname ?? name, comment: spec.comment, password });
          if (spec.admin) await client.setSysadmin({ user_id: id, username: name }, true);
        }),
      );
      continue;
    }
    const diffs = diffAttrs({ admin: user.sysadmin_flag, email: user.email, realname: user.realname, comment: user.comment }, { admin: spec.admin, ...profile });
    const profileChanged = diffs.some((d) => d.attr !== 'admin');
    out.push(
      entry('user', name, diffs.length ? 'update' : 'ok', diffs, async () => {
        if (profileChanged) await client.updateUser(user, profile);
        if (spec.admin !== undefined && spec.admin !== user.sysadmin_flag) await client.setSysadmin(user, spec.admin);
      }),
    );
  }
  // Never the account harbormaster works as (Harbor refuses that anyway).
  for (const user of have.filter((u) => !(u.username in want) && u.username !== client.username)) {
    out.push(unnamed(ctx, 'user', user.username, () => client.deleteUser(user)));
  }
  return out;
}

function defaultEmail(name: string, url: string): string {
  const host = new URL(url).hostname;
  if (isIP(host) || !host.includes('.')) throw new UserError(`user ${name}: Harbor needs an email: give harbor.users.${name}.email (or --email)`);
  return `${name}@${host}`;
}
