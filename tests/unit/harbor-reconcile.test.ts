// Harbor as code against the stateful Harbor mock over HTTPS: every object kind created, updated,
// left alone, pruned, and planned in check mode without a write; every request checked against
// Harbor's swagger (when ../shared holds it).
import t from 'tap';
import { applyPlan, formatPlan, HarborClient, meetsHarborPolicy, parseHarborSpec, planHarbor, type PlanEntry, type ReconcileContext, type SecretStore } from '../../lib/harbor/index.ts';
import type { RunEvent } from '../../lib/run/types.ts';
import { Secret } from '../../lib/secret.ts';
import { startHarborMock, type HarborMock } from '../helpers/harbor-mock.ts';
import { SWAGGER_SKIP } from '../helpers/harbor-swagger.ts';

let mock: HarborMock;
let client: HarborClient;
const vault = new Map<string, Secret>();
const secrets: SecretStore = {
  get: (key) => vault.get(key),
  update: async (key, next) => {
    const value = next(vault.get(key));
    vault.set(key, value);
    return value;
  },
};
const ctx = (prune = false): ReconcileContext => ({ client, prune, secrets });

t.before(async () => {
  mock = await startHarborMock({ adminPassword: 'ReconcileAdminPassw0rd' });
  client = new HarborClient({ url: mock.url, caPem: mock.caPem, password: new Secret(mock.adminPassword) });
});
t.teardown(async () => {
  client.close();
  await mock.close();
});

const SPEC = {
  users: { alice: { admin: true, email: 'alice@example.com' }, bob: { email: 'bob@example.com', realname: 'Bob' } },
  projects: {
    library: {},
    apps: {
      public: false,
      storage_limit: '10GiB',
      auto_scan: true,
      severity: 'high',
      members: { bob: 'developer', alice: 'maintainer' },
      groups: { devs: 'guest' },
      retention: { schedule: '0 0 3 * * *', rules: [{ latest_pushed: 10 }, { repositories: 'tools/**', pushed_within_days: 30, untagged: true }] },
      immutability: [{ tags: 'v*' }],
      webhooks: { ci: { url: 'https://ci.example.com/hook', events: ['PUSH_ARTIFACT', 'SCANNING_COMPLETED'] } },
    },
  },
  robots: {
    ci: { project: 'apps', permissions: ['repository:push', 'repository:pull', 'artifact:read'], duration: 90 },
    scanner: { permissions: { projects: { '*': ['repository:pull'] } } },
  },
  gc: { schedule: 'daily', delete_untagged: true },
};
const spec = (raw: unknown = SPEC) => parseHarborSpec(raw, 'test spec');

/** Applies (or checks) a plan, returning its step events. */
async function run(entries: PlanEntry[], check = false): Promise<{ code: number; steps: Extract<RunEvent, { type: 'step' }>[] }> {
  const events: RunEvent[] = [];
  const code = await applyPlan(entries, { host: 'harbor.test', check, sink: (e) => events.push(e) });
  return { code, steps: events.filter((e): e is Extract<RunEvent, { type: 'step' }> => e.type === 'step') };
}
const actions = (entries: PlanEntry[]) => Object.fromEntries(entries.map((e) => [`${e.kind} ${e.name}`, e.action]));

t.test('check mode plans every kind as a creation and writes nothing', async (t) => {
  mock.seedGroup('devs');
  const entries = await planHarbor(ctx(), spec());
  t.match(actions(entries), {
    'user alice': 'create',
    'user bob': 'create',
    'project library': 'ok',
    'project apps': 'create',
    'member bob in apps': 'create',
    'member group devs in apps': 'create',
    'retention retention of apps': 'create',
    'immutability apps: tags v* in **': 'create',
    'webhook ci in apps': 'create',
    'robot robot$apps+ci': 'create',
    'robot robot$scanner': 'create',
    'gc schedule': 'create',
  });
  const writes = mock.writes().length;
  const { code, steps } = await run(entries, true);
  t.equal(code, 0);
  t.ok(steps.filter((s) => s.status === 'changed').length >= 11, 'reported as would-change');
  t.equal(mock.writes().length, writes, 'no write request');
  t.equal(vault.size, 0, 'no secret made');
  const text = formatPlan(entries);
  t.match(text, /^ {2}\+ user alice\n {6}admin: true\n/m);
  t.match(text, /^ {2}\+ project apps\n(?: {6}.*\n)* {6}storage_limit: 10737418240\n/m);
  t.match(text, /^Plan: 12 to add, 0 to change, 0 to remove\.$/m);
});

