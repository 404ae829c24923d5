// scripts/harbor.mts as operators run it (npx zx), against the Harbor mock over HTTPS, with a
// real vault (admin password in, new users' passwords written back) and the CA in a certs dir.
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { HarborClient, meetsHarborPolicy } from '../../lib/harbor/index.ts';
import { Secret } from '../../lib/secret.ts';
import { VaultFile } from '../../lib/vault/index.ts';
import { exitCodeOf } from '../../lib/cli.ts';
import { main } from '../../lib/commands/harbor.ts';
import { runScript } from '../helpers/cli.ts';
import { startHarborMock, type HarborMock } from '../helpers/harbor-mock.ts';

const ADMIN_PASSWORD = 'AdminCliPassw0rd';
const VAULT_PASSWORD = 'harbor cli test vault password';

// Not t.testdir(): its fixed path would be shared with another run of this file at the same time.
const dir = await mkdtemp(join(tmpdir(), 'harbor-cli-'));
const certs = join(dir, 'certs');
const vault = join(dir, 'secrets.yaml');
const wrongVault = join(dir, 'wrong.yaml');
const passwordFile = join(dir, 'vault-password');
const inventory = join(dir, 'inventory.yaml');

let mock: HarborMock;
/** Everything the script printed, to check that no secret ever appears. */
const printed: string[] = [];

async function makeVault(file: string, admin: string): Promise<void> {
  const v = await VaultFile.open(file, new Secret(VAULT_PASSWORD), { create: true });
  v.set('harbor_admin_password', admin);
  await v.save();
}

t.before(async () => {
  mock = await startHarborMock({ adminPassword: ADMIN_PASSWORD });
  await mkdir(certs);
  await writeFile(join(certs, 'ca.crt'), mock.caPem);
  await writeFile(passwordFile, VAULT_PASSWORD + '\n');
  await chmod(passwordFile, 0o600);
  await makeVault(vault, ADMIN_PASSWORD);
  await makeVault(wrongVault, 'NotTheAdminPassw0rd');
  // localhost:443 refuses connections: shows the URL came from the inventory, without any DNS.
  await writeFile(inventory, 'all:\n  children:\n    registry:\n      hosts:\n        registry-1: { ansible_host: 127.0.0.1, registry_public_name: localhost }\n');
});
t.teardown(async () => {
  await mock.close();
  await rm(dir, { recursive: true, force: true });
});

async function harbor(...args: string[]) {
  const result = await runScript('harbor', ...args);
  printed.push(result.stdout, result.stderr);
  return result;
}
/** The command in this process (its main(ctx) holds no module state), as runMain would report it. */
async function inProcess(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const out = { write: (text: string) => (stdout += text) };
  const err = { write: (text: string) => (stderr += text) };
  const code = await exitCodeOf('harbor', () => main({ args, out, err }), err);
  printed.push(stdout, stderr);
  return { code, stdout, stderr };
}
/** Against the mock with the deployment's vault and certs dir (the CA found there by default). */
const run = (...args: string[]) => inProcess(...args, '--url', mock.url, '--certs-dir', certs, '--vault', vault, '--vault-password-file', passwordFile);

async function vaultKey(key: string): Promise<string | undefined> {
  return (await VaultFile.open(vault, new Secret(VAULT_PASSWORD))).get(key)?.reveal();
}

t.test('--help lists every command', async (t) => {
  const r = await harbor('--help');
  t.equal(r.code, 0);
  for (const c of ['info', 'users', 'user add NAME', 'user rm NAME', 'projects', 'project add NAME', 'project rm NAME', 'members PROJECT', 'member add PROJECT USER', 'member rm PROJECT USER', '--check']) {
    t.ok(r.stdout.includes(c), c);
  }
});

t.test('info shows version, settings and health', async (t) => {
  const r = await run('info');
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^url: +https:\/\/127\.0\.0\.1:\d+$/m);
  t.match(r.stdout, /^version: +v2\.15\.2-mock$/m);
  t.match(r.stdout, /^project creation: +adminonly$/m);
  t.match(r.stdout, /^health: +healthy$/m);
  t.match(r.stdout, /^ {2}registry: +healthy$/m);
});

/** The reporter's step lines, "changed | project pro1 (created; public: true)", host column dropped. */
const steps = (out: string): string[] =>
  out
    .split('\n')
    .filter((l) => /^ {2}(ok|changed|failed|skipped) /.test(l))
    .map((l) => l.trim().replace(/ +127\.0\.0\.1:\d+ +/, ' | ').replace(/ +\|/, ' |'));
