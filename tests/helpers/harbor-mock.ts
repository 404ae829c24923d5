// A stateful stand-in for Harbor's REST API v2.0 (Harbor 2.x) over real HTTPS with a certificate
// from lib/pki: only what lib/harbor uses, on the wire as Harbor speaks it (paths, q= syntax,
// paging with X-Total-Count, field names, 201 + Location, Harbor's error JSON, and its auth rules:
// a failed basic auth is treated as anonymous, not refused outright).
import { randomUUID } from 'node:crypto';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createCa, issueServerCert, type KeyPair } from '../../lib/pki/index.ts';

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
  user_id: number;
  role_id: number;
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
  /** Calls that could change state (anything but GET and HEAD). */
  writes(): MockCall[];
  /** A user made directly in the state (not through the API), e.g. a non-admin to test 403. */
  seedUser(username: string, password: string): void;
  users(): string[];
  projects(): string[];
  /** The storage_limit a project was created with (Harbor keeps it as the project's quota). */
  storageLimit(project: string): number | undefined;
  close(): Promise<void>;
}

const ROLE_NAMES: Record<number, string> = { 1: 'projectAdmin', 2: 'developer', 3: 'guest', 4: 'maintainer', 5: 'limitedGuest' };
const PROJECT_NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
const EMAIL = /^[^<>()[\]\\.,;:\s@"]+(\.[^<>()[\]\\.,;:\s@"]+)*@([a-zA-Z0-9-]+\.)+[a-zA-Z]{2,}$/;
const ILLEGAL = /[,~#$%]/;

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

export async function startHarborMock(opts: { adminPassword?: string } = {}): Promise<HarborMock> {
  const adminPassword = opts.adminPassword ?? 'Harbor12345';
  const now = () => new Date().toISOString();
  const users: User[] = [];
  const projects: Project[] = [];
  const members: Member[] = [];
  const ids = { user: 0, project: 0, member: 0 };
  const calls: MockCall[] = [];

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

  const roleIn = (me: User, project: Project) => members.find((m) => m.project_id === project.project_id && m.user_id === me.user_id)?.role_id;

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
    entity_name: userById(m.user_id)?.username ?? '',
    entity_type: 'u',
    entity_id: m.user_id,
    role_id: m.role_id,
    role_name: ROLE_NAMES[m.role_id],
  });
  const created = (location: string): Reply => ({ status: 201, headers: { Location: location } });
  const object = (body: unknown): Record<string, unknown> => {
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('invalid request body');
    return body as Record<string, unknown>;
  };
  const str = (v: unknown) => (typeof v === 'string' ? v : '');

  function route(req: IncomingMessage, url: URL, body: unknown, me: User | undefined): Reply {
    const method = req.method ?? 'GET';
    const path = url.pathname.replace(/^\/api\/v2\.0/, '');
    const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
    const key = `${method} /${parts.map((p, i) => (i % 2 === 1 && !(i === 1 && p === 'current') ? ':' : p)).join('/')}`;

    switch (key) {
      case 'GET /health':
        return { status: 200, body: { status: 'healthy', components: ['core', 'database', 'jobservice', 'portal', 'redis', 'registry', 'registryctl'].map((name) => ({ name, status: 'healthy' })) } };
      case 'GET /systeminfo': {
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
            project_creation_restriction: 'adminonly',
            has_ca_root: false,
            read_only: false,
            notification_enable: true,
            registry_storage_provider_name: 's3',
          },
        };
      }
      case 'GET /users/current':
        if (!me) throw unauthorized();
        return { status: 200, body: userJson(me) };
      case 'GET /users': {
        requireAdmin(me);
        const q = url.searchParams.get('q');
        return paged(url, live().filter((u) => matches(q, { username: u.username, email: u.email })).map(userJson));
      }
      case 'POST /users': {
        if (!me) throw unauthorized();
        if (!me.sysadmin_flag) throw forbidden();
        const b = object(body);
        const [username, email, realname, password, comment] = ['username', 'email', 'realname', 'password', 'comment'].map((k) => str(b[k]));
        if (!username || ILLEGAL.test(username) || username.length > 255) throw badRequest('username with illegal length or characters');
        if (!email) throw badRequest("email can't be empty");
        if (!EMAIL.test(email)) throw badRequest('email with illegal format');
        if (!realname || realname.length > 255 || ILLEGAL.test(realname)) throw badRequest('realname with illegal length');
        if (!goodPassword(password)) {
          throw badRequest('the password or secret must be longer than 8 chars with at least 1 uppercase letter, 1 lowercase letter and 1 number');
        }
        if (userByName(username)) throw new HttpError(409, 'CONFLICT', `username ${username} is already used`);
        if (live().some((u) => u.email === email)) throw new HttpError(409, 'CONFLICT', `email ${email} is already used`);
        const user = addUser({ username, email, realname, comment, password, sysadmin_flag: false });
        return created(`/api/v2.0/users/${user.user_id}`);
      }
      case 'GET /users/:': {
        requireAdmin(me);
        const user = userById(Number(parts[1]));
        if (!user) throw notFound(`user ${parts[1]} not found`);
        return { status: 200, body: userJson(user) };
      }
      case 'DELETE /users/:': {
        const admin = requireAdmin(me);
        const user = userById(Number(parts[1]));
        if (!user) throw notFound(`user ${parts[1]} not found`);
        if (user.user_id === admin.user_id) throw forbidden();
        // Harbor marks the user deleted and frees the name and email for reuse.
        user.deleted = true;
        user.username = `${user.username}#${user.user_id}`;
        user.email = `${user.email}#${user.user_id}`;
        for (let i = members.length - 1; i >= 0; i--) if (members[i]!.user_id === user.user_id) members.splice(i, 1);
        return { status: 200 };
      }
      case 'PUT /users/:/sysadmin': {
        requireAdmin(me);
        const user = userById(Number(parts[1]));
        if (!user) throw notFound(`user ${parts[1]} not found`);
        const flag = object(body).sysadmin_flag;
        if (typeof flag !== 'boolean') throw new HttpError(422, 'UNPROCESSABLE_ENTITY', 'sysadmin_flag in body must be of type boolean');
        user.sysadmin_flag = flag;
        return { status: 200 };
      }
      case 'GET /projects': {
        const q = url.searchParams.get('q');
        const name = url.searchParams.get('name');
        const visible = projects.filter((p) => p.metadata.public === 'true' || (me && (me.sysadmin_flag || roleIn(me, p) !== undefined)));
        return paged(url, visible.filter((p) => matches(q, { name: p.name }) && (!name || p.name.includes(name))).map((p) => projectJson(p, me)));
      }
      case 'POST /projects': {
        if (!me) throw unauthorized();
        if (!me.sysadmin_flag) throw forbidden(); // project_creation_restriction = adminonly
        const b = object(body);
        const name = str(b.project_name);
        if (!name || name.length > 255 || !PROJECT_NAME.test(name)) throw badRequest('project name is not in lower case or contains illegal characters!');
        const metadata = (b.metadata ?? {}) as Record<string, unknown>;
        for (const [k, v] of Object.entries(metadata)) {
          if (typeof v !== 'string') throw new HttpError(422, 'UNPROCESSABLE_ENTITY', `metadata.${k} in body must be of type string`);
        }
        if (metadata.public !== undefined && metadata.public !== 'true' && metadata.public !== 'false') throw badRequest(`invalid public value: ${String(metadata.public)}`);
        if (b.storage_limit !== undefined && (typeof b.storage_limit !== 'number' || !Number.isInteger(b.storage_limit) || (b.storage_limit < -1 || b.storage_limit === 0))) {
          throw badRequest(`invalid storage limit ${String(b.storage_limit)}`);
        }
        if (projects.some((p) => p.name === name)) throw new HttpError(409, 'CONFLICT', `The project named ${name} already exists`);
        const project: Project = {
          project_id: ++ids.project,
          name,
          owner_id: me.user_id,
          metadata: { public: 'false', ...(metadata as Record<string, string>) },
          storage_limit: (b.storage_limit as number | undefined) ?? -1,
          creation_time: now(),
        };
        projects.push(project);
        members.push({ id: ++ids.member, project_id: project.project_id, user_id: me.user_id, role_id: 1 });
        return created(`/api/v2.0/projects/${project.project_id}`);
      }
      case 'GET /projects/:':
        return { status: 200, body: projectJson(projectFor(req, parts[1]!, me, 'read'), me) };
      case 'PUT /projects/:': {
        const project = projectFor(req, parts[1]!, me, 'admin');
        const metadata = (object(body).metadata ?? {}) as Record<string, unknown>;
        for (const [k, v] of Object.entries(metadata)) {
          if (typeof v !== 'string') throw new HttpError(422, 'UNPROCESSABLE_ENTITY', `metadata.${k} in body must be of type string`);
          project.metadata[k] = v;
        }
        return { status: 200 };
      }
      case 'DELETE /projects/:': {
        const project = projectFor(req, parts[1]!, me, 'admin');
        projects.splice(projects.indexOf(project), 1);
        for (let i = members.length - 1; i >= 0; i--) if (members[i]!.project_id === project.project_id) members.splice(i, 1);
        return { status: 200 };
      }
      case 'GET /projects/:/members': {
        const project = projectFor(req, parts[1]!, me, 'admin');
        const entity = url.searchParams.get('entityname') ?? '';
        const list = members.filter((m) => m.project_id === project.project_id).map(memberJson);
        return paged(url, list.filter((m) => m.entity_name.includes(entity)));
      }
      case 'POST /projects/:/members': {
        const project = projectFor(req, parts[1]!, me, 'admin');
        const b = object(body);
        const roleId = b.role_id;
        if (typeof roleId !== 'number' || !ROLE_NAMES[roleId]) throw badRequest(`Failed to add project member, role is not in 1,2,3,4,5, role:${String(roleId)}`);
        const who = object(b.member_user ?? {});
        const user = typeof who.user_id === 'number' && who.user_id > 0 ? userById(who.user_id) : userByName(str(who.username));
        if (!user) throw notFound(`user ${str(who.username) || String(who.user_id)} not found`);
        if (members.some((m) => m.project_id === project.project_id && m.user_id === user.user_id)) {
          throw new HttpError(409, 'CONFLICT', 'The project member specified already exist');
        }
        const member = { id: ++ids.member, project_id: project.project_id, user_id: user.user_id, role_id: roleId };
        members.push(member);
        return created(`/api/v2.0/projects/${project.project_id}/members/${member.id}`);
      }
      case 'PUT /projects/:/members/:':
      case 'DELETE /projects/:/members/:': {
        const project = projectFor(req, parts[1]!, me, 'admin');
        const member = members.find((m) => m.project_id === project.project_id && m.id === Number(parts[3]));
        if (!member) throw notFound(`project member ${parts[3]} not found`);
        if (method === 'DELETE') {
          members.splice(members.indexOf(member), 1);
          return { status: 200 };
        }
        const roleId = object(body).role_id;
        if (typeof roleId !== 'number' || !ROLE_NAMES[roleId]) throw badRequest(`Failed to update project member, role is not in 1,2,3,4,5, role:${String(roleId)}`);
        member.role_id = roleId;
        return { status: 200 };
      }
      default:
        throw notFound(`${method} ${url.pathname} is not a Harbor API path the mock knows`);
    }
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
    writes: () => calls.filter((c) => c.method !== 'GET' && c.method !== 'HEAD'),
    seedUser: (username, password) =>
      void addUser({ username, email: `${username}@example.com`, realname: username, comment: '', password, sysadmin_flag: false }),
    users: () => live().map((u) => u.username),
    projects: () => projects.map((p) => p.name),
    storageLimit: (name) => projects.find((p) => p.name === name)?.storage_limit,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
