// A small typed client for Harbor's REST API v2.0 (Harbor 2.x), as an administrator.
// node:https rather than fetch: Node 20's fetch takes a custom CA only through undici's Agent,
// which is not a dependency of ours; https.request takes `ca` directly.
import https from 'node:https';
import { UserError } from '../errors.ts';
import { redact, Secret } from '../secret.ts';
import type { Configurations, ConfigurationsResponse } from './configurations.ts';

export interface HarborUser {
  user_id: number;
  username: string;
  email?: string;
  realname?: string;
  comment?: string;
  sysadmin_flag: boolean;
  creation_time?: string;
}

export interface HarborProject {
  project_id: number;
  name: string;
  owner_name?: string;
  repo_count?: number;
  creation_time?: string;
  metadata?: { public?: string; [key: string]: string | undefined };
}

export interface HarborMember {
  id: number;
  project_id: number;
  entity_name: string;
  entity_type: string;
  entity_id: number;
  role_id: number;
  role_name?: string;
}

export interface SystemInfo {
  harbor_version?: string;
  external_url?: string;
  registry_url?: string;
  auth_mode?: string;
  project_creation_restriction?: string;
  self_registration?: boolean;
  has_ca_root?: boolean;
  read_only?: boolean;
  registry_storage_provider_name?: string;
  current_time?: string;
}

export interface HarborRobot {
  id: number;
  /** The full name: robot$NAME (system) or robot$PROJECT+NAME (project). */
  name: string;
  description?: string;
  level: 'system' | 'project';
  duration: number;
  disable: boolean;
  expires_at?: number;
  permissions: { kind: string; namespace: string; access: { resource: string; action: string; effect?: string }[] }[];
}

export interface HarborQuota {
  id: number;
  hard: { storage?: number };
}

export interface HarborGroup {
  id: number;
  group_name: string;
  group_type: number;
}

/** A selector of Harbor's tag rules (retention and immutability). */
export interface RuleSelector {
  kind: string;
  decoration: string;
  pattern: string;
  extras?: string;
}

export interface HarborRule {
  id?: number;
  priority?: number;
  disabled?: boolean;
  action: string;
  template: string;
  params?: Record<string, unknown>;
  tag_selectors: RuleSelector[];
  scope_selectors: { repository: RuleSelector[] };
}

export interface HarborRetention {
  id?: number;
  algorithm: string;
  rules: HarborRule[];
  trigger: { kind: string; settings: { cron?: string }; references?: Record<string, unknown> };
  scope: { level: 'project'; ref: number };
}

export interface HarborWebhook {
  id?: number;
  name: string;
  description?: string;
  targets: { type: string; address: string; skip_cert_verify?: boolean; payload_format?: string }[];
  event_types: string[];
  enabled: boolean;
}

export interface GcScheduleState {
  schedule?: { type: string; cron?: string };
  /** Harbor returns the job's parameters as a JSON string. */
  job_parameters?: string;
}

export interface Health {
  status: string;
  components?: { name: string; status: string; error?: string }[];
}

/** Harbor's project roles and their role_id. */
export const ROLES = { projectAdmin: 1, developer: 2, guest: 3, maintainer: 4, limitedGuest: 5 } as const;

export function roleId(name: string): number {
  const id = (ROLES as Record<string, number>)[name];
  if (id === undefined) throw new UserError(`unknown role "${name}": use one of ${Object.keys(ROLES).join(', ')}`);
  return id;
}

export function roleName(id: number): string {
  return Object.entries(ROLES).find(([, v]) => v === id)?.[0] ?? `role ${id}`;
}

export interface HarborClientOptions {
  /** The Harbor site, `https://<public name>`; the API lives under /api/v2.0. */
  url: string;
  /** PEM of the CA to trust for this server (the system trust store when absent). */
  caPem?: string;
  username?: string;
  password: Secret;
  timeoutMs?: number;
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

interface RequestSpec {
  /** What is being done, for errors: "create user bob". */
  op: string;
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  query?: Record<string, string | number>;
  body?: unknown;
  /** Statuses that are answers rather than failures (404 for a lookup). */
  accept?: number[];
}

/** TLS verification failures: the server is not who the CA says, or the CA is not the right one. */
const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
]);

const PAGE_SIZE = 100;

export class HarborClient {
  readonly url: string;
  readonly username: string;
  /** The Basic authorization header, made once (a Secret: it is the password in base64). */
  readonly #authorization: Secret;
  readonly #agent: https.Agent;
  readonly #timeoutMs: number;
  readonly #base: URL;

