// A stateful stand-in for Harbor's REST API v2.0 (Harbor 2.x) over real HTTPS with a certificate
// from lib/pki: only what lib/harbor uses, on the wire as Harbor speaks it (paths, q= syntax,
// paging with X-Total-Count, field names, 201 + Location, Harbor's error JSON, and its auth rules:
// a failed basic auth is treated as anonymous, not refused outright). Every request is first
// checked against Harbor's own swagger when ../shared holds it (harbor-swagger.ts): one that does
// not conform is answered 422, as go-swagger would, and kept in `violations` for the test to fail on.
import { randomUUID } from 'node:crypto';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createCa, issueServerCert, type KeyPair } from '../../lib/pki/index.ts';
import { harborSwagger, type HarborSwagger } from './harbor-swagger.ts';

interface User {
  user_id: number;
  username: string;
  email: string;
  realname: string;
  comment: string;
  password: string;
  sysadmin_flag: boolean;
  deleted: boolean;
  creation_time: string;
}

interface Project {
  project_id: number;
  name: string;
  owner_id: number;
  metadata: Record<string, string>;
  storage_limit: number;
  creation_time: string;
}

interface Member {
  id: number;
  project_id: number;
  /** A user's id, or a group's when `group` is set. */
  user_id: number;
  group?: boolean;
  role_id: number;
}

interface Group {
  id: number;
  group_name: string;
  group_type: number;
}

interface Robot {
  id: number;
  name: string;
  description: string;
  level: 'system' | 'project';
  project_id: number;
  duration: number;
  disable: boolean;
  secret: string;
  permissions: { kind: string; namespace: string; access: { resource: string; action: string; effect?: string }[] }[];
  creation: number;
}

interface Rule {
  id: number;
  priority: number;
  disabled: boolean;
  action: string;
  template: string;
  params?: Record<string, unknown>;
  tag_selectors: unknown[];
  scope_selectors: Record<string, unknown[]>;
}

interface Retention {
  id: number;
  algorithm: string;
  rules: Rule[];
  trigger: unknown;
  scope: { level: string; ref: number };
}

interface Webhook {
  id: number;
  project_id: number;
  name: string;
  description: string;
  targets: { type: string; address: string; auth_header?: string; skip_cert_verify?: boolean; payload_format?: string }[];
  event_types: string[];
  enabled: boolean;
  creation_time: string;
}

interface GcSchedule {
  type: string;
  cron: string;
  parameters: Record<string, unknown>;
  creation_time: string;
}

export interface MockCall {
  method: string;
  path: string;
  status: number;
  /** The authenticated user, or "anonymous". */
  as: string;
}

export interface HarborMock {
  /** https://127.0.0.1:PORT (the certificate carries IP:127.0.0.1 and DNS:harbor.test). */
  url: string;
  caPem: string;
  adminPassword: string;
  calls: MockCall[];
  /** Whether requests are checked against Harbor's swagger (it is in ../shared). */
  conformance: boolean;
  /** What requests did that Harbor's swagger does not allow: a test passes only with none. */
  violations: string[];
  /** Calls that could change state (anything but GET and HEAD). */
  writes(): MockCall[];
  /** A user made directly in the state (not through the API), e.g. a non-admin to test 403. */
  seedUser(username: string, password: string): void;
  users(): string[];
  projects(): string[];
  /** The project's storage quota in bytes (-1: unlimited), as set on creation or through /quotas. */
  storageLimit(project: string): number | undefined;
  /** A group made directly in the state, as LDAP/OIDC would bring it. */
  seedGroup(name: string, type?: number): void;
  /** A robot's current secret (what a client would log in with), by its full name. */
  robotSecret(fullName: string): string | undefined;
  robots(): string[];
  /** System configuration values as Harbor holds them (GET/PUT /configurations). */
  configurations: Record<string, string | number | boolean>;
  close(): Promise<void>;
}