/** The recap row's counts for Harbor's host. */
function recap(out: string): { ok: number; changed: number; failed: number; skipped: number } {
  const row = out.split('\n').find((l) => /^127\.0\.0\.1:\d+ +\d/.test(l));
  const [ok, changed, , failed, skipped] = (row ?? '').split(/ +/).slice(1).map(Number);
  return { ok: ok!, changed: changed!, failed: failed!, skipped: skipped! };
}

t.test('project, user and member: created once, then ok with no write; tables list them', async (t) => {
  let r = await run('project', 'add', 'pro1', '--public');
  t.equal(r.code, 0, r.stderr);
  t.same(steps(r.stdout), ['changed | project pro1 (created; public: true)']);
  t.match(recap(r.stdout), { ok: 1, changed: 1, failed: 0 });
  t.match(r.stdout, /^ROLE harbor \[127\.0\.0\.1:\d+\]$/m, "the engine's report: a role run on Harbor's host");

  r = await run('user', 'add', 'bob', '--email', 'bob@example.com', '--realname', 'Bob Builder');
  t.equal(r.code, 0, r.stderr);
  t.same(steps(r.stdout), ['changed | user bob (created; email: bob@example.com; realname: Bob Builder; password: in the vault as harbor_users.bob)']);
  const bobPassword = await vaultKey('harbor_users.bob');
  t.ok(bobPassword && meetsHarborPolicy(bobPassword), "the generated password is in the vault and meets Harbor's rule");
  const asBob = new HarborClient({ url: mock.url, caPem: mock.caPem, username: 'bob', password: new Secret(bobPassword!) });
  t.match(await asBob.currentUser(), { username: 'bob', email: 'bob@example.com', realname: 'Bob Builder' }, 'bob logs in with it');
  asBob.close();

  r = await run('member', 'add', 'pro1', 'bob', '--role', 'developer');
  t.equal(r.code, 0, r.stderr);
  t.same(steps(r.stdout), ['changed | member bob in pro1 (created; role: developer)']);

  const writes = mock.writes().length;
  t.same(steps((await run('project', 'add', 'pro1', '--public')).stdout), ['ok | project pro1']);
  t.same(steps((await run('user', 'add', 'bob', '--email', 'bob@example.com')).stdout), ['ok | user bob']);
  r = await run('member', 'add', 'pro1', 'bob', '--role', 'developer');
  t.same(steps(r.stdout), ['ok | member bob in pro1'], 'the one member named, not the others');
  t.match(recap(r.stdout), { ok: 1, changed: 0 });
  t.equal(mock.writes().length, writes, 'the second run sent no write request');
  t.equal(await vaultKey('harbor_users.bob'), bobPassword, 'the vault password is kept');

  r = await run('users');
  t.equal(r.code, 0, r.stderr);
  const users = r.stdout.trimEnd().split('\n');
  t.match(users[0], /^USER +ID +ADMIN +EMAIL +REAL NAME +CREATED$/);
  t.match(users.find((l) => l.startsWith('bob ')), /^bob +\d+ +no +bob@example\.com +Bob Builder +\d{4}-\d\d-\d\d$/);
  t.equal(users[0]!.indexOf('ID'), users[1]!.search(/ \d/) + 1, 'columns aligned');

  r = await run('projects');
  t.match(r.stdout, /^PROJECT +ID +PUBLIC +OWNER +REPOS +CREATED\n/);
  t.match(r.stdout, /^pro1 +\d+ +yes +admin +0 +\d{4}-/m);
  t.match(r.stdout, /^library +1 +yes +admin/m);

  r = await run('members', 'pro1');
  t.match(r.stdout, /^MEMBER {2}TYPE {2}ROLE {10}ID\nadmin {3}user {2}projectAdmin {2}\d+\nbob {5}user {2}developer {5}\d+\n$/);
});

