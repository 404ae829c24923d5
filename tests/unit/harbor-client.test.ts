// lib/harbor against the stateful Harbor mock over real HTTPS, trusting only the mock's CA.
import t, { type Test } from 'tap';
import {
  HarborClient,
  meetsHarborPolicy,
  newUserPassword,
  ROLES,
  table,
} from '../../lib/harbor/index.ts';
import { UserError } from '../../lib/errors.ts';
import { Secret } from '../../lib/secret.ts';
import { startHarborMock, type HarborMock } from '../helpers/harbor-mock.ts';
import { SWAGGER_SKIP } from '../helpers/harbor-swagger.ts';

let mock: HarborMock;
const clients: HarborClient[] = [];
const client = (password = mock.adminPassword, username = 'admin'): HarborClient => {
  const c = new HarborClient({ url: mock.url, caPem: mock.caPem, username, password: new Secret(password) });
  clients.push(c);
  return c;
};
const userPassword = new Secret('S3cretUserPassw0rd');

t.before(async () => {
  mock = await startHarborMock({ adminPassword: 'AdminPassw0rdForTests' });
});
t.teardown(async () => {
  for (const c of clients) c.close();
  await mock.close();
});

/** Asserts a one-line UserError whose message matches, and that it names no secret. */
async function failsWith(t: Test, p: Promise<unknown>, pattern: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(err, UserError, 'a UserError');
  const message = (err as Error).message;
  t.match(message, pattern);
  t.notMatch(message, /\n/, 'one line');
  t.notOk(message.includes(mock.adminPassword) || message.includes(userPassword.reveal()), 'no secret in the message');
}

t.test('system info, health and the current user', async (t) => {
  const c = client();
  const info = await c.systeminfo();
  t.match(info, { auth_mode: 'db_auth', harbor_version: String, project_creation_restriction: 'adminonly' });
  const health = await c.health();
  t.equal(health.status, 'healthy');
  t.ok(health.components?.some((x) => x.name === 'registry'));
  t.match(await c.currentUser(), { username: 'admin', sysadmin_flag: true });
});

t.test('users: create, look up by exact name, list, sysadmin, delete', async (t) => {
  const c = client();
  const id = await c.createUser({ username: 'alice', email: 'alice@example.com', realname: 'Alice', password: userPassword });
  await c.createUser({ username: 'alice2', email: 'alice2@example.com', realname: 'Alice Two', password: userPassword });
  const alice = await c.getUser('alice');
  t.match(alice, { user_id: id, username: 'alice', email: 'alice@example.com', sysadmin_flag: false });
  t.equal(await c.getUser('ali'), undefined, 'no partial matches');
  t.same((await c.listUsers()).map((u) => u.username).sort(), ['admin', 'alice', 'alice2']);
  await c.setSysadmin(alice!, true);
  t.equal((await c.getUser('alice'))!.sysadmin_flag, true);
  await c.deleteUser(alice!);
  await c.deleteUser((await c.getUser('alice2'))!);
  t.equal(await c.getUser('alice'), undefined);
  t.same(mock.users(), ['admin']);
});

t.test('lists follow pages past Harbor\'s 100 per page', async (t) => {
  const c = client();
  for (let i = 0; i < 105; i++) await c.createProject({ name: `bulk-${String(i).padStart(3, '0')}`, public: false });
  const names = (await c.listProjects()).map((p) => p.name);
  t.equal(names.filter((n) => n.startsWith('bulk-')).length, 105);
  t.ok(mock.calls.some((call) => call.path.startsWith('/api/v2.0/projects?') && call.path.includes('page=2')), 'asked for page 2');
  for (let i = 0; i < 105; i++) await c.deleteProject(`bulk-${String(i).padStart(3, '0')}`);
});

t.test('projects: create public with a storage limit, read, make private, delete', async (t) => {
  const c = client();
  const id = await c.createProject({ name: 'pro1', public: true, storageLimit: 10 * 2 ** 30 });
  const project = await c.getProject('pro1');
  t.match(project, { project_id: id, name: 'pro1', metadata: { public: 'true' }, owner_name: 'admin' });
  t.equal(await c.getProject('nope'), undefined);
  t.equal(mock.storageLimit('pro1'), 10 * 2 ** 30, 'storage_limit sent');
  await c.setProjectPublic('pro1', false);
  t.equal((await c.getProject('pro1'))!.metadata!.public, 'false');
  t.ok((await c.listProjects()).some((p) => p.name === 'library'), "Harbor's default project is listed");
  const digits = await c.createProject({ name: '2024', public: false });
  t.equal((await c.getProject('2024'))!.project_id, digits, 'a name made of digits is a name, not an id');
  await c.deleteProject('2024');
  await c.deleteProject('pro1');
  t.equal(await c.getProject('pro1'), undefined);
});

t.test('members: add by user name, every role, update, remove', async (t) => {
  const c = client();
  await c.createProject({ name: 'team', public: false });
  await c.createUser({ username: 'carol', email: 'carol@example.com', realname: 'Carol', password: userPassword });
  t.same((await c.listMembers('team')).map((m) => [m.entity_name, m.role_id]), [['admin', 1]], 'the creator is projectAdmin');
  for (const [name, id] of Object.entries(ROLES)) {
    await c.addMember('team', 'carol', id);
    const member = await c.getMember('team', 'carol');
    t.match(member, { entity_name: 'carol', entity_type: 'u', role_id: id, role_name: name });
    await c.removeMember('team', member!);
  }
  await c.addMember('team', 'carol', ROLES.guest);
  await c.updateMember('team', (await c.getMember('team', 'carol'))!, ROLES.maintainer);
  t.equal((await c.getMember('team', 'carol'))!.role_name, 'maintainer');
  t.equal(await c.getMember('team', 'caro'), undefined, 'no partial matches');
  await c.deleteProject('team');
  await c.deleteUser((await c.getUser('carol'))!);
});

