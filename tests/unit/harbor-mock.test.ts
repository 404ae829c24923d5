// The Harbor mock on the wire, with raw HTTPS requests: what Harbor 2.x's swagger and its
// middleware say about auth, status codes, headers and the error body.
import https from 'node:https';
import t from 'tap';
import { startHarborMock, type HarborMock } from '../helpers/harbor-mock.ts';

let mock: HarborMock;
t.before(async () => {
  mock = await startHarborMock({ adminPassword: 'MockAdminPassw0rd' });
});
t.teardown(() => mock.close());

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

function raw(method: string, path: string, opts: { auth?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Raw> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.auth) headers.authorization = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  if (payload) headers['content-type'] = 'application/json';
  return new Promise((resolve, reject) => {
    const req = https.request(`${mock.url}/api/v2.0${path}`, { method, headers, ca: mock.caPem }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}
const admin = 'admin:MockAdminPassw0rd';
const error = (code: string) => ({ errors: [{ code, message: String }] });

t.test('auth: no or wrong credentials are anonymous, which admin paths refuse with 401', async (t) => {
  for (const auth of [undefined, 'admin:wrong']) {
    const users = await raw('GET', '/users', { auth });
    t.equal(users.status, 401);
    t.match(users.body, error('UNAUTHORIZED'));
    t.equal((await raw('GET', '/users/current', { auth })).status, 401);
    const projects = await raw('GET', '/projects', { auth });
    t.equal(projects.status, 200, 'anonymous may list projects');
    t.same((projects.body as { name: string }[]).map((p) => p.name), ['library'], 'public ones only');
    t.equal((await raw('GET', '/health', { auth })).status, 200, '/health needs no auth');
    t.equal(mock.calls.at(-1)!.as, 'anonymous');
  }
  await raw('GET', '/users/current', { auth: admin });
  t.equal(mock.calls.at(-1)!.as, 'admin');
  const info = await raw('GET', '/systeminfo');
  t.equal(info.status, 200);
  t.notOk((info.body as Record<string, unknown>).harbor_version, 'the version only for a logged-in user');
});

t.test('201 with Location on create, 409 on a duplicate, X-Total-Count on lists', async (t) => {
  const body = { username: 'wire', email: 'wire@example.com', realname: 'Wire', password: 'WirePassw0rd' };
  const created = await raw('POST', '/users', { auth: admin, body });
  t.equal(created.status, 201);
  t.match(created.headers.location, /^\/api\/v2\.0\/users\/\d+$/);
  t.match(created.headers['x-request-id'], /\w/);
  const again = await raw('POST', '/users', { auth: admin, body });
  t.equal(again.status, 409);
  t.match(again.body, error('CONFLICT'));
  t.equal((await raw('POST', '/users', { auth: admin, body: { ...body, username: 'weak', email: 'w@example.com', password: 'weakpassword' } })).status, 400);

  const exact = await raw('GET', '/users?q=username%3Dwir', { auth: admin });
  t.same(exact.body, [], 'k=v is an exact match');
  const fuzzy = await raw('GET', '/users?q=username%3D~wir', { auth: admin });
  t.same((fuzzy.body as { username: string }[]).map((u) => u.username), ['wire'], 'k=~v is a fuzzy match');
  t.match(fuzzy.body, [{ user_id: Number, username: 'wire', email: 'wire@example.com', realname: 'Wire', sysadmin_flag: false }]);
  t.notOk(JSON.stringify(fuzzy.body).includes('WirePassw0rd'), 'no password in a user');

  const page = await raw('GET', '/users?page=1&page_size=1', { auth: admin });
  t.equal(page.headers['x-total-count'], '2');
  t.equal((page.body as unknown[]).length, 1);
  t.equal((await raw('GET', '/users?page_size=101', { auth: admin })).status, 422, 'page_size at most 100');
});

t.test('a non-admin gets 403 on admin paths; projects carry metadata.public as a string', async (t) => {
  mock.seedUser('plain', 'PlainPassw0rd');
  const users = await raw('GET', '/users', { auth: 'plain:PlainPassw0rd' });
  t.equal(users.status, 403);
  t.match(users.body, error('FORBIDDEN'));
  const asBool = await raw('POST', '/projects', { auth: admin, body: { project_name: 'wire', metadata: { public: true } } });
  t.equal(asBool.status, 422, 'metadata.public must be the string "true"/"false"');
  const made = await raw('POST', '/projects', { auth: admin, body: { project_name: 'wire', metadata: { public: 'false' } } });
  t.equal(made.status, 201);
  t.match(made.headers.location, /^\/api\/v2\.0\/projects\/\d+$/);
  t.equal((await raw('GET', '/projects/wire', { auth: 'plain:PlainPassw0rd' })).status, 403, 'private and not a member');
  t.equal((await raw('GET', '/projects/wire')).status, 401, 'private and anonymous');
  t.match((await raw('GET', '/projects/wire', { auth: admin })).body, { name: 'wire', metadata: { public: 'false' } });
  const missing = await raw('GET', '/projects/nope', { auth: admin });
  t.equal(missing.status, 404);
  t.match(missing.body, error('NOT_FOUND'));
});

t.test('members: entity fields, role names, 201/409/404', async (t) => {
  const add = await raw('POST', '/projects/wire/members', { auth: admin, body: { role_id: 5, member_user: { username: 'wire' } } });
  t.equal(add.status, 201);
  t.match(add.headers.location, /^\/api\/v2\.0\/projects\/\d+\/members\/\d+$/);
  t.equal((await raw('POST', '/projects/wire/members', { auth: admin, body: { role_id: 2, member_user: { username: 'wire' } } })).status, 409);
  t.equal((await raw('POST', '/projects/wire/members', { auth: admin, body: { role_id: 2, member_user: { username: 'ghost' } } })).status, 404);
  t.equal((await raw('POST', '/projects/wire/members', { auth: admin, body: { role_id: 9, member_user: { username: 'plain' } } })).status, 400);
  const list = await raw('GET', '/projects/wire/members?entityname=wir', { auth: admin });
  t.match(list.body, [{ id: Number, project_id: Number, entity_name: 'wire', entity_type: 'u', entity_id: Number, role_id: 5, role_name: 'limitedGuest' }]);
  t.equal((await raw('GET', '/projects/wire/members', { auth: 'plain:PlainPassw0rd' })).status, 403);
});