t.test('--check reports what would change and writes nothing (not even to the vault)', async (t) => {
  const writes = mock.writes().length;
  let r = await run('member', 'add', 'pro1', 'bob', '--role', 'guest', '--check');
  t.same(steps(r.stdout), ['changed | member bob in pro1 (role: developer → guest)']);
  t.match(r.stdout, /^check mode: nothing will be changed$/m);
  t.match(r.stdout, /^RECAP \(check mode\)$/m);
  r = await run('user', 'add', 'carol', '--email', 'carol@example.com', '-C');
  t.match(steps(r.stdout), [/^changed \| user carol \(created; /]);
  r = await run('project', 'rm', 'pro1', '--check');
  t.same(steps(r.stdout), ['changed | project pro1 (deleted)']);
  t.equal(mock.writes().length, writes, 'no write request');
  t.equal(await vaultKey('harbor_users.carol'), undefined, 'no password made');
  t.same(mock.users().includes('carol'), false);
});

t.test('a role changes in place; members, projects and users are removed once', async (t) => {
  t.same(steps((await run('member', 'add', 'pro1', 'bob', '--role', 'maintainer')).stdout), ['changed | member bob in pro1 (role: developer → maintainer)']);
  t.same(steps((await run('member', 'rm', 'pro1', 'bob')).stdout), ['changed | member bob in pro1 (deleted)']);
  t.same(steps((await run('member', 'rm', 'pro1', 'bob')).stdout), ['ok | member bob in pro1']);
  t.same(steps((await run('user', 'add', 'bob', '--admin', '--email', 'bob@example.com')).stdout), ['changed | user bob (admin: false → true)']);
  t.same(steps((await run('user', 'rm', 'bob')).stdout), ['changed | user bob (deleted)']);
  t.same(steps((await run('user', 'rm', 'bob')).stdout), ['ok | user bob']);
  t.same(steps((await run('project', 'rm', 'pro1')).stdout), ['changed | project pro1 (deleted)']);
  t.same(mock.projects(), ['library']);
  t.same(steps((await run('project', 'add', 'quota', '--storage-limit', '1073741824')).stdout), ['changed | project quota (created; storage_limit: 1073741824)']);
  t.equal(mock.storageLimit('quota'), 1073741824);
  await run('project', 'rm', 'quota');
});

t.test('plan and apply a --spec file; apply then plan shows nothing; --json events; robot rotate', async (t) => {
  const spec = join(dir, 'harbor.yaml');
  await writeFile(
    spec,
    [
      'users:',
      '  dana: { email: dana@example.com, admin: true }',
      'projects:',
      '  library: {}',
      '  web: { public: true, auto_scan: true, members: { dana: maintainer } }',
      'robots:',
      '  deploy: { project: web, permissions: [repository:pull, repository:push] }',
      '',
    ].join('\n'),
  );
  const withSpec = (...args: string[]) => run(...args, '--spec', spec);
  let r = await withSpec('plan');
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^ {2}\+ user dana\n {6}admin: true\n {6}email: dana@example\.com\n/m);
  t.match(r.stdout, /^ {2}\+ robot robot\$web\+deploy\n/m);
  t.match(r.stdout, /^Plan: 4 to add, 0 to change, 0 to remove\.$/m);
  const writes = mock.writes().length;
  t.equal(mock.writes().length, writes, 'plan writes nothing');

  r = await withSpec('apply');
  t.equal(r.code, 1, 'no terminal to ask on');
  t.match(r.stderr, /^harbor: no terminal to ask on: pass --yes to go ahead\n$/);
  t.equal(mock.writes().length, writes, 'refused before any write');

  r = await withSpec('apply', '--yes');
  t.equal(r.code, 0, r.stderr);
  t.match(steps(r.stdout), ['changed | user dana (created; admin: true; email: dana@example.com; realname: dana; password: in the vault as harbor_users.dana)', 'ok | project library', /^changed \| project web \(created; /, 'changed | member dana in web (created; role: maintainer)', /^changed \| robot robot\$web\+deploy \(created; /]);
  const secret = await vaultKey('harbor_robots.deploy');
  t.equal(mock.robotSecret('robot$web+deploy'), secret, 'the robot secret is in the vault');
  t.notOk(r.stdout.includes(secret!) || r.stderr.includes(secret!), 'never shown');

  r = await withSpec('plan');
  t.match(r.stdout, /^No changes: Harbor matches the spec \(5 objects\)/m, 'apply then plan shows nothing to do');

  r = await withSpec('plan', '--json');
  const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; status?: string; check?: boolean });
  t.match(events[0], { type: 'run', check: true });
  t.ok(events.filter((e) => e.type === 'step').every((e) => e.status === 'ok'), 'every object ok');
  t.match(events.at(-1), { type: 'recap', check: true });

  r = await withSpec('robot', 'rotate', 'deploy');
  t.equal(r.code, 0, r.stderr);
  t.match(steps(r.stdout), [/^changed \| robot robot\$web\+deploy \(secret: kept in the vault → rotated, saved as harbor_robots\.deploy\)$/]);
  const rotated = await vaultKey('harbor_robots.deploy');
  t.not(rotated, secret, 'a new secret');
  t.equal(mock.robotSecret('robot$web+deploy'), rotated, 'Harbor has the vault one');
});