t.test('errors are one line naming the operation and the object', async (t) => {
  const c = client();
  await failsWith(t, client('WrongPassw0rd').currentUser(), /^log in as admin: Harbor at https:\/\/127\.0\.0\.1:\d+ refused the credentials of admin: wrong admin password/);
  await failsWith(t, client('WrongPassw0rd').listUsers(), /^list users: .*wrong admin password/);
  await failsWith(t, c.deleteProject('ghost'), /^delete project ghost: not found \(NOT_FOUND: project ghost not found\)/);
  await failsWith(t, c.listMembers('ghost'), /^list members of project ghost: not found/);
  await c.createProject({ name: 'errs', public: false });
  await failsWith(t, c.addMember('errs', 'nobody', ROLES.guest), /^add user nobody to project errs: not found \(NOT_FOUND: user nobody not found\)/);
  await failsWith(t, c.createProject({ name: 'errs', public: false }), /^create project errs: conflict: CONFLICT: The project named errs already exists/);
  await failsWith(t, c.addMember('errs', 'admin', ROLES.guest), /^add user admin to project errs: conflict/);
  await c.createUser({ username: 'erin', email: 'erin@example.com', realname: 'Erin', password: userPassword });
  await failsWith(t, c.createUser({ username: 'erin', email: 'erin2@example.com', realname: 'Erin', password: userPassword }), /^create user erin: conflict: CONFLICT: username erin is already used/);
  await failsWith(t, c.createUser({ username: 'weak', email: 'weak@example.com', realname: 'Weak', password: new Secret('alllowercase') }), /^create user weak: Harbor answered HTTP 400: BAD_REQUEST: the password/);
  await failsWith(t, c.createProject({ name: 'Bad Name', public: false }), /^create project Bad Name: Harbor answered HTTP 400/);
  await c.deleteProject('errs');
  await c.deleteUser((await c.getUser('erin'))!);
});

t.test('a wrong password looks anonymous to Harbor: public projects still list, so the login check matters', async (t) => {
  const anonymous = client('WrongPassw0rd');
  t.same((await anonymous.listProjects()).map((p) => p.name), ['library'], 'only the public project');
  await failsWith(t, anonymous.currentUser(), /wrong admin password/);
});

t.test('a non-admin is refused admin operations with 403', async (t) => {
  mock.seedUser('frank', 'FrankPassw0rd');
  const frank = client('FrankPassw0rd', 'frank');
  t.match(await frank.currentUser(), { username: 'frank', sysadmin_flag: false });
  await failsWith(t, frank.listUsers(), /^list users: forbidden: frank may not do this \(FORBIDDEN: forbidden\)/);
  await failsWith(t, frank.createProject({ name: 'franks', public: false }), /^create project franks: forbidden/);
});

t.test('the certificate must verify: no CA or a wrong server name is refused, never bypassed', async (t) => {
  const untrusting = new HarborClient({ url: mock.url, password: new Secret(mock.adminPassword) });
  clients.push(untrusting);
  await failsWith(t, untrusting.systeminfo(), /^read system info: the TLS certificate of 127\.0\.0\.1:\d+ is not trusted \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\): pass --ca/);
  const other = new HarborClient({ url: mock.url.replace('127.0.0.1', 'localhost'), caPem: mock.caPem, password: new Secret(mock.adminPassword) });
  clients.push(other);
  await failsWith(t, other.systeminfo(), /not trusted \(ERR_TLS_CERT_ALTNAME_INVALID\)/);
  t.throws(() => new HarborClient({ url: 'http://127.0.0.1:1', password: new Secret('x') }), /only https:\/\/ is supported/);
});

t.test('an unreachable Harbor is one line too', async (t) => {
  const gone = new HarborClient({ url: 'https://127.0.0.1:1', caPem: mock.caPem, password: new Secret(mock.adminPassword) });
  clients.push(gone);
  await failsWith(t, gone.health(), /^read health: cannot reach https:\/\/127\.0\.0\.1:1 \(ECONNREFUSED\)/);
});

t.test('new user passwords meet Harbor\'s rule and differ', async (t) => {
  const made = Array.from({ length: 500 }, () => newUserPassword().reveal());
  t.same(made.filter((p) => !meetsHarborPolicy(p)), [], 'all 500: 24 chars with upper, lower and digit');
  t.equal(new Set(made).size, 500, 'all different');
  t.ok(meetsHarborPolicy(newUserPassword(8).reveal()), 'even the shortest');
  t.notOk(meetsHarborPolicy('alllowercase1'));
  t.notOk(meetsHarborPolicy('Short1'));
  t.match(String(newUserPassword()), '********', 'a Secret');
});

t.test('table aligns columns', async (t) => {
  t.equal(table([['bob', 12], ['alexander', 3]], ['USER', 'ID']), 'USER       ID\nbob        12\nalexander  3');
});

t.test("every request above is one Harbor's swagger allows", { skip: SWAGGER_SKIP }, async (t) => {
  t.ok(mock.calls.length > 50, 'the tests above made requests');
  t.same(mock.violations, [], 'no request strayed from the swagger');
});