t.test('apply makes it all; a second plan has nothing to do', async (t) => {
  const { code, steps } = await run(await planHarbor(ctx(), spec()));
  t.equal(code, 0, steps.find((s) => s.error)?.error ?? 'no failure');
  t.same(mock.robots().sort(), ['robot$apps+ci', 'robot$scanner']);
  t.equal(mock.storageLimit('apps'), 10 * 2 ** 30);
  for (const key of ['harbor_users.alice', 'harbor_users.bob', 'harbor_robots.ci', 'harbor_robots.scanner']) t.ok(meetsHarborPolicy(vault.get(key)?.reveal() ?? ''), `${key} in the vault`);
  t.equal(mock.robotSecret('robot$apps+ci'), vault.get('harbor_robots.ci')!.reveal(), "the robot's secret is the vault's");
  const alice = new HarborClient({ url: mock.url, caPem: mock.caPem, username: 'alice', password: vault.get('harbor_users.alice')! });
  t.match(await alice.currentUser(), { username: 'alice', sysadmin_flag: true }, 'alice logs in with her vault password, an admin');
  alice.close();
  t.match(await client.getProject('apps'), { metadata: { public: 'false', auto_scan: 'true', severity: 'high', retention_id: /^\d+$/ } });

  const writes = mock.writes().length;
  const again = await planHarbor(ctx(), spec());
  t.same(again.filter((e) => e.action !== 'ok'), [], 'every object ok');
  t.match(formatPlan(again), /^No changes: Harbor matches the spec \(\d+ objects\)\.$/m);
  await run(again);
  t.equal(mock.writes().length, writes, 'applying an empty plan writes nothing');
});

t.test('changes are updates with attribute diffs, applied in place', async (t) => {
  const changed = structuredClone(SPEC) as typeof SPEC & Record<string, unknown>;
  Object.assign(changed.users.alice, { admin: false, realname: 'Alice A.' });
  Object.assign(changed.projects.apps, {
    public: true,
    storage_limit: -1,
    severity: 'critical',
    members: { bob: 'maintainer', alice: 'maintainer' },
    retention: { schedule: '0 0 4 * * *', rules: [{ latest_pushed: 5 }] },
    immutability: [{ tags: 'v*', disabled: true }],
    webhooks: { ci: { url: 'https://ci.example.com/v2', events: ['PUSH_ARTIFACT'], enabled: false } },
  });
  changed.robots.ci = { ...changed.robots.ci, duration: 30, permissions: ['repository:pull'] };
  changed.gc = { schedule: '0 30 2 * * 6', delete_untagged: false };
  const entries = await planHarbor(ctx(), spec(changed));
  const byName = (n: string) => entries.find((e) => `${e.kind} ${e.name}` === n)!;
  t.same(byName('user alice').diffs, [
    { attr: 'admin', from: true, to: false },
    { attr: 'realname', from: 'alice', to: 'Alice A.' },
  ]);
  t.same(byName('project apps').diffs.map((d) => d.attr).sort(), ['public', 'severity', 'storage_limit']);
  t.same(byName('member bob in apps').diffs, [{ attr: 'role', from: 'developer', to: 'maintainer' }]);
  t.equal(byName('member alice in apps').action, 'ok');
  t.match(byName('retention retention of apps').diffs, [{ attr: 'schedule', from: '0 0 3 * * *', to: '0 0 4 * * *' }, { attr: 'rules' }]);
  t.same(byName('immutability apps: tags v* in **').diffs, [{ attr: 'disabled', from: false, to: true }]);
  t.same(byName('webhook ci in apps').diffs.map((d) => d.attr), ['url', 'events', 'enabled']);
  t.same(byName('robot robot$apps+ci').diffs.map((d) => d.attr), ['duration', 'permissions']);
  t.match(byName('gc schedule').diffs, [{ attr: 'schedule', from: 'Daily', to: '0 30 2 * * 6' }, { attr: 'delete_untagged', from: true, to: false }]);
  t.match(formatPlan(entries), /^ {2}~ user alice\n {6}admin: true → false\n {6}realname: alice → Alice A\.\n/m);

  const secret = vault.get('harbor_robots.ci')!.reveal();
  const { code, steps } = await run(entries);
  t.equal(code, 0, steps.find((s) => s.error)?.error ?? 'no failure');
  t.match(steps.find((s) => s.step === 'user alice'), { status: 'changed', summary: 'admin: true → false; realname: alice → Alice A.' });
  t.same((await planHarbor(ctx(), spec(changed))).filter((e) => e.action !== 'ok'), [], 'converged');
  t.equal(vault.get('harbor_robots.ci')!.reveal(), secret, 'an update keeps the robot secret');
  t.equal(mock.storageLimit('apps'), -1);
});