t.test("without --spec, the spec is the registry hosts' harbor: from the inventory's group_vars", async (t) => {
  const inv = join(dir, 'spec-inv');
  await mkdir(join(inv, 'group_vars'), { recursive: true });
  await writeFile(join(inv, 'hosts.yaml'), 'all:\n  children:\n    registry:\n      hosts:\n        registry-1: { ansible_host: 127.0.0.1 }\n');
  await writeFile(join(inv, 'group_vars', 'registry.yaml'), 'harbor:\n  projects:\n    from-inventory: { public: true }\n');
  const r = await run('plan', '-i', join(inv, 'hosts.yaml'));
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^ {2}\+ project from-inventory\n {6}public: true\n/m);
  t.match(r.stdout, /^ {2}\? project library: not in the spec: kept/m);
  await writeFile(join(inv, 'group_vars', 'registry.yaml'), 'harbor:\n  projects:\n    p: { public: maybe }\n');
  const bad = await run('plan', '-i', join(inv, 'hosts.yaml'));
  t.equal(bad.code, 1);
  t.match(bad.stderr, /^harbor: .*hosts\.yaml \(harbor:\): harbor\.projects\.p\.public: expected true or false, got "maybe"\n$/);
  await writeFile(join(inv, 'group_vars', 'registry.yaml'), 'other: 1\n');
  t.match((await run('plan', '-i', join(inv, 'hosts.yaml'))).stderr, /^harbor: .*hosts\.yaml: the registry hosts have no harbor: variable: declare it in group_vars .* or pass --spec FILE\n$/);
});

t.test("a spec's configurations: planned and applied as one object; one undoing what the registry role sets is refused", async (t) => {
  const spec = join(dir, 'config.yaml');
  const withSpec = async (yaml: string, inv = inventory) => {
    await writeFile(spec, yaml);
    return run('apply', '--yes', '--spec', spec, '-i', inv);
  };
  let r = await withSpec('configurations: { banner_message: maintenance at noon }\n');
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^ {2}~ configuration system\n {6}banner_message: "" → maintenance at noon\n/m);
  t.same(steps(r.stdout).filter((l) => l.includes('configuration')), ['changed | configuration system (banner_message: "" → maintenance at noon)']);
  t.equal(mock.configurations.banner_message, 'maintenance at noon');
  r = await withSpec('configurations: { banner_message: maintenance at noon }\n');
  t.same(steps(r.stdout).filter((l) => l.includes('configuration')), ['ok | configuration system'], 'rerun: ok');

  const writes = mock.writes().length;
  r = await withSpec('configurations: { self_registration: true }\n');
  t.equal(r.code, 1);
  t.match(r.stderr, /^harbor: .*config\.yaml: harbor\.configurations\.self_registration: true, but the registry role sets false on every converge \(harbor_config or its secure defaults\): set it in harbor_config instead\n$/);
  const withConfig = join(dir, 'inventory-config.yaml');
  await writeFile(withConfig, 'all:\n  children:\n    registry:\n      hosts:\n        registry-1: { ansible_host: 127.0.0.1, registry_public_name: localhost }\n      vars:\n        harbor_config: { token_expiration: 60 }\n');
  r = await withSpec('configurations: { token_expiration: 90 }\n', withConfig);
  t.match(r.stderr, /harbor\.configurations\.token_expiration: 90, but the registry role sets 60/, "the inventory's harbor_config counts");
  t.equal(mock.writes().length, writes, 'refused before any request');
  await writeFile(spec, 'configurations: { token_expiration: 60 }\n');
  r = await run('plan', '--spec', spec, '-i', withConfig);
  t.match(r.stdout, /^ {2}~ configuration system\n {6}token_expiration: 30 → 60\n/m, 'agreeing with harbor_config: planned');
});