  constructor(opts: HarborClientOptions) {
    let base: URL;
    try {
      base = new URL(opts.url);
    } catch {
      throw new UserError(`Harbor URL "${opts.url}" is not a URL: give https://<registry name>`);
    }
    // Basic auth over plain HTTP would hand the admin password to anyone on the path.
    if (base.protocol !== 'https:') throw new UserError(`Harbor URL ${opts.url}: only https:// is supported (the admin password travels with each request)`);
    this.url = base.origin;
    this.#base = new URL('/api/v2.0/', base.origin);
    this.username = opts.username ?? 'admin';
    this.#authorization = new Secret(`Basic ${Buffer.from(`${this.username}:${opts.password.reveal()}`).toString('base64')}`);
    this.#timeoutMs = opts.timeoutMs ?? 30_000;
    // rejectUnauthorized stays true: with no CA given, only the system trust store is used.
    this.#agent = new https.Agent({ keepAlive: true, ca: opts.caPem, maxSockets: 4 });
  }

  close(): void {
    this.#agent.destroy();
  }

  // --- system ---------------------------------------------------------------------------

  systeminfo(): Promise<SystemInfo> {
    return this.#json({ op: 'read system info', path: 'systeminfo' });
  }

  health(): Promise<Health> {
    return this.#json({ op: 'read health', path: 'health' });
  }

  /**
   * The user the credentials belong to. Harbor treats a failed basic auth as anonymous (so
   * listing public projects still "works"); this call is how a wrong password shows up.
   */
  currentUser(): Promise<HarborUser> {
    return this.#json({ op: `log in as ${this.username}`, path: 'users/current' });
  }

  /** System configuration (admin only): each key as {value, editable}. */
  configurations(): Promise<ConfigurationsResponse> {
    return this.#json({ op: 'read system configuration', path: 'configurations' });
  }

  /** Sets the given keys of the system configuration; others are left as they are. */
  async updateConfigurations(values: Configurations): Promise<void> {
    await this.#request({ op: `set system configuration ${Object.keys(values).join(', ')}`, method: 'PUT', path: 'configurations', body: values });
  }

  // --- users ----------------------------------------------------------------------------

  listUsers(): Promise<HarborUser[]> {
    return this.#all({ op: 'list users', path: 'users', query: { sort: 'username' } });
  }

  /** The user with exactly this name, or undefined. */
  async getUser(username: string): Promise<HarborUser | undefined> {
    const found = await this.#all<HarborUser>({ op: `look up user ${username}`, path: 'users', query: { q: `username=${username}` } });
    return found.find((u) => u.username === username);
  }