t.test('objects the spec does not name are reported, and removed only with --prune', async (t) => {
  await client.createProject({ name: 'stray', public: false });
  await client.createUser({ username: 'eve', email: 'eve@example.com', realname: 'Eve', password: new Secret('EvePassw0rdEve') });
  await client.addMember('apps', 'eve', 2);
  await client.putImmutableRule('apps', { action: 'immutable', template: 'immutable_template', tag_selectors: [{ kind: 'doublestar', decoration: 'matches', pattern: 'rc-*' }], scope_selectors: { repository: [{ kind: 'doublestar', decoration: 'repoMatches', pattern: '**' }] } });
  await client.putWebhook('apps', { name: 'old', targets: [{ type: 'http', address: 'https://old.example.com' }], event_types: ['PULL_ARTIFACT'], enabled: true });
  await client.createRobot({ name: 'legacy', level: 'system', description: '', duration: -1, disable: false, permissions: [{ kind: 'project', namespace: '*', access: [{ resource: 'repository', action: 'pull' }] }], secret: new Secret('LegacyPassw0rd1') });

  const unmanaged = ['project stray', 'user eve', 'member eve in apps', 'immutability apps: tags rc-* in **', 'webhook old in apps', 'robot robot$legacy'];
  const kept = await planHarbor(ctx(), spec());
  t.same(kept.filter((e) => e.action === 'unmanaged').map((e) => `${e.kind} ${e.name}`).sort(), [...unmanaged].sort());
  t.notOk(kept.some((e) => e.action === 'unmanaged' && e.name.startsWith('admin')), "the admin's own user and membership are Harbor's");
  t.match(formatPlan(kept), /^ {2}\? user eve: not in the spec: kept \(--prune removes it\)$/m);
  const { steps } = await run(kept);
  t.match(steps.find((s) => s.step === 'user eve'), { status: 'skipped' });
  t.ok(mock.users().includes('eve') && mock.projects().includes('stray'), 'kept without --prune');

  const pruning = await planHarbor(ctx(true), spec());
  t.same(pruning.filter((e) => e.action === 'delete').map((e) => `${e.kind} ${e.name}`).sort(), [...unmanaged].sort());
  t.equal((await run(pruning, true)).code, 0);
  t.ok(mock.users().includes('eve'), 'check mode prunes nothing');
  const { code, steps: done } = await run(pruning);
  t.equal(code, 0, done.find((s) => s.error)?.error ?? 'no failure');
  t.notOk(mock.users().includes('eve') || mock.projects().includes('stray') || mock.robots().includes('robot$legacy'), 'pruned');
  t.same((await planHarbor(ctx(true), spec())).filter((e) => e.action !== 'ok'), []);
});

t.test('absent: removes what the spec says is gone; a robot without its vault secret gets a new one', async (t) => {
  vault.delete('harbor_robots.scanner');
  const raw = structuredClone(SPEC) as Record<string, Record<string, unknown>>;
  raw.users!.bob = { absent: true };
  (raw.projects!.apps as Record<string, unknown>).members = { bob: 'absent', alice: 'maintainer' };
  raw.robots!.ci = { project: 'apps', absent: true };
  raw.gc = { schedule: 'none' };
  const entries = await planHarbor(ctx(), spec(raw));
  t.match(actions(entries), { 'user bob': 'delete', 'member bob in apps': 'delete', 'robot robot$apps+ci': 'delete', 'robot robot$scanner': 'update', 'gc schedule': 'delete' });
  t.match(entries.find((e) => e.name === 'robot$scanner')!.diffs, [{ attr: 'secret', from: 'not in the vault' }]);
  t.equal((await run(entries)).code, 0);
  t.notOk(mock.users().includes('bob'));
  t.same(mock.robots(), ['robot$scanner']);
  t.equal(mock.robotSecret('robot$scanner'), vault.get('harbor_robots.scanner')?.reveal(), 'the new secret is in the vault and in Harbor');
  t.same((await planHarbor(ctx(), spec(raw))).filter((e) => e.action !== 'ok'), [], 'converged');
});

t.test('a failure stops the run: reported as failed, the rest not run, then the recap', async (t) => {
  const events: RunEvent[] = [];
  const entries = await planHarbor(ctx(), spec({ users: { zed: { email: 'alice@example.com' } }, projects: { fresh: {} } }));
  const code = await applyPlan(entries, { host: 'harbor.test', check: false, sink: (e) => events.push(e) });
  t.equal(code, 2);
  const steps = events.filter((e) => e.type === 'step');
  t.match(steps, [{ step: 'user zed', status: 'failed', error: /^create user zed: conflict: CONFLICT: email alice@example\.com is already used$/ }]);
  t.equal(steps.length, 1, 'project fresh was not attempted');
  t.match(events.at(-1), { type: 'recap', hosts: { 'harbor.test': { failed: 1, changed: 0 } } });
  t.notOk(mock.projects().includes('fresh'));
});