t.test('errors are one line on stderr, exit 1', async (t) => {
  const oneLine = (r: { code: number; stdout: string; stderr: string }, pattern: RegExp) => {
    t.equal(r.code, 1, 'exit 1');
    t.match(r.stderr.trimEnd(), pattern);
    t.equal(r.stderr.split('\n').length, 2, `one line: ${r.stderr}`);
  };
  const wrong = await harbor('users', '--url', mock.url, '--certs-dir', certs, '--vault', wrongVault, '--vault-password-file', passwordFile);
  oneLine(wrong, /^harbor: log in as admin: Harbor at https:\/\/127\.0\.0\.1:\d+ refused the credentials of admin: wrong admin password\?/);
  oneLine(await run('members', 'ghost'), /^harbor: project ghost not found in Harbor at https:\/\/127\.0\.0\.1:\d+: add it with project add ghost$/);
  oneLine(await run('project', 'rm', 'library', 'extra'), /^harbor: usage: project rm NAME/);
  await run('project', 'add', 'pro2');
  oneLine(await run('member', 'add', 'pro2', 'nobody'), /^harbor: member nobody in pro2: user nobody not found in Harbor at .*: add it with user add nobody \(or under harbor\.users\)$/);
  oneLine(await run('member', 'add', 'pro2', 'admin', '--role', 'owner'), /^harbor: unknown role "owner"/);
  const refused = await run('project', 'add', 'Bad_Name');
  t.equal(refused.code, 2, "Harbor's refusal is a failed object, as a failed step: exit 2");
  t.match(steps(refused.stdout), ['failed | project Bad_Name']);
  t.match(refused.stdout, /^ +create project Bad_Name: Harbor answered HTTP 400: BAD_REQUEST: project name is not in lower case/m);
  t.match(recap(refused.stdout), { failed: 1 });
  oneLine(await run('plan', '--spec', join(dir, 'nope.yaml')), /^harbor: .*nope\.yaml: spec file not found$/);
  oneLine(await run('robot', 'rotate', 'ghost', '--spec', join(dir, 'harbor.yaml')), /^harbor: robot ghost is not in the spec/);
  oneLine(await run('project', 'add', 'pro3', '--storage-limit', '10G'), /^harbor: --storage-limit "10G": give bytes/);
  oneLine(await run('user', 'add', 'dan'), /^harbor: user dan: Harbor needs an email: give harbor\.users\.dan\.email \(or --email\)$/);
  oneLine(await run('frobnicate'), /^harbor: unknown command frobnicate/);
  oneLine(await run('users', '--bogus'), /^harbor: Unknown option '--bogus'/);
});

t.test('the certificate must verify against the CA: never an insecure fallback', async (t) => {
  const base = ['users', '--url', mock.url, '--vault', vault, '--vault-password-file', passwordFile];
  let r = await harbor(...base, '--certs-dir', join(dir, 'no-certs'));
  t.equal(r.code, 1);
  t.match(r.stderr, /^harbor: .*no-certs\/ca\.crt: no CA certificate to trust Harbor with: pass --ca FILE/);
  const otherCa = join(dir, 'other-ca.crt');
  const bundle = await readFile('/etc/ssl/certs/ca-certificates.crt', 'utf8');
  await writeFile(otherCa, bundle.slice(bundle.indexOf('-----BEGIN CERTIFICATE-----'), bundle.indexOf('-----END CERTIFICATE-----') + 26));
  r = await harbor(...base, '--ca', otherCa);
  t.equal(r.code, 1);
  t.match(r.stderr, /^harbor: log in as admin: the TLS certificate of 127\.0\.0\.1:\d+ is not trusted \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\): pass --ca/);
});

t.test('without --url, Harbor is https://<registry_public_name> from the inventory', async (t) => {
  const r = await harbor('info', '-i', inventory, '--certs-dir', certs, '--vault', vault, '--vault-password-file', passwordFile);
  t.equal(r.code, 1);
  t.match(r.stderr, /^harbor: log in as admin: cannot reach https:\/\/localhost \(ECONNREFUSED\)\n$/);
});

t.test('no secret ever reached stdout or stderr', async (t) => {
  const all = printed.join('\n');
  t.ok(all.length > 0);
  t.notOk(all.includes(ADMIN_PASSWORD), 'not the admin password');
  t.notOk(all.includes('NotTheAdminPassw0rd'), 'not the wrong admin password');
  t.notOk(all.includes(VAULT_PASSWORD), 'not the vault password');
  const v = await VaultFile.open(vault, new Secret(VAULT_PASSWORD));
  const userPasswords = v.keys().filter((k) => k.startsWith('harbor_users.') || k.startsWith('harbor_robots.')).map((k) => v.get(k)!.reveal());
  t.ok(userPasswords.length >= 1);
  for (const p of userPasswords) t.notOk(all.includes(p), 'not a user password or robot secret');
});