  /** Creates a local user; returns its id (from the Location header). */
  async createUser(user: { username: string; email: string; realname: string; comment?: string; password: Secret }): Promise<number> {
    const { password, ...rest } = user;
    const reply = await this.#request({
      op: `create user ${user.username}`,
      method: 'POST',
      path: 'users',
      body: { ...rest, password: password.reveal() },
    });
    return idFromLocation(reply);
  }

  async deleteUser(user: HarborUser): Promise<void> {
    await this.#request({ op: `delete user ${user.username}`, method: 'DELETE', path: `users/${user.user_id}` });
  }

  async setSysadmin(user: Pick<HarborUser, 'user_id' | 'username'>, sysadmin: boolean): Promise<void> {
    await this.#request({
      op: `${sysadmin ? 'grant' : 'revoke'} admin rights of user ${user.username}`,
      method: 'PUT',
      path: `users/${user.user_id}/sysadmin`,
      body: { sysadmin_flag: sysadmin },
    });
  }

  // --- projects -------------------------------------------------------------------------

  listProjects(): Promise<HarborProject[]> {
    return this.#all({ op: 'list projects', path: 'projects', query: { sort: 'name', with_detail: 'true' } });
  }

  /** The project with this name, or undefined. */
  async getProject(name: string): Promise<HarborProject | undefined> {
    const reply = await this.#request({ op: `read project ${name}`, path: projectPath(name), accept: [404] });
    return reply.status === 404 ? undefined : (reply.body as HarborProject);
  }

  /** Creates a project; `storageLimit` in bytes (-1 for unlimited, Harbor's default when absent). Returns its id. */
  async createProject(project: { name: string; public: boolean; storageLimit?: number; metadata?: Record<string, string> }): Promise<number> {
    const reply = await this.#request({
      op: `create project ${project.name}`,
      method: 'POST',
      path: 'projects',
      body: {
        project_name: project.name,
        metadata: { ...project.metadata, public: String(project.public) },
        ...(project.storageLimit === undefined ? {} : { storage_limit: project.storageLimit }),
      },
    });
    return idFromLocation(reply);
  }

  async setProjectPublic(name: string, isPublic: boolean): Promise<void> {
    await this.#request({
      op: `make project ${name} ${isPublic ? 'public' : 'private'}`,
      method: 'PUT',
      path: projectPath(name),
      body: { metadata: { public: String(isPublic) } },
    });
  }

  async deleteProject(name: string): Promise<void> {
    await this.#request({ op: `delete project ${name}`, method: 'DELETE', path: projectPath(name) });
  }

  // --- project members ------------------------------------------------------------------

  listMembers(project: string): Promise<HarborMember[]> {
    return this.#all({ op: `list members of project ${project}`, path: `${projectPath(project)}/members` });
  }

  /** The user member with exactly this name, or undefined (Harbor's entityname filter is a substring match). */
  async getMember(project: string, username: string): Promise<HarborMember | undefined> {
    const found = await this.#all<HarborMember>({
      op: `look up member ${username} of project ${project}`,
      path: `${projectPath(project)}/members`,
      query: { entityname: username },
    });
    return found.find((m) => m.entity_type === 'u' && m.entity_name === username);
  }

  async addMember(project: string, username: string, role: number): Promise<number> {
    const reply = await this.#request({
      op: `add user ${username} to project ${project}`,
      method: 'POST',
      path: `${projectPath(project)}/members`,
      body: { role_id: role, member_user: { username } },
    });
    return idFromLocation(reply);
  }

  async updateMember(project: string, member: HarborMember, role: number): Promise<void> {
    await this.#request({
      op: `change the role of ${member.entity_name} in project ${project}`,
      method: 'PUT',
      path: `${projectPath(project)}/members/${member.id}`,
      body: { role_id: role },
    });
  }

  async removeMember(project: string, member: HarborMember): Promise<void> {
    await this.#request({
      op: `remove ${member.entity_name} from project ${project}`,
      method: 'DELETE',
      path: `${projectPath(project)}/members/${member.id}`,
    });
  }

  async updateUser(user: HarborUser, profile: { email?: string; realname?: string; comment?: string }): Promise<void> {
    await this.#request({ op: `update user ${user.username}`, method: 'PUT', path: `users/${user.user_id}`, body: profile });
  }

  /** Project settings (Harbor's metadata strings: "true"/"false", a severity). */
  async setProjectMetadata(name: string, metadata: Record<string, string>): Promise<void> {
    await this.#request({ op: `update the settings of project ${name}`, method: 'PUT', path: projectPath(name), body: { metadata } });
  }

  async projectQuota(project: HarborProject): Promise<HarborQuota | undefined> {
    const found = await this.#all<HarborQuota>({ op: `read the quota of project ${project.name}`, path: 'quotas', query: { reference: 'project', reference_id: project.project_id } });
    return found[0];
  }

  async setQuota(project: string, quota: HarborQuota, storage: number): Promise<void> {
    await this.#request({ op: `set the storage quota of project ${project}`, method: 'PUT', path: `quotas/${quota.id}`, body: { hard: { storage } } });
  }

  /** The user group with exactly this name (LDAP, HTTP or OIDC), or undefined. */
  async getGroup(name: string): Promise<HarborGroup | undefined> {
    const found = await this.#all<HarborGroup>({ op: `look up group ${name}`, path: 'usergroups', query: { group_name: name } });
    return found.find((g) => g.group_name === name);
  }

  async addGroupMember(project: string, group: { id?: number; group_name: string; group_type?: number }, role: number): Promise<void> {
    await this.#request({ op: `add group ${group.group_name} to project ${project}`, method: 'POST', path: `${projectPath(project)}/members`, body: { role_id: role, member_group: group } });
  }

  // --- robot accounts -------------------------------------------------------------------

  listRobots(): Promise<HarborRobot[]> {
    return this.#all({ op: 'list robot accounts', path: 'robots' });
  }

  /** Creates a robot with the secret given (so it is in the vault before Harbor has it); returns its id. */
  async createRobot(robot: { name: string; description: string; level: string; duration: number; disable: boolean; permissions: HarborRobot['permissions']; secret: Secret }): Promise<number> {
    const { secret, ...rest } = robot;
    const reply = await this.#request({ op: `create robot ${robot.name}`, method: 'POST', path: 'robots', body: { ...rest, secret: secret.reveal() } });
    return idFromLocation(reply);
  }

  async updateRobot(robot: HarborRobot): Promise<void> {
    const { id, name, description, level, duration, disable, permissions } = robot;
    await this.#request({ op: `update robot ${name}`, method: 'PUT', path: `robots/${id}`, body: { id, name, description, level, duration, disable, permissions } });
  }

  async setRobotSecret(robot: HarborRobot, secret: Secret): Promise<void> {
    await this.#request({ op: `set the secret of robot ${robot.name}`, method: 'PATCH', path: `robots/${robot.id}`, body: { secret: secret.reveal() } });
  }

  async deleteRobot(robot: HarborRobot): Promise<void> {
    await this.#request({ op: `delete robot ${robot.name}`, method: 'DELETE', path: `robots/${robot.id}` });
  }

  // --- garbage collection, tag rules, webhooks ------------------------------------------

  gcSchedule(): Promise<GcScheduleState> {
    return this.#json({ op: 'read the garbage collection schedule', path: 'system/gc/schedule' });
  }

  /** POST the first schedule, PUT to change it (type None removes it). */
  async setGcSchedule(exists: boolean, schedule: { type: string; cron?: string }, parameters: Record<string, unknown>): Promise<void> {
    await this.#request({ op: 'set the garbage collection schedule', method: exists ? 'PUT' : 'POST', path: 'system/gc/schedule', body: { schedule, parameters } });
  }

  retention(id: number): Promise<HarborRetention> {
    return this.#json({ op: `read retention policy ${id}`, path: `retentions/${id}` });
  }

  /** Creates the project's retention policy (Harbor records its id in the project's metadata) or replaces it. */
  async setRetention(id: number | undefined, policy: HarborRetention): Promise<void> {
    const op = `${id ? 'update' : 'create'} the retention policy of project ${policy.scope.ref}`;
    await this.#request({ op, method: id ? 'PUT' : 'POST', path: id ? `retentions/${id}` : 'retentions', body: policy });
  }

  listImmutableRules(project: string): Promise<HarborRule[]> {
    return this.#all({ op: `list immutability rules of project ${project}`, path: `${projectPath(project)}/immutabletagrules` });
  }

  /** Creates (no id) or updates (id) an immutability rule. */
  async putImmutableRule(project: string, rule: HarborRule): Promise<void> {
    const base = `${projectPath(project)}/immutabletagrules`;
    await this.#request({ op: `${rule.id ? 'update' : 'create'} an immutability rule of project ${project}`, method: rule.id ? 'PUT' : 'POST', path: rule.id ? `${base}/${rule.id}` : base, body: rule });
  }

  async deleteImmutableRule(project: string, rule: HarborRule): Promise<void> {
    await this.#request({ op: `delete immutability rule ${rule.id} of project ${project}`, method: 'DELETE', path: `${projectPath(project)}/immutabletagrules/${rule.id}` });
  }

  listWebhooks(project: string): Promise<HarborWebhook[]> {
    return this.#all({ op: `list webhooks of project ${project}`, path: `${projectPath(project)}/webhook/policies` });
  }

  /** Creates (no id) or updates (id) a webhook policy. */
  async putWebhook(project: string, hook: HarborWebhook): Promise<void> {
    const base = `${projectPath(project)}/webhook/policies`;
    await this.#request({ op: `${hook.id ? 'update' : 'create'} webhook ${hook.name} of project ${project}`, method: hook.id ? 'PUT' : 'POST', path: hook.id ? `${base}/${hook.id}` : base, body: hook });
  }

  async deleteWebhook(project: string, hook: HarborWebhook): Promise<void> {
    await this.#request({ op: `delete webhook ${hook.name} of project ${project}`, method: 'DELETE', path: `${projectPath(project)}/webhook/policies/${hook.id}` });
  }

  /** The storage volume's size and free bytes (Harbor reports the local disk only). */
  async volumes(): Promise<{ total: number; free: number } | undefined> {
    const info = await this.#json<{ storage?: { total: number; free: number }[] }>({ op: 'read the storage volume', path: 'systeminfo/volumes' });
    return info.storage?.[0];
  }

  // --- plumbing -------------------------------------------------------------------------

  async #json<T>(spec: RequestSpec): Promise<T> {
    return (await this.#request(spec)).body as T;
  }

  /** Every page of a list (Harbor caps page_size at 100 and says the total in X-Total-Count). */
  async #all<T>(spec: RequestSpec): Promise<T[]> {
    const items: T[] = [];
    for (let page = 1; ; page++) {
      const reply = await this.#request({ ...spec, query: { ...spec.query, page, page_size: PAGE_SIZE } });
      const batch = Array.isArray(reply.body) ? (reply.body as T[]) : [];
      items.push(...batch);
      const total = Number(reply.headers['x-total-count']);
      if (batch.length < PAGE_SIZE || (Number.isFinite(total) && items.length >= total)) return items;
    }
  }

  #request(spec: RequestSpec): Promise<Reply> {
    const url = new URL(spec.path, this.#base);
    for (const [k, v] of Object.entries(spec.query ?? {})) url.searchParams.set(k, String(v));
    const payload = spec.body === undefined ? undefined : JSON.stringify(spec.body);
    const headers: Record<string, string> = {
      accept: 'application/json',
      authorization: this.#authorization.reveal(),
      // Project paths carry names; a name made of digits would otherwise be read as an id.
      'x-is-resource-name': 'true',
    };
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    return new Promise<Reply>((resolve, reject) => {
      const req = https.request(url, { method: spec.method ?? 'GET', headers, agent: this.#agent, timeout: this.#timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => reject(this.#networkError(spec.op, err)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          let body: unknown = text;
          if (text && /json/.test(String(res.headers['content-type']))) {
            try {
              body = JSON.parse(text);
            } catch {
              body = text;
            }
          }
          const reply = { status, headers: res.headers, body };
          if ((status >= 200 && status < 300) || spec.accept?.includes(status)) resolve(reply);
          else reject(this.#httpError(spec.op, reply));
        });
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
      req.on('error', (err) => reject(this.#networkError(spec.op, err)));
      req.end(payload);
    });
  }

  #httpError(op: string, reply: Reply): UserError {
    const detail = harborMessage(reply.body);
    const why = (() => {
      switch (reply.status) {
        case 401:
          return `Harbor at ${this.url} refused the credentials of ${this.username}: wrong admin password? (check the vault key harbor_admin_password; a new one reaches Harbor when the registry role converges)`;
        case 403:
          return `forbidden: ${this.username} may not do this${detail ? ` (${detail})` : ''}`;
        case 404:
          return `not found${detail ? ` (${detail})` : ''}`;
        case 409:
          return `conflict${detail ? `: ${detail}` : ''}`;
        default:
          return `Harbor answered HTTP ${reply.status}${detail ? `: ${detail}` : ''}`;
      }
    })();
    return new UserError(oneLine(`${op}: ${why}`));
  }

  #networkError(op: string, err: NodeJS.ErrnoException): UserError {
    const code = err.code ?? '';
    const host = this.#base.host;
    if (TLS_CODES.has(code)) {
      return new UserError(
        `${op}: the TLS certificate of ${host} is not trusted (${code}): pass --ca with the deployment's CA (certs/ca.crt); insecure connections are never made`,
      );
    }
    if (code === 'ETIMEDOUT') return new UserError(`${op}: ${host} did not answer within ${this.#timeoutMs / 1000} s`);
    return new UserError(oneLine(`${op}: cannot reach ${this.url} (${code || err.message})`));
  }
}

const projectPath = (name: string): string => `projects/${encodeURIComponent(name)}`;

/** Harbor's `{"errors":[{"code","message"}]}`, as "CODE: message; ...". */
function harborMessage(body: unknown): string {
  const errors = (body as { errors?: { code?: string; message?: string }[] } | undefined)?.errors;
  if (Array.isArray(errors)) return errors.map((e) => [e.code, e.message].filter(Boolean).join(': ')).join('; ');
  return typeof body === 'string' ? body.slice(0, 200) : '';
}

const oneLine = (text: string): string => redact(text.replace(/\s*\n\s*/g, ' ').trim());

function idFromLocation(reply: Reply): number {
  const location = String(reply.headers.location ?? '');
  const id = Number(location.split('/').pop());
  if (!Number.isInteger(id)) throw new UserError(`Harbor answered ${reply.status} without a usable Location header ("${location}")`);
  return id;
}