t.test('the system configuration is one object: keys that differ updated in one PUT, then ok; keys left out untouched', async (t) => {
  const want = spec({ configurations: { banner_message: 'managed', token_expiration: 45, read_only: false } });
  const before = mock.writes().length;
  const entries = await planHarbor(ctx(), want);
  t.match(entries, [{ kind: 'configuration', name: 'system', action: 'update', diffs: [{ attr: 'banner_message', from: '', to: 'managed' }, { attr: 'token_expiration', from: 30, to: 45 }] }]);
  t.match(formatPlan(entries), /^ {2}~ configuration system\n {6}banner_message: "" → managed\n {6}token_expiration: 30 → 45\n/);
  t.match((await run(entries, true)).steps, [{ step: 'configuration system', status: 'changed' }]);
  t.equal(mock.writes().length, before, 'check mode: no write');
  const applied = await run(entries);
  t.match(applied.steps, [{ step: 'configuration system', status: 'changed', summary: 'banner_message: "" → managed; token_expiration: 30 → 45' }]);
  t.strictSame(mock.writes().slice(before).map((c) => `${c.method} ${c.path} ${c.status}`), ['PUT /api/v2.0/configurations 200'], 'read_only already false: one PUT of the two others');
  t.match(mock.configurations, { banner_message: 'managed', token_expiration: 45, self_registration: false, session_timeout: 60 });
  t.match(await planHarbor(ctx(), want), [{ kind: 'configuration', action: 'ok' }]);
  t.strictSame(await planHarbor(ctx(), spec({})), [], 'no configurations: not managed');
});

t.test("a key Harbor's core environment fixes is refused at plan time, naming it", async (t) => {
  const fixed = await startHarborMock({ adminPassword: mock.adminPassword, fixedConfigurations: ['read_only'] });
  const other = new HarborClient({ url: fixed.url, caPem: fixed.caPem, password: new Secret(fixed.adminPassword) });
  t.teardown(async () => {
    other.close();
    await fixed.close();
  });
  const want = spec({ configurations: { read_only: true } });
  await t.rejects(planHarbor({ client: other, prune: false, secrets }, want), { message: /^Harbor at https:\/\/127\.0\.0\.1:\d+: read_only cannot be changed over the API \(set by Harbor's core environment\)$/ });
  t.strictSame(fixed.writes(), []);
});

t.test('a bad spec is one line naming the source and the key', async (t) => {
  const bad: [unknown, RegExp][] = [
    [{ projets: {} }, /^test spec: harbor\.projets: unknown key \(known: users, projects, robots, gc, configurations\)$/],
    [{ configurations: { self_registraton: false } }, /^test spec: harbor\.configurations: self_registraton is not a Harbor configuration key/],
    [{ configurations: { token_expiration: '30' } }, /^test spec: harbor\.configurations: token_expiration must be an integer, not "30"$/],
    [{ users: { bob: { admin: 'yes' } } }, /^test spec: harbor\.users\.bob\.admin: expected true or false, got "yes"$/],
    [{ projects: { p: { severity: 'severe' } } }, /^test spec: harbor\.projects\.p\.severity: expected one of none, low, medium, high, critical/],
    [{ projects: { p: { members: { bob: 'owner' } } } }, /^test spec: harbor\.projects\.p\.members\.bob: expected one of projectAdmin/],
    [{ projects: { p: { storage_limit: '10 parsecs' } } }, /storage_limit: expected bytes/],
    [{ projects: { p: { retention: { rules: [{ latest_pushed: 1, always: true }] } } } }, /retention\.rules\[0\]: give exactly one of always/],
    [{ projects: { p: { webhooks: { w: { url: 'ftp://x', events: [] } } } } }, /webhooks\.w\.url: expected an http\(s\) URL/],
    [{ robots: { r: { project: 'p', permissions: ['push'] } } }, /robots\.r\.permissions\[0\]: expected RESOURCE:ACTION/],
    [{ robots: { r: { permissions: {} } } }, /robots\.r\.permissions: a system robot needs system: or projects: access/],
    [{ gc: { schedule: 'sometimes' } }, /gc\.schedule: expected hourly, daily, weekly, none or a 6-field cron/],
  ];
  for (const [raw, pattern] of bad) t.throws(() => parseHarborSpec(raw, 'test spec'), pattern);
});

t.test("every request was one Harbor's swagger allows", { skip: SWAGGER_SKIP }, async (t) => {
  t.ok(mock.conformance);
  t.same(mock.violations, []);
});
