// The read-only commands of harbor.mts: Harbor's state as tables.
import { roleName, table } from '../harbor/index.ts';
import { UserError } from '../errors.ts';
import { needArgs, type Verb } from './harbor-session.ts';

const yesNo = (b: boolean | undefined): string | undefined => (b === undefined ? undefined : b ? 'yes' : 'no');
const date = (iso: string | undefined): string => (iso ? iso.slice(0, 10) : '');
const GiB = (n: number): string => `${(n / 2 ** 30).toFixed(1)} GiB`;

const info: Verb = async (s, args) => {
  needArgs(args, 0, 'info');
  return s.withHarbor(async ({ client }) => {
    const [sys, health, volume] = await Promise.all([client.systeminfo(), client.health(), client.volumes()]);
    const rows: [string, unknown][] = [
      ['url', client.url],
      ['version', sys.harbor_version],
      ['external url', sys.external_url],
      ['registry url', sys.registry_url],
      ['auth mode', sys.auth_mode],
      ['project creation', sys.project_creation_restriction],
      ['self registration', yesNo(sys.self_registration)],
      ['ca root', yesNo(sys.has_ca_root)],
      ['storage', sys.registry_storage_provider_name],
      ['volume', volume && `${GiB(volume.free)} free of ${GiB(volume.total)} (${volume.free} of ${volume.total} bytes)`],
      ['read only', yesNo(sys.read_only)],
      ['health', health.status],
      ...(health.components ?? []).map((c): [string, unknown] => [`  ${c.name}`, c.error ? `${c.status}: ${c.error}` : c.status]),
    ];
    s.say(table(rows.filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => [`${k}:`, String(v)])));
  });
};

const users: Verb = async (s, args) => {
  needArgs(args, 0, 'users');
  return s.withHarbor(async ({ client }) => {
    const list = await client.listUsers();
    s.say(table(list.map((u) => [u.username, u.user_id, yesNo(u.sysadmin_flag), u.email, u.realname, date(u.creation_time)]), ['USER', 'ID', 'ADMIN', 'EMAIL', 'REAL NAME', 'CREATED']));
  });
};

const projects: Verb = async (s, args) => {
  needArgs(args, 0, 'projects');
  return s.withHarbor(async ({ client }) => {
    const list = await client.listProjects();
    s.say(table(list.map((p) => [p.name, p.project_id, yesNo(p.metadata?.public === 'true'), p.owner_name, p.repo_count ?? 0, date(p.creation_time)]), ['PROJECT', 'ID', 'PUBLIC', 'OWNER', 'REPOS', 'CREATED']));
  });
};

const members: Verb = async (s, args) => {
  const [project] = needArgs(args, 1, 'members PROJECT');
  return s.withHarbor(async ({ client }) => {
    if (!(await client.getProject(project!))) throw new UserError(`project ${project} not found in Harbor at ${client.url}: add it with project add ${project}`);
    const list = await client.listMembers(project!);
    s.say(table(list.map((m) => [m.entity_name, m.entity_type === 'g' ? 'group' : 'user', m.role_name ?? roleName(m.role_id), m.id]), ['MEMBER', 'TYPE', 'ROLE', 'ID']));
  });
};

export const listings: Record<string, Verb> = { info, users, projects, members };
