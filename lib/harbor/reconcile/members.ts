import { UserError } from '../../errors.ts';
import { roleId, roleName, type HarborClient, type HarborMember, type HarborProject } from '../client.ts';
import { entry, unnamed, type PlanEntry, type ReconcileContext } from '../plan.ts';
import type { ProjectSpec, RoleName } from '../spec.ts';

/** Harbor's group types by auth mode: groups of OIDC and HTTP auth are made on first use by name. */
const GROUP_TYPE: Record<string, number> = { http_auth: 2, oidc_auth: 3 };

const memberName = (m: { group: boolean; name: string }, project: string) => `${m.group ? 'group ' : ''}${m.name} in ${project}`;

/**
 * The project's user and group members with their roles. `users` are the users Harbor has or
 * the plan makes: a member who is neither fails at plan time, in check mode too.
 */
export async function planMembers(ctx: ReconcileContext, project: string, have: HarborProject | undefined, spec: ProjectSpec, users: Set<string>): Promise<PlanEntry[]> {
  const { client } = ctx;
  const current = have ? await client.listMembers(project) : [];
  const out: PlanEntry[] = [];
  const wanted = [
    ...Object.entries(spec.members ?? {}).map(([name, role]) => ({ name, role, group: false })),
    ...Object.entries(spec.groups ?? {}).map(([name, role]) => ({ name, role, group: true })),
  ];
  for (const w of wanted) {
    const name = memberName(w, project);
    const m = current.find((x) => x.entity_name === w.name && (x.entity_type === 'g') === w.group);
    if (w.role === 'absent') {
      out.push(m ? entry('member', name, 'delete', [], () => client.removeMember(project, m)) : entry('member', name, 'ok'));
      continue;
    }
    const role = roleId(w.role);
    if (!m) {
      if (!w.group && !users.has(w.name)) throw new UserError(`member ${name}: user ${w.name} not found in Harbor at ${client.url}: add it with user add ${w.name} (or under harbor.users)`);
      out.push(entry('member', name, 'create', [{ attr: 'role', to: w.role }], () => (w.group ? addGroup(client, project, w.name, role) : client.addMember(project, w.name, role).then(() => undefined))));
    } else if (m.role_id !== role) {
      out.push(entry('member', name, 'update', [{ attr: 'role', from: roleName(m.role_id), to: w.role satisfies RoleName }], () => client.updateMember(project, m, role)));
    } else out.push(entry('member', name, 'ok'));
  }
  // The project's creator (the account harbormaster works as) is Harbor's, not the spec's.
  const named = (m: HarborMember) => wanted.some((w) => w.name === m.entity_name && (m.entity_type === 'g') === w.group);
  for (const m of current.filter((x) => !named(x) && !(x.entity_type === 'u' && x.entity_name === client.username))) {
    if (!(m.entity_type === 'g' ? spec.groups : spec.members)) continue; // that list is not the spec's to manage
    out.push(unnamed(ctx, 'member', memberName({ group: m.entity_type === 'g', name: m.entity_name }, project), () => client.removeMember(project, m)));
  }
  return out;
}

async function addGroup(client: HarborClient, project: string, name: string, role: number): Promise<void> {
  const group = await client.getGroup(name);
  if (group) return client.addGroupMember(project, { id: group.id, group_name: name }, role);
  const mode = (await client.systeminfo()).auth_mode ?? '';
  const type = GROUP_TYPE[mode];
  if (!type) throw new UserError(`group ${name} not found in Harbor at ${client.url} (auth mode ${mode || 'unknown'}): groups come from LDAP, OIDC or an HTTP auth proxy; import it there first`);
  return client.addGroupMember(project, { group_name: name, group_type: type }, role);
}