const ROLE_NAMES: Record<number, string> = { 1: 'projectAdmin', 2: 'developer', 3: 'guest', 4: 'maintainer', 5: 'limitedGuest' };
const PROJECT_NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
const EMAIL = /^[^<>()[\]\\.,;:\s@"]+(\.[^<>()[\]\\.,;:\s@"]+)*@([a-zA-Z0-9-]+\.)+[a-zA-Z]{2,}$/;
const ILLEGAL = /[,~#$%]/;
const ROBOT_NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
const BOOL_METADATA = ['public', 'enable_content_trust', 'enable_content_trust_cosign', 'prevent_vul', 'auto_scan', 'auto_sbom_generation', 'reuse_sys_cve_allowlist'];
const SEVERITIES = ['none', 'low', 'medium', 'high', 'critical'];
const RETENTION_TEMPLATES = ['always', 'latestPushedK', 'latestPulledN', 'nDaysSinceLastPush', 'nDaysSinceLastPull'];
const WEBHOOK_EVENTS = ['PUSH_ARTIFACT', 'PULL_ARTIFACT', 'DELETE_ARTIFACT', 'SCANNING_COMPLETED', 'SCANNING_FAILED', 'SCANNING_STOPPED', 'QUOTA_EXCEED', 'QUOTA_WARNING', 'REPLICATION', 'TAG_RETENTION'];
const GC_CRONS: Record<string, string> = { Hourly: '0 0 * * * *', Daily: '0 0 0 * * *', Weekly: '0 0 0 * * 0' };

/** Harbor's password rule: 8 to 128 characters with at least one upper, one lower and one digit. */
const goodPassword = (p: string): boolean => p.length >= 8 && p.length <= 128 && /[A-Z]/.test(p) && /[a-z]/.test(p) && /\d/.test(p);

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
const unauthorized = () => new HttpError(401, 'UNAUTHORIZED', 'unauthorized');
const forbidden = () => new HttpError(403, 'FORBIDDEN', 'forbidden');
const notFound = (what: string) => new HttpError(404, 'NOT_FOUND', what);
const badRequest = (what: string) => new HttpError(400, 'BAD_REQUEST', what);
const weakPassword = () => badRequest('the password or secret must be longer than 8 chars with at least 1 uppercase letter, 1 lowercase letter and 1 number');

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

let pki: Promise<{ ca: KeyPair; leaf: KeyPair }> | undefined;
/** One CA and certificate per test process: RSA keys take seconds to make. */
function mockPki() {
  return (pki ??= (async () => {
    const ca = await createCa({ commonName: 'harbor mock CA' });
    const leaf = await issueServerCert({
      ca,
      sans: [
        { type: 'DNS', value: 'harbor.test' },
        { type: 'IP', value: '127.0.0.1' },
      ],
    });
    return { ca, leaf };
  })());
}

type Handler = (req: IncomingMessage, url: URL, params: string[], body: unknown, me: User | undefined) => Reply;

export async function startHarborMock(
  opts: { adminPassword?: string; swagger?: HarborSwagger | false; configurations?: Record<string, string | number | boolean> } = {},
): Promise<HarborMock> {
  const adminPassword = opts.adminPassword ?? 'Harbor12345';
  const swagger = opts.swagger === false ? undefined : (opts.swagger ?? harborSwagger());
  const now = () => new Date().toISOString();
  const users: User[] = [];
  const projects: Project[] = [];
  const members: Member[] = [];
  const groups: Group[] = [];
  const robots: Robot[] = [];
  const retentions: Retention[] = [];
  const immutable = new Map<number, Rule[]>();
  const webhooks: Webhook[] = [];
  let gc: GcSchedule | undefined;
  const ids = { user: 0, project: 0, member: 0, group: 0, robot: 0, retention: 0, rule: 0, webhook: 0 };
  const calls: MockCall[] = [];
  const violations: string[] = [];
  // Harbor's system configuration (a subset), as a deployment leaves it unless opts say otherwise.
  const configurations: Record<string, string | number | boolean> = {
    auth_mode: 'db_auth', project_creation_restriction: 'adminonly', self_registration: false, read_only: false,
    token_expiration: 30, robot_token_duration: 30, session_timeout: 60, notification_enable: true,
    quota_per_project_enable: true, storage_per_project: -1, banner_message: '',
    ...opts.configurations,
  };

  const addUser = (u: Omit<User, 'user_id' | 'deleted' | 'creation_time'>): User => {
    const user = { ...u, user_id: ++ids.user, deleted: false, creation_time: now() };
    users.push(user);
    return user;
  };
  addUser({ username: 'admin', email: 'admin@example.com', realname: 'system admin', comment: 'admin user', password: adminPassword, sysadmin_flag: true });
  // Harbor ships with the public project "library", owned by admin.
  const library: Project = { project_id: ++ids.project, name: 'library', owner_id: 1, metadata: { public: 'true' }, storage_limit: -1, creation_time: now() };
  projects.push(library);
  members.push({ id: ++ids.member, project_id: library.project_id, user_id: 1, role_id: 1 });

  const live = () => users.filter((u) => !u.deleted);
  const userById = (id: number) => live().find((u) => u.user_id === id);
  const userByName = (name: string) => live().find((u) => u.username === name);

  /** Basic auth; a wrong or missing credential is anonymous, as in Harbor's security middleware. */
  function caller(req: IncomingMessage): User | undefined {
    const [scheme, token] = (req.headers.authorization ?? '').split(' ');
    if (scheme !== 'Basic' || !token) return undefined;
    const text = Buffer.from(token, 'base64').toString('utf8');
    const colon = text.indexOf(':');
    const user = userByName(text.slice(0, colon));
    return user && user.password === text.slice(colon + 1) ? user : undefined;
  }

  const requireAdmin = (me: User | undefined): User => {
    if (!me) throw unauthorized();
    if (!me.sysadmin_flag) throw forbidden();
    return me;
  };

  const roleIn = (me: User, project: Project) => members.find((m) => m.project_id === project.project_id && !m.group && m.user_id === me.user_id)?.role_id;

  /** A project by the path's name-or-id, honouring X-Is-Resource-Name; then the caller's right to it. */
  function projectFor(req: IncomingMessage, nameOrId: string, me: User | undefined, need: 'read' | 'admin'): Project {
    const asName = req.headers['x-is-resource-name'] === 'true' || !/^\d+$/.test(nameOrId);
    const project = projects.find((p) => (asName ? p.name === nameOrId : p.project_id === Number(nameOrId)));
    if (!project) throw notFound(`project ${nameOrId} not found`);
    if (need === 'read' && project.metadata.public === 'true') return project;
    if (!me) throw unauthorized();
    if (me.sysadmin_flag) return project;
    const role = roleIn(me, project);
    if (role === undefined || (need === 'admin' && role !== 1)) throw forbidden();
    return project;
  }

  /** Harbor's q= syntax: `k=v` exact, `k=~v` fuzzy, joined by commas (ranges and lists not needed here). */
  function matches(q: string | null, fields: Record<string, string>): boolean {
    if (!q) return true;
    return q.split(',').every((term) => {
      const eq = term.indexOf('=');
      if (eq < 1) throw badRequest(`invalid query: ${term}`);
      const key = term.slice(0, eq);
      const raw = term.slice(eq + 1);
      const value = fields[key];
      if (value === undefined) return true; // Harbor ignores keys a resource does not filter on
      return raw.startsWith('~') ? value.includes(raw.slice(1)) : value === raw;
    });
  }

  /** page/page_size as Harbor: page_size at most 100 (go-swagger refuses more with 422); X-Total-Count. */
  function paged<T>(url: URL, items: T[]): Reply {
    const page = Number(url.searchParams.get('page') ?? 1);
    const size = Number(url.searchParams.get('page_size') ?? 10);
    if (!Number.isInteger(size) || size > 100 || size < 0) {
      throw new HttpError(422, 'UNPROCESSABLE_ENTITY', 'page_size in query should be less than or equal to 100');
    }
    const slice = size === 0 ? items : items.slice((page - 1) * size, page * size);
    return { status: 200, body: slice, headers: { 'X-Total-Count': String(items.length) } };
  }

  const userJson = (u: User) => ({
    user_id: u.user_id,
    username: u.username,
    email: u.email,
    realname: u.realname,
    comment: u.comment,
    sysadmin_flag: u.sysadmin_flag,
    admin_role_in_auth: false,
    creation_time: u.creation_time,
    update_time: u.creation_time,
  });
  const projectJson = (p: Project, me: User | undefined) => ({
    project_id: p.project_id,
    name: p.name,
    owner_id: p.owner_id,
    owner_name: userById(p.owner_id)?.username ?? '',
    repo_count: 0,
    creation_time: p.creation_time,
    update_time: p.creation_time,
    deleted: false,
    current_user_role_id: me ? (roleIn(me, p) ?? 0) : 0,
    metadata: p.metadata,
  });
  const memberJson = (m: Member) => ({
    id: m.id,
    project_id: m.project_id,
    entity_name: (m.group ? groups.find((g) => g.id === m.user_id)?.group_name : userById(m.user_id)?.username) ?? '',
    entity_type: m.group ? 'g' : 'u',
    entity_id: m.user_id,
    role_id: m.role_id,
    role_name: ROLE_NAMES[m.role_id],
  });
  const robotName = (r: Robot) => `robot$${r.level === 'project' ? `${projects.find((p) => p.project_id === r.project_id)?.name}+` : ''}${r.name}`;
  const expiresAt = (r: Robot) => (r.duration === -1 ? -1 : r.creation + r.duration * 86400);
  const robotJson = (r: Robot) => ({
    id: r.id,
    name: robotName(r),
    description: r.description,
    level: r.level,
    duration: r.duration,
    editable: true,
    disable: r.disable,
    expires_at: expiresAt(r),
    permissions: r.permissions,
    creator_type: 'local',
    creator_ref: 1,
    creation_time: new Date(r.creation * 1000).toISOString(),
    update_time: new Date(r.creation * 1000).toISOString(),
  });
  const webhookJson = (w: Webhook) => ({ ...w, creator: 'admin', update_time: w.creation_time });
  const created = (location: string): Reply => ({ status: 201, headers: { Location: location } });
  const ok: Reply = { status: 200 };
  const object = (body: unknown): Record<string, unknown> => {
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('invalid request body');
    return body as Record<string, unknown>;
  };
  const str = (v: unknown) => (typeof v === 'string' ? v : '');
  const byId = <T extends { id: number }>(list: T[], id: string, what: string): T => {
    const found = list.find((x) => x.id === Number(id));
    if (!found) throw notFound(`${what} ${id} not found`);
    return found;
  };
  const remove = <T>(list: T[], gone: (x: T) => boolean) => {
    for (let i = list.length - 1; i >= 0; i--) if (gone(list[i]!)) list.splice(i, 1);
  };

  function checkMetadata(metadata: Record<string, unknown>): Record<string, string> {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new HttpError(422, 'UNPROCESSABLE_ENTITY', `metadata.${k} in body must be of type string`);
      if (BOOL_METADATA.includes(k) && v !== 'true' && v !== 'false') throw badRequest(`invalid ${k} value: ${v}`);
      if (k === 'severity' && !SEVERITIES.includes(v)) throw badRequest(`invalid severity value: ${v}`);
    }
    return metadata as Record<string, string>;
  }
  function checkStorage(limit: unknown): number {
    if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < -1 || limit === 0) throw badRequest(`invalid storage limit ${String(limit)}`);
    return limit;
  }
  /** Harbor's rule for immutability and retention rules: selectors of kind doublestar, one repository scope. */
  function checkRule(b: Record<string, unknown>, templates: string[]): Rule {
    const rule = b as unknown as Rule;
    if (!templates.includes(rule.template)) throw badRequest(`invalid template ${String(rule.template)}`);
    const tags = (rule.tag_selectors ?? []) as { kind?: string; pattern?: string }[];
    const repos = (rule.scope_selectors?.repository ?? []) as { kind?: string; pattern?: string }[];
    if (tags.length === 0 || repos.length === 0) throw badRequest('a rule needs a tag selector and a repository scope selector');
    for (const s of [...tags, ...repos]) if (s.kind !== 'doublestar' || !s.pattern) throw badRequest('selectors must be of kind doublestar with a pattern');
    return { id: 0, priority: 0, disabled: false, action: rule.action, template: rule.template, params: rule.params, tag_selectors: tags, scope_selectors: { repository: repos } };
  }
  function checkPermissions(level: string, project: Project | undefined, perms: unknown): Robot['permissions'] {
    if (!Array.isArray(perms) || perms.length === 0) throw badRequest('a robot needs at least one permission');
    for (const p of perms as Robot['permissions']) {
      if (level === 'project' && (p.kind !== 'project' || p.namespace !== project?.name)) throw badRequest('a project robot may only hold permissions of its own project');
      if (p.kind === 'project' && p.namespace !== '*' && !projects.some((x) => x.name === p.namespace)) throw notFound(`project ${p.namespace} not found`);
      if (p.kind === 'system' && p.namespace !== '/') throw badRequest('system permissions have namespace /');
      if (!Array.isArray(p.access) || p.access.length === 0 || p.access.some((a) => !a.resource || !a.action)) throw badRequest('every permission needs access items with resource and action');
    }
    return perms as Robot['permissions'];
  }
  const robotSecret = (secret: string): string => {
    if (!goodPassword(secret)) throw weakPassword();
    return secret;
  };
  const quotaJson = (p: Project) => ({
    id: p.project_id,
    ref: { id: p.project_id, name: p.name, owner_name: userById(p.owner_id)?.username ?? '' },
    hard: { storage: p.storage_limit },
    used: { storage: 0 },
    creation_time: p.creation_time,
    update_time: p.creation_time,
  });
  const gcJson = (g: GcSchedule) => ({
    id: 1,
    job_name: 'GARBAGE_COLLECTION',
    job_kind: 'SCHEDULE',
    job_parameters: JSON.stringify(g.parameters),
    schedule: { type: g.type, cron: g.cron },
    job_status: 'Scheduled',
    deleted: false,
    creation_time: g.creation_time,
    update_time: g.creation_time,
  });
  function gcSchedule(body: unknown): GcSchedule | undefined {
    const b = object(body);
    const schedule = object(b.schedule);
    const type = str(schedule.type);
    if (type === 'None') return undefined;
    const cron = type === 'Custom' || type === 'Schedule' ? str(schedule.cron) : GC_CRONS[type];
    if (!cron || cron.trim().split(/\s+/).length !== 6) throw badRequest(`invalid schedule: type ${type}, cron "${str(schedule.cron)}"`);
    return { type, cron, parameters: (b.parameters ?? {}) as Record<string, unknown>, creation_time: now() };
  }
  function deleteProject(project: Project): void {
    projects.splice(projects.indexOf(project), 1);
    remove(members, (m) => m.project_id === project.project_id);
    remove(robots, (r) => r.level === 'project' && r.project_id === project.project_id);
    remove(webhooks, (w) => w.project_id === project.project_id);
    remove(retentions, (r) => r.scope.ref === project.project_id);
    immutable.delete(project.project_id);
  }

  const routes: [string, string, Handler][] = [
    ['GET', '/health', () => ({ status: 200, body: { status: 'healthy', components: ['core', 'database', 'jobservice', 'portal', 'redis', 'registry', 'registryctl'].map((name) => ({ name, status: 'healthy' })) } })],
    ['GET', '/systeminfo', (_req, _url, _p, _b, me) => {
      const open = { auth_mode: 'db_auth', primary_auth_mode: false, self_registration: false, banner_message: '' };
      if (!me) return { status: 200, body: open };
      return {
        status: 200,
        body: {
          ...open,
          current_time: now(),
          external_url: 'https://harbor.test',
          registry_url: 'harbor.test',
          harbor_version: 'v2.15.2-mock',
          project_creation_restriction: configurations.project_creation_restriction,
          has_ca_root: false,
          read_only: false,
          notification_enable: true,
          registry_storage_provider_name: 's3',
        },
      };
    }],
    ['GET', '/configurations', (_req, _url, _p, _b, me) => {
      requireAdmin(me);
      return { status: 200, body: Object.fromEntries(Object.entries(configurations).map(([k, value]) => [k, { value, editable: true }])) };
    }],
    ['PUT', '/configurations', (_req, _url, _p, body, me) => {
      requireAdmin(me);
      const b = object(body);
      // Harbor checks every key and type before it stores any.
      for (const [k, v] of Object.entries(b)) {
        if (!(k in configurations)) throw badRequest(`the configuration item ${k} is not supported by the mock`);
        if (typeof v !== typeof configurations[k]) throw badRequest(`invalid value type for ${k}`);
      }
      Object.assign(configurations, b);
      return ok;
    }],
    ['GET', '/systeminfo/volumes', (_req, _url, _p, _b, me) => (requireAdmin(me), { status: 200, body: { storage: [{ total: 107374182400, free: 53687091200 }] } })],
    ['GET', '/users/current', (_req, _url, _p, _b, me) => {
      if (!me) throw unauthorized();
      return { status: 200, body: userJson(me) };
    }],
    ['GET', '/users', (_req, url, _p, _b, me) => {
      requireAdmin(me);
      const q = url.searchParams.get('q');
      return paged(url, live().filter((u) => matches(q, { username: u.username, email: u.email })).map(userJson));
    }],
    ['POST', '/users', (_req, _url, _p, body, me) => {
      requireAdmin(me);
      const b = object(body);
      const [username, email, realname, password, comment] = ['username', 'email', 'realname', 'password', 'comment'].map((k) => str(b[k]));
      if (!username || ILLEGAL.test(username) || username.length > 255) throw badRequest('username with illegal length or characters');
      if (!email) throw badRequest("email can't be empty");
      if (!EMAIL.test(email)) throw badRequest('email with illegal format');
      if (!realname || realname.length > 255 || ILLEGAL.test(realname)) throw badRequest('realname with illegal length');
      if (!goodPassword(password)) throw weakPassword();
      if (userByName(username)) throw new HttpError(409, 'CONFLICT', `username ${username} is already used`);
      if (live().some((u) => u.email === email)) throw new HttpError(409, 'CONFLICT', `email ${email} is already used`);
      const user = addUser({ username, email, realname, comment, password, sysadmin_flag: false });
      return created(`/api/v2.0/users/${user.user_id}`);
    }],
    ['GET', '/users/:', (_req, _url, [id], _b, me) => {
      requireAdmin(me);
      const user = userById(Number(id));
      if (!user) throw notFound(`user ${id} not found`);
      return { status: 200, body: userJson(user) };
    }],
    ['PUT', '/users/:', (_req, _url, [id], body, me) => {
      requireAdmin(me);
      const user = userById(Number(id));
      if (!user) throw notFound(`user ${id} not found`);
      const b = object(body);
      if (b.email !== undefined) {
        const email = str(b.email);
        if (!EMAIL.test(email)) throw badRequest('email with illegal format');
        if (live().some((u) => u !== user && u.email === email)) throw new HttpError(409, 'CONFLICT', `email ${email} is already used`);
        user.email = email;
      }
      if (b.realname !== undefined) user.realname = str(b.realname);
      if (b.comment !== undefined) user.comment = str(b.comment);
      return ok;
    }],
    ['DELETE', '/users/:', (_req, _url, [id], _b, me) => {
      const admin = requireAdmin(me);
      const user = userById(Number(id));
      if (!user) throw notFound(`user ${id} not found`);
      if (user.user_id === admin.user_id) throw forbidden();
      // Harbor marks the user deleted and frees the name and email for reuse.
      user.deleted = true;
      user.username = `${user.username}#${user.user_id}`;
      user.email = `${user.email}#${user.user_id}`;
      remove(members, (m) => !m.group && m.user_id === user.user_id);
      return ok;
    }],
    ['PUT', '/users/:/sysadmin', (_req, _url, [id], body, me) => {
      requireAdmin(me);
      const user = userById(Number(id));
      if (!user) throw notFound(`user ${id} not found`);
      const flag = object(body).sysadmin_flag;
      if (typeof flag !== 'boolean') throw new HttpError(422, 'UNPROCESSABLE_ENTITY', 'sysadmin_flag in body must be of type boolean');
      user.sysadmin_flag = flag;
      return ok;
    }],
    ['PUT', '/users/:/password', (_req, _url, [id], body, me) => {
      // Harbor's updateUserPassword: admins change anyone's, others their own; changing one's own
      // needs the current one; the new one must meet the rule and differ from the current one.
      if (!me) throw unauthorized();
      const user = userById(Number(id));
      if (!user) throw notFound(`user ${id} not found`);
      if (!me.sysadmin_flag && me !== user) throw forbidden();
      const b = object(body);
      if (me === user && b.old_password !== user.password) throw new HttpError(403, 'FORBIDDEN', 'Current password is incorrect');
      const next = str(b.new_password);
      if (!goodPassword(next)) throw weakPassword();
      if (next === user.password) throw badRequest('New password is identical to old password');
      user.password = next;
      return ok;
    }],
    ['GET', '/usergroups', (_req, url, _p, _b, me) => {
      requireAdmin(me);
      const name = url.searchParams.get('group_name');
      return paged(url, groups.filter((g) => !name || g.group_name.includes(name)));
    }],
    ['GET', '/projects', (_req, url, _p, _b, me) => {
      const q = url.searchParams.get('q');
      const name = url.searchParams.get('name');
      const visible = projects.filter((p) => p.metadata.public === 'true' || (me && (me.sysadmin_flag || roleIn(me, p) !== undefined)));
      return paged(url, visible.filter((p) => matches(q, { name: p.name }) && (!name || p.name.includes(name))).map((p) => projectJson(p, me)));
    }],
    ['POST', '/projects', (_req, _url, _p, body, me) => {
      if (!me) throw unauthorized();
      if (!me.sysadmin_flag && configurations.project_creation_restriction === 'adminonly') throw forbidden();
      const b = object(body);
      const name = str(b.project_name);
      if (!name || name.length > 255 || !PROJECT_NAME.test(name)) throw badRequest('project name is not in lower case or contains illegal characters!');
      const metadata = checkMetadata((b.metadata ?? {}) as Record<string, unknown>);
      const storage = b.storage_limit === undefined || b.storage_limit === null ? -1 : checkStorage(b.storage_limit);
      if (projects.some((p) => p.name === name)) throw new HttpError(409, 'CONFLICT', `The project named ${name} already exists`);
      const project: Project = { project_id: ++ids.project, name, owner_id: me!.user_id, metadata: { public: 'false', ...metadata }, storage_limit: storage, creation_time: now() };
      projects.push(project);
      members.push({ id: ++ids.member, project_id: project.project_id, user_id: me!.user_id, role_id: 1 });
      return created(`/api/v2.0/projects/${project.project_id}`);
    }],
    ['GET', '/projects/:', (req, _url, [name], _b, me) => ({ status: 200, body: projectJson(projectFor(req, name!, me, 'read'), me) })],
    ['PUT', '/projects/:', (req, _url, [name], body, me) => {
      const project = projectFor(req, name!, me, 'admin');
      Object.assign(project.metadata, checkMetadata((object(body).metadata ?? {}) as Record<string, unknown>));
      return ok;
    }],
    ['DELETE', '/projects/:', (req, _url, [name], _b, me) => (deleteProject(projectFor(req, name!, me, 'admin')), ok)],
    ['GET', '/quotas', (_req, url, _p, _b, me) => {
      requireAdmin(me);
      const ref = url.searchParams.get('reference_id');
      if (url.searchParams.get('reference') !== 'project') throw badRequest('the mock keeps project quotas only');
      return paged(url, projects.filter((p) => !ref || String(p.project_id) === ref).map(quotaJson));
    }],
    ['PUT', '/quotas/:', (_req, _url, [id], body, me) => {
      requireAdmin(me);
      const project = projects.find((p) => p.project_id === Number(id));
      if (!project) throw notFound(`quota ${id} not found`);
      project.storage_limit = checkStorage(object(object(body).hard).storage);
      return ok;
    }],
    ['GET', '/projects/:/members', (req, url, [name], _b, me) => {
      const project = projectFor(req, name!, me, 'admin');
      const entity = url.searchParams.get('entityname') ?? '';
      const list = members.filter((m) => m.project_id === project.project_id).map(memberJson);
      return paged(url, list.filter((m) => m.entity_name.includes(entity)));
    }],
    ['POST', '/projects/:/members', (req, _url, [name], body, me) => {
      const project = projectFor(req, name!, me, 'admin');
      const b = object(body);
      const roleId = b.role_id;
      if (typeof roleId !== 'number' || !ROLE_NAMES[roleId]) throw badRequest(`Failed to add project member, role is not in 1,2,3,4,5, role:${String(roleId)}`);
      let entity: { id: number; group: boolean };
      if (b.member_group) {
        const g = object(b.member_group);
        let group = typeof g.id === 'number' && g.id > 0 ? groups.find((x) => x.id === g.id) : groups.find((x) => x.group_name === str(g.group_name));
        // Harbor makes an OIDC or HTTP group on first use by name; LDAP groups need their DN.
        if (!group && (g.group_type === 2 || g.group_type === 3) && str(g.group_name)) {
          group = { id: ++ids.group, group_name: str(g.group_name), group_type: g.group_type };
          groups.push(group);
        }
        if (!group) throw notFound(`group ${str(g.group_name) || String(g.id)} not found`);
        entity = { id: group.id, group: true };
      } else {
        const who = object(b.member_user ?? {});
        const user = typeof who.user_id === 'number' && who.user_id > 0 ? userById(who.user_id) : userByName(str(who.username));
        if (!user) throw notFound(`user ${str(who.username) || String(who.user_id)} not found`);
        entity = { id: user.user_id, group: false };
      }
      if (members.some((m) => m.project_id === project.project_id && m.user_id === entity.id && Boolean(m.group) === entity.group)) {
        throw new HttpError(409, 'CONFLICT', 'The project member specified already exist');
      }
      const member: Member = { id: ++ids.member, project_id: project.project_id, user_id: entity.id, role_id: roleId, ...(entity.group ? { group: true } : {}) };
      members.push(member);
      return created(`/api/v2.0/projects/${project.project_id}/members/${member.id}`);
    }],
    ['PUT', '/projects/:/members/:', (req, _url, [name, id], body, me) => {
      const project = projectFor(req, name!, me, 'admin');
      const member = byId(members.filter((m) => m.project_id === project.project_id), id!, 'project member');
      const roleId = object(body).role_id;
      if (typeof roleId !== 'number' || !ROLE_NAMES[roleId]) throw badRequest(`Failed to update project member, role is not in 1,2,3,4,5, role:${String(roleId)}`);
      member.role_id = roleId;
      return ok;
    }],
    ['DELETE', '/projects/:/members/:', (req, _url, [name, id], _b, me) => {
      const project = projectFor(req, name!, me, 'admin');
      const member = byId(members.filter((m) => m.project_id === project.project_id), id!, 'project member');
      members.splice(members.indexOf(member), 1);
      return ok;
    }],
    ['GET', '/robots', (_req, url, _p, _b, me) => {
      requireAdmin(me);
      const q = url.searchParams.get('q');
      return paged(url, robots.filter((r) => matches(q, { Level: r.level, ProjectID: String(r.project_id) })).map(robotJson));
    }],
    ['POST', '/robots', (_req, _url, _p, body, me) => {
      requireAdmin(me);
      const b = object(body);
      const name = str(b.name);
      const level = b.level;
      if (!ROBOT_NAME.test(name)) throw badRequest(`robot name is not in lower case or contains illegal characters: ${name}`);
      if (level !== 'system' && level !== 'project') throw badRequest(`bad request error level: ${String(level)}`);
      const duration = b.duration ?? -1;
      if (duration !== -1 && !(Number.isInteger(duration) && (duration as number) > 0)) throw badRequest(`bad request error duration input: ${String(duration)}`);
      const perms = b.permissions as Robot['permissions'];
      const project = level === 'project' ? projects.find((p) => p.name === perms?.[0]?.namespace) : undefined;
      checkPermissions(level, project, perms);
      const robot: Robot = {
        id: ++ids.robot,
        name,
        description: str(b.description),
        level,
        project_id: project?.project_id ?? 0,
        duration: duration as number,
        disable: Boolean(b.disable),
        secret: b.secret ? robotSecret(str(b.secret)) : `Mock${randomUUID().replaceAll('-', '')}`,
        permissions: perms,
        creation: Math.floor(Date.now() / 1000),
      };
      if (robots.some((r) => robotName(r) === robotName(robot))) throw new HttpError(409, 'CONFLICT', `robot account ${robotName(robot)} already exists`);
      robots.push(robot);
      return { status: 201, headers: { Location: `/api/v2.0/robots/${robot.id}` }, body: { id: robot.id, name: robotName(robot), secret: robot.secret, creation_time: robotJson(robot).creation_time, expires_at: expiresAt(robot) } };
    }],
    ['GET', '/robots/:', (_req, _url, [id], _b, me) => (requireAdmin(me), { status: 200, body: robotJson(byId(robots, id!, 'robot')) })],
    ['PUT', '/robots/:', (_req, _url, [id], body, me) => {
      requireAdmin(me);
      const robot = byId(robots, id!, 'robot');
      const b = object(body);
      if (b.name !== robotName(robot) || b.level !== robot.level) throw badRequest('cannot update the level or name of robot');
      const duration = b.duration ?? robot.duration;
      if (duration !== -1 && !(Number.isInteger(duration) && (duration as number) > 0)) throw badRequest(`bad request error duration input: ${String(duration)}`);
      robot.permissions = checkPermissions(robot.level, projects.find((p) => p.project_id === robot.project_id), b.permissions);
      robot.duration = duration as number;
      robot.description = str(b.description);
      robot.disable = Boolean(b.disable);
      return ok;
    }],
    ['PATCH', '/robots/:', (_req, _url, [id], body, me) => {
      requireAdmin(me);
      const robot = byId(robots, id!, 'robot');
      const given = str(object(body).secret);
      robot.secret = given ? robotSecret(given) : `Mock${randomUUID().replaceAll('-', '')}`;
      return { status: 200, body: { secret: robot.secret } };
    }],
    ['DELETE', '/robots/:', (_req, _url, [id], _b, me) => (requireAdmin(me), robots.splice(robots.indexOf(byId(robots, id!, 'robot')), 1), ok)],
    ['GET', '/system/gc/schedule', (_req, _url, _p, _b, me) => (requireAdmin(me), { status: 200, body: gc ? gcJson(gc) : {} })],
    ['POST', '/system/gc/schedule', (_req, _url, _p, body, me) => {
      requireAdmin(me);
      if (gc) throw new HttpError(409, 'CONFLICT', 'fail to set schedule for garbage collection as always had one, please delete it firstly then to re-schedule');
      gc = gcSchedule(body);
      return created('/api/v2.0/system/gc/schedule');
    }],
    ['PUT', '/system/gc/schedule', (_req, _url, _p, body, me) => {
      requireAdmin(me);
      gc = gcSchedule(body);
      return ok;
    }],
    ['POST', '/retentions', (_req, _url, _p, body, me) => {
      requireAdmin(me);
      const b = object(body);
      const scope = object(b.scope);
      const project = projects.find((p) => p.project_id === scope.ref);
      if (scope.level !== 'project' || !project) throw badRequest(`invalid scope: ${JSON.stringify(scope)}`);
      if (project.metadata.retention_id) throw badRequest(`project ${project.name} already has retention policy ${project.metadata.retention_id}`);
      const rules = ((b.rules ?? []) as Record<string, unknown>[]).map((r) => ({ ...checkRule(r, RETENTION_TEMPLATES), id: ++ids.rule }));
      const policy: Retention = { id: ++ids.retention, algorithm: str(b.algorithm) || 'or', rules, trigger: b.trigger, scope: { level: 'project', ref: project.project_id } };
      retentions.push(policy);
      project.metadata.retention_id = String(policy.id);
      return created(`/api/v2.0/retentions/${policy.id}`);
    }],
    ['GET', '/retentions/:', (_req, _url, [id], _b, me) => (requireAdmin(me), { status: 200, body: byId(retentions, id!, 'retention policy') })],
    ['PUT', '/retentions/:', (_req, _url, [id], body, me) => {
      requireAdmin(me);
      const policy = byId(retentions, id!, 'retention policy');
      const b = object(body);
      policy.rules = ((b.rules ?? []) as Record<string, unknown>[]).map((r) => ({ ...checkRule(r, RETENTION_TEMPLATES), id: ++ids.rule }));
      policy.trigger = b.trigger;
      return ok;
    }],
    ['GET', '/projects/:/immutabletagrules', (req, url, [name], _b, me) => {
      const project = projectFor(req, name!, me, 'admin');
      return paged(url, immutable.get(project.project_id) ?? []);
    }],
    ['POST', '/projects/:/immutabletagrules', (req, _url, [name], body, me) => {
      const project = projectFor(req, name!, me, 'admin');
      const rules = immutable.get(project.project_id) ?? [];
      const rule = { ...checkRule(object(body), ['immutable_template']), id: ++ids.rule, disabled: Boolean(object(body).disabled) };
      const same = (r: Rule) => JSON.stringify([r.tag_selectors, r.scope_selectors]) === JSON.stringify([rule.tag_selectors, rule.scope_selectors]);
      if (rules.some(same)) throw new HttpError(409, 'CONFLICT', 'duplicate immutable tag rule');
      immutable.set(project.project_id, [...rules, rule]);
      return created(`/api/v2.0/projects/${project.project_id}/immutabletagrules/${rule.id}`);
    }],
    ['PUT', '/projects/:/immutabletagrules/:', (req, _url, [name, id], body, me) => {
      const project = projectFor(req, name!, me, 'admin');
      const rules = immutable.get(project.project_id) ?? [];
      const rule = byId(rules, id!, 'immutable rule');
      rules[rules.indexOf(rule)] = { ...checkRule(object(body), ['immutable_template']), id: rule.id, disabled: Boolean(object(body).disabled) };
      return ok;
    }],
    ['DELETE', '/projects/:/immutabletagrules/:', (req, _url, [name, id], _b, me) => {
      const project = projectFor(req, name!, me, 'admin');
      const rules = immutable.get(project.project_id) ?? [];
      rules.splice(rules.indexOf(byId(rules, id!, 'immutable rule')), 1);
      return ok;
    }],
    ['GET', '/projects/:/webhook/policies', (req, url, [name], _b, me) => {
      const project = projectFor(req, name!, me, 'admin');
      return paged(url, webhooks.filter((w) => w.project_id === project.project_id).map(webhookJson));
    }],
    ['POST', '/projects/:/webhook/policies', (req, _url, [name], body, me) => {
      const project = projectFor(req, name!, me, 'admin');
      const hook = { ...checkWebhook(object(body)), id: ++ids.webhook, project_id: project.project_id, creation_time: now() };
      if (webhooks.some((w) => w.project_id === project.project_id && w.name === hook.name)) throw new HttpError(409, 'CONFLICT', `webhook policy ${hook.name} already exists`);
      webhooks.push(hook);
      return created(`/api/v2.0/projects/${project.project_id}/webhook/policies/${hook.id}`);
    }],
    ['PUT', '/projects/:/webhook/policies/:', (req, _url, [name, id], body, me) => {
      const project = projectFor(req, name!, me, 'admin');
      const hook = byId(webhooks.filter((w) => w.project_id === project.project_id), id!, 'webhook policy');
      Object.assign(hook, checkWebhook(object(body)));
      return ok;
    }],
    ['DELETE', '/projects/:/webhook/policies/:', (req, _url, [name, id], _b, me) => {
      const project = projectFor(req, name!, me, 'admin');
      webhooks.splice(webhooks.indexOf(byId(webhooks.filter((w) => w.project_id === project.project_id), id!, 'webhook policy')), 1);
      return ok;
    }],
  ];

  function checkWebhook(b: Record<string, unknown>): Omit<Webhook, 'id' | 'project_id' | 'creation_time'> {
    const name = str(b.name);
    if (!name) throw badRequest('a webhook policy needs a name');
    const targets = (b.targets ?? []) as Webhook['targets'];
    if (targets.length === 0 || targets.some((x) => !/^https?:\/\//.test(x.address ?? '') || (x.type !== 'http' && x.type !== 'slack'))) throw badRequest('invalid webhook target');
    const events = (b.event_types ?? []) as string[];
    if (events.length === 0 || events.some((e) => !WEBHOOK_EVENTS.includes(e))) throw badRequest(`invalid event types: ${events.join(',')}`);
    return { name, description: str(b.description), targets, event_types: events, enabled: b.enabled !== false };
  }

  const table = routes.map(([method, template, handler]) => ({
    method,
    pattern: new RegExp(`^${template.replaceAll(':', '([^/]+)')}$`),
    handler,
  }));

  function route(req: IncomingMessage, url: URL, body: unknown, me: User | undefined): Reply {
    const method = req.method ?? 'GET';
    const path = url.pathname.replace(/^\/api\/v2\.0/, '');
    // Literal paths first (/users/current before /users/:).
    for (const r of table) {
      const m = r.method === method ? r.pattern.exec(path) : null;
      if (m) return r.handler(req, url, m.slice(1).map(decodeURIComponent), body, me);
    }
    throw notFound(`${method} ${url.pathname} is not a Harbor API path the mock knows`);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://harbor.test');
    const me = caller(req);
    let reply: Reply;
    try {
      if (!url.pathname.startsWith('/api/v2.0/')) throw notFound('not found');
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      if (text) {
        if (!/application\/json/.test(req.headers['content-type'] ?? '')) throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'unsupported media type');
        try {
          body = JSON.parse(text);
        } catch {
          throw badRequest('invalid JSON body');
        }
      }
      const wrong = swagger?.violations(req.method ?? 'GET', url.pathname.replace(/^\/api\/v2\.0/, ''), url.searchParams, body) ?? [];
      if (wrong.length > 0) {
        violations.push(...wrong);
        throw new HttpError(422, 'UNPROCESSABLE_ENTITY', `not as Harbor's swagger says: ${wrong.join('; ')}`);
      }
      reply = route(req, url, body, me);
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      reply = { status: err.status, body: { errors: [{ code: err.code, message: err.message }] } };
    }
    calls.push({ method: req.method ?? 'GET', path: url.pathname + url.search, status: reply.status, as: me?.username ?? 'anonymous' });
    const headers: Record<string, string> = { 'X-Request-Id': randomUUID(), ...reply.headers };
    if (reply.body !== undefined) headers['Content-Type'] = 'application/json; charset=utf-8';
    res.writeHead(reply.status, headers);
    res.end(reply.body === undefined ? undefined : JSON.stringify(reply.body));
  }

  const { ca, leaf } = await mockPki();
  const server = https.createServer({ cert: leaf.certPem, key: leaf.keyPem.reveal() }, (req, res) => {
    handle(req, res).catch((err: Error) => {
      res.writeHead(500, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNKNOWN', message: err.message }] }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `https://127.0.0.1:${port}`,
    caPem: ca.certPem,
    adminPassword,
    calls,
    conformance: Boolean(swagger),
    violations,
    writes: () => calls.filter((c) => c.method !== 'GET' && c.method !== 'HEAD'),
    seedUser: (username, password) =>
      void addUser({ username, email: `${username}@example.com`, realname: username, comment: '', password, sysadmin_flag: false }),
    seedGroup: (name, type = 3) => void groups.push({ id: ++ids.group, group_name: name, group_type: type }),
    users: () => live().map((u) => u.username),
    projects: () => projects.map((p) => p.name),
    storageLimit: (name) => projects.find((p) => p.name === name)?.storage_limit,
    robotSecret: (name) => robots.find((r) => robotName(r) === name)?.secret,
    robots: () => robots.map(robotName),
    configurations,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
