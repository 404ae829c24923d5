// Harbor's system configuration: lib/harbor/configurations.ts's key table held against the
// swagger's `Configurations` definition, a wanted mapping checked with one-line errors, and the
// registry role's step setting it with real curl over HTTPS against the stateful Harbor API mock:
// the secure defaults set once (changed), then ok; the inventory's harbor_config; a wrong admin
// password or a Harbor not answering said plainly.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parse } from 'yaml';
import { checkConfigurations, CONFIGURATION_KEYS, describeChanges, diffConfigurations } from '../../lib/harbor/configurations.ts';
import { HarborClient } from '../../lib/harbor/client.ts';
import { Secret } from '../../lib/secret.ts';
import { harborAdminPasswordStep } from '../../roles/registry/harbor-admin.ts';
import type { HarborApi } from '../../roles/registry/harbor-api.ts';
import { harborSettingsStep } from '../../roles/registry/harbor-settings.ts';
import { applyLocally, converge, localEnv, planLocally } from '../fixtures/engine/local-shell.ts';
import { startHarborMock } from '../helpers/harbor-mock.ts';

const SWAGGER = fileURLToPath(new URL('../../../shared/reference/harbor/swagger.yaml', import.meta.url));
const scratch = await mkdtemp(join(tmpdir(), 'hm-harbor-config-'));
t.teardown(() => rm(scratch, { recursive: true, force: true }));

t.test('the key table is the swagger\'s Configurations definition', async (t) => {
  let swagger: string;
  try {
    swagger = await readFile(SWAGGER, 'utf8');
  } catch {
    t.plan(0, 'skipped: ../shared/reference/harbor/swagger.yaml is absent (a user clone)');
    return;
  }
  const defs = (parse(swagger) as { definitions: Record<string, { properties: Record<string, { type: string }> }> }).definitions;
  const theirs = Object.fromEntries(Object.entries(defs.Configurations!.properties).map(([k, v]) => [k, v.type]));
  t.strictSame({ ...CONFIGURATION_KEYS }, theirs);
});

t.test('a wanted mapping is checked key by key, in one line naming where it comes from', async (t) => {
  const where = 'registry role: harbor_config';
  t.strictSame(checkConfigurations({ self_registration: false, token_expiration: 60, banner_message: 'hi' }, where), { self_registration: false, token_expiration: 60, banner_message: 'hi' });
  t.strictSame(checkConfigurations(undefined, where), {});
  const bad: [unknown, RegExp][] = [
    [{ self_registraton: false }, /^registry role: harbor_config: self_registraton is not a Harbor configuration key/],
    [{ self_registration: 'no' }, /self_registration must be a boolean, not "no"$/],
    [{ token_expiration: 1.5 }, /token_expiration must be an integer, not 1\.5$/],
    [{ project_creation_restriction: 'admins' }, /project_creation_restriction must be one of adminonly, everyone, not "admins"$/],
    [{ ldap_search_password: 'x' }, /ldap_search_password is a secret Harbor never returns/],
    [['self_registration'], /harbor_config: must be a mapping/],
  ];
  for (const [value, re] of bad) t.throws(() => checkConfigurations(value, where), { message: re });
  const changes = diffConfigurations({ self_registration: { value: false, editable: true }, project_creation_restriction: { value: 'everyone' } }, { self_registration: false, project_creation_restriction: 'adminonly', banner_message: 'x' });
  t.equal(describeChanges(changes), 'project_creation_restriction: "everyone" -> "adminonly", banner_message: (unset) -> "x"');
});

t.test('the role\'s step sets the secure defaults and harbor_config over HTTPS with curl, then is ok', async (t) => {
  // A fresh Harbor 2 lets every user create projects.
  const mock = await startHarborMock({ adminPassword: 'Adm1n-harbor-Passw0rd', configurations: { project_creation_restriction: 'everyone' } });
  t.teardown(() => mock.close());
  const port = Number(new URL(mock.url).port);
  const caPath = join(scratch, 'ca.crt');
  await writeFile(caPath, mock.caPem);
  const api: HarborApi = { publicName: 'harbor.test', port, caPath, netrc: join(scratch, 'admin.netrc') };
  const env = localEnv();

  const netrc = await converge(harborAdminPasswordStep(api, new Secret(mock.adminPassword)), env);
  t.equal(netrc.second, null, 'the admin password Harbor accepts is recorded in the netrc');

  const step = harborSettingsStep(api, { harbor_config: { banner_message: 'managed by harbormaster' } });
  t.equal(step.afterHandlers, true, 'runs after an install or reconfigure pending');
  const change = await planLocally(step, env);
  t.equal(change?.summary, 'set project_creation_restriction: "everyone" -> "adminonly", banner_message: "" -> "managed by harbormaster"', 'self_registration already false: not sent');
  t.notMatch(change!.action.script, mock.adminPassword, 'the password is not in the command');
  const applied = await applyLocally(change!);
  t.equal(applied.code, 0, applied.stderr);
  t.match(mock.configurations, { project_creation_restriction: 'adminonly', self_registration: false, banner_message: 'managed by harbormaster' });
  t.equal(await planLocally(step, env), null, 'Harbor complies: ok');
  t.strictSame(mock.writes().map((c) => `${c.method} ${c.path} ${c.status} ${c.as}`), ['PUT /api/v2.0/configurations 200 admin'], 'one PUT, as admin');

  // Drift made in Harbor's UI is put back on the next converge.
  const client = new HarborClient({ url: mock.url, caPem: mock.caPem, password: new Secret(mock.adminPassword) });
  t.teardown(() => client.close());
  await client.updateConfigurations({ self_registration: true });
  t.equal((await client.configurations()).self_registration?.value, true);
  t.equal((await planLocally(step, env))?.summary, 'set self_registration: true -> false');

  await writeFile(api.netrc, 'machine harbor.test login admin password Wrong-passw0rd\n', { mode: 0o600 });
  await t.rejects(planLocally(step, env), { message: /^Harbor at https:\/\/harbor\.test refused admin with the vault's harbor_admin_password \(HTTP 401\)$/ });

  await mock.close();
  const down = await planLocally(step, env);
  t.match(down?.summary, /^set project_creation_restriction: \(unset\) -> "adminonly", self_registration: \(unset\) -> false, banner_message: .* \(Harbor not answering: curl: \(7\) /, 'Harbor down: says so, and would set everything');
});
