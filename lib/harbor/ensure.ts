// Idempotent Harbor operations, like Ansible modules: each reads first, writes only what
// differs, and says what it did (or, in check mode, what it would do, writing nothing).
import { UserError } from '../errors.ts';
import type { Secret } from '../secret.ts';
import { roleId, roleName, type HarborClient, type HarborUser } from './client.ts';

export interface Outcome {
  changed: boolean;
  /** What was (or in check mode would be) done: "created", "deleted", "role guest → developer", or "ok". */
  action: string;
  kind: 'user' | 'project' | 'member';
  name: string;
}

export interface EnsureOptions {
  /** Read only: report what would change. */
  check?: boolean;
}

const ok = (kind: Outcome['kind'], name: string, action = 'ok'): Outcome => ({ changed: false, action, kind, name });
const changed = (kind: Outcome['kind'], name: string, action: string): Outcome => ({ changed: true, action, kind, name });

export interface WantedUser {
  username: string;
  email: string;
  realname: string;
  /** Left as it is when undefined. */
  sysadmin?: boolean;
  /** Asked for only when the user must be created (so a vault is written only then). */
  password: () => Promise<Secret>;
}

export async function ensureUser(client: HarborClient, want: WantedUser, opts: EnsureOptions = {}): Promise<Outcome> {
  const have = await client.getUser(want.username);
  if (!have) {
    if (!opts.check) {
      const password = await want.password();
      const id = await client.createUser({ username: want.username, email: want.email, realname: want.realname, password });
      if (want.sysadmin) await client.setSysadmin({ user_id: id, username: want.username }, true);
    }
    return changed('user', want.username, want.sysadmin ? 'created (admin)' : 'created');
  }
  if (want.sysadmin !== undefined && have.sysadmin_flag !== want.sysadmin) {
    if (!opts.check) await client.setSysadmin(have, want.sysadmin);
    return changed('user', want.username, want.sysadmin ? 'made admin' : 'admin rights revoked');
  }
  return ok('user', want.username);
}

export async function ensureUserAbsent(client: HarborClient, username: string, opts: EnsureOptions = {}): Promise<Outcome> {
  const have = await client.getUser(username);
  if (!have) return ok('user', username, 'absent');
  if (!opts.check) await client.deleteUser(have);
  return changed('user', username, 'deleted');
}

export interface WantedProject {
  name: string;
  /** Left as it is on an existing project when undefined; private on creation. */
  public?: boolean;
  /** Bytes; applies on creation only (Harbor keeps quotas apart from the project). */
  storageLimit?: number;
}

export async function ensureProject(client: HarborClient, want: WantedProject, opts: EnsureOptions = {}): Promise<Outcome> {
  const have = await client.getProject(want.name);
  if (!have) {
    if (!opts.check) await client.createProject({ name: want.name, public: want.public ?? false, storageLimit: want.storageLimit });
    return changed('project', want.name, want.public ? 'created (public)' : 'created');
  }
  const isPublic = have.metadata?.public === 'true';
  if (want.public !== undefined && isPublic !== want.public) {
    if (!opts.check) await client.setProjectPublic(want.name, want.public);
    return changed('project', want.name, want.public ? 'made public' : 'made private');
  }
  return ok('project', want.name);
}

export async function ensureProjectAbsent(client: HarborClient, name: string, opts: EnsureOptions = {}): Promise<Outcome> {
  if (!(await client.getProject(name))) return ok('project', name, 'absent');
  if (!opts.check) await client.deleteProject(name);
  return changed('project', name, 'deleted');
}

export interface WantedMember {
  project: string;
  username: string;
  role: string;
}

export async function ensureMember(client: HarborClient, want: WantedMember, opts: EnsureOptions = {}): Promise<Outcome> {
  const role = roleId(want.role);
  const name = `${want.username} in ${want.project}`;
  await mustGetProject(client, want.project);
  const have = await client.getMember(want.project, want.username);
  if (!have) {
    await mustGetUser(client, want.username); // a clear error before Harbor's, and in check mode too
    if (!opts.check) await client.addMember(want.project, want.username, role);
    return changed('member', name, `added as ${roleName(role)}`);
  }
  if (have.role_id !== role) {
    if (!opts.check) await client.updateMember(want.project, have, role);
    return changed('member', name, `role ${roleName(have.role_id)} → ${roleName(role)}`);
  }
  return ok('member', name);
}

export async function ensureMemberAbsent(client: HarborClient, project: string, username: string, opts: EnsureOptions = {}): Promise<Outcome> {
  const name = `${username} in ${project}`;
  await mustGetProject(client, project);
  const have = await client.getMember(project, username);
  if (!have) return ok('member', name, 'absent');
  if (!opts.check) await client.removeMember(project, have);
  return changed('member', name, 'removed');
}

export async function mustGetProject(client: HarborClient, name: string) {
  const project = await client.getProject(name);
  if (!project) throw new UserError(`project ${name} not found in Harbor at ${client.url}: add it with project add ${name}`);
  return project;
}

export async function mustGetUser(client: HarborClient, username: string): Promise<HarborUser> {
  const user = await client.getUser(username);
  if (!user) throw new UserError(`user ${username} not found in Harbor at ${client.url}: add it with user add ${username}`);
  return user;
}
