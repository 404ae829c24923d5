// The registry role's step keeping Harbor's admin password the vault's, after the install: real
// curl and sh against the stateful, swagger-checked Harbor API mock (the old password refused once
// changed). A first install's password is recorded; a new vault value is changed over the API with
// the one the host recorded, then confirmed, then ok; a change cut short is finished; no lockout
// when Harbor refuses; the passwords never in the script or its output. And a new password in
// harbor.yml alone does not reconfigure Harbor (it reads it only at its first start).
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { HarborClient } from '../../lib/harbor/client.ts';
import { Secret } from '../../lib/secret.ts';
import { harborAdminPasswordStep } from '../../roles/registry/harbor-admin.ts';
import { loadedFiles } from '../../roles/shared/loaded.ts';
import type { HarborApi } from '../../roles/registry/harbor-api.ts';
import { applyLocally, localEnv, planLocally } from '../fixtures/engine/local-shell.ts';
import { startHarborMock } from '../helpers/harbor-mock.ts';

const FIRST = 'Adm1n-first-Passw0rd';
const SECOND = 'Adm1n-second-Passw0rd';
const THIRD = 'Adm1n-third-Passw0rd';

const scratch = await mkdtemp(join(tmpdir(), 'hm-harbor-admin-'));
t.teardown(() => rm(scratch, { recursive: true, force: true }));
const mock = await startHarborMock({ adminPassword: FIRST });
t.teardown(() => mock.close());
const caPath = join(scratch, 'ca.crt');
await writeFile(caPath, mock.caPem);
const api: HarborApi = { publicName: 'harbor.test', port: Number(new URL(mock.url).port), caPath, netrc: join(scratch, 'admin.netrc') };
const env = localEnv();
const netrcOf = (password: string) => `machine harbor.test login admin password ${password}\n`;

/** Whether Harbor (the mock) lets admin in with this password. */
async function accepts(password: string): Promise<boolean> {
  const client = new HarborClient({ url: mock.url, caPem: mock.caPem, password: new Secret(password) });
  try {
    await client.currentUser();
    return true;
  } catch {
    return false;
  } finally {
    client.close();
  }
}

/** Plans and applies the step for the vault's `password`: the change (null: ok) and how its script ended. */
async function run(password: string) {
  const change = await planLocally(harborAdminPasswordStep(api, new Secret(password)), env);
  if (!change) return { change, code: 0, log: '' };
  for (const secret of [FIRST, SECOND, THIRD]) t.notMatch(change.action.script, secret, 'no password in the script');
  const applied = await applyLocally(change);
  return { change, code: applied.code, log: applied.log + applied.stderr };
}

t.test('after a first install: the password Harbor accepts is recorded (0600), then ok', async (t) => {
  const first = await run(FIRST);
  t.equal(first.change?.summary, "record the vault's harbor_admin_password once Harbor accepts it");
  t.equal(first.code, 0, first.log);
  t.equal(await readFile(api.netrc, 'utf8'), netrcOf(FIRST));
  t.equal(((await stat(api.netrc)).mode & 0o777).toString(8), '600');
  t.equal((await run(FIRST)).change, null, 'rerun: ok');
  t.strictSame(mock.writes(), [], 'nothing changed in Harbor');
});

t.test('a new vault value is changed through the API with the recorded one, confirmed, then ok', async (t) => {
  const before = mock.writes().length;
  const changed = await run(SECOND);
  t.equal(changed.change?.summary, "change to the vault's harbor_admin_password");
  t.equal(changed.code, 0, changed.log);
  t.match(changed.log, /changed and confirmed/);
  for (const secret of [FIRST, SECOND]) t.notMatch(changed.log, secret, 'no password in the output');
  t.strictSame(mock.writes().slice(before).map((c) => `${c.method} ${c.path} ${c.status} ${c.as}`), ['PUT /api/v2.0/users/1/password 200 admin'], 'one PUT, as admin');
  t.equal(await accepts(SECOND), true, 'Harbor takes the new one');
  t.equal(await accepts(FIRST), false, 'and refuses the old one');
  t.equal(await readFile(api.netrc, 'utf8'), netrcOf(SECOND), 'the host records the new one once confirmed');
  t.equal((await run(SECOND)).change, null, 'rerun: ok');
  t.strictSame(mock.violations, [], 'every request as the swagger says');
});

t.test('a change cut short after Harbor took it (the record still old) is finished: recorded, not changed again', async (t) => {
  await writeFile(api.netrc, netrcOf(FIRST), { mode: 0o600 });
  const before = mock.writes().length;
  const again = await run(SECOND);
  t.equal(again.code, 0, again.log);
  t.match(again.log, /Harbor already accepts it: recorded/);
  t.equal(mock.writes().length, before, 'no second PUT');
  t.equal(await readFile(api.netrc, 'utf8'), netrcOf(SECOND));
});

t.test('a record with the wrong mode is rewritten', async (t) => {
  await writeFile(api.netrc, netrcOf(SECOND), { mode: 0o644 });
  const fixed = await run(SECOND);
  t.equal(fixed.code, 0, fixed.log);
  t.equal(((await stat(api.netrc)).mode & 0o777).toString(8), '600');
});

t.test('never locked out: when Harbor refuses or cannot be opened, the record keeps the password that works', async (t) => {
  // Harbor moves on to THIRD; then the host's record is an older one than Harbor's.
  const moved = await run(THIRD);
  t.equal(moved.code, 0, moved.log);
  t.equal(await accepts(THIRD), true);

  // Neither the vault's nor the recorded one opens Harbor: stop, say what to do, keep the record.
  await writeFile(api.netrc, netrcOf(FIRST), { mode: 0o600 });
  const neither = await run(SECOND);
  t.not(neither.code, 0);
  t.match(neither.log, /Harbor at https:\/\/harbor\.test accepts neither the vault's harbor_admin_password nor the one this host last confirmed/);
  t.equal(await readFile(api.netrc, 'utf8'), netrcOf(FIRST), 'the record is left as it was');
  t.equal(await accepts(THIRD), true, 'Harbor untouched');

  // No record at all, and the vault's is not Harbor's.
  await rm(api.netrc);
  const none = await run(SECOND);
  t.not(none.code, 0);
  t.match(none.log, /this host holds no record of the one it has \(.*admin\.netrc\): write it there as 'machine harbor\.test login admin password PASSWORD'/);
  await t.rejects(stat(api.netrc), 'no record made up');
  await t.rejects(stat(`${api.netrc}.new`), 'no temporary file left');
});

t.test('Harbor not answering: the change stops, the record kept', async (t) => {
  await writeFile(api.netrc, netrcOf(THIRD), { mode: 0o600 });
  const down = await startHarborMock({ adminPassword: THIRD });
  await down.close();
  const gone: HarborApi = { ...api, port: Number(new URL(down.url).port) };
  const change = await planLocally(harborAdminPasswordStep(gone, new Secret(SECOND)), env);
  const applied = await applyLocally(change!);
  t.not(applied.code, 0);
  t.match(applied.log, /Harbor at https:\/\/harbor\.test did not answer as admin \(HTTP 000; 000: no answer\)/);
  t.equal(await readFile(api.netrc, 'utf8'), netrcOf(THIRD));
});

t.test('a vault password Harbor or netrc cannot hold is refused before anything runs', async (t) => {
  for (const [bad, re] of [
    ['short1A', /must have 8 to 128 characters with an upper-case letter/],
    ['Has space 1A', /holds blanks, quotes, backslashes or control characters/],
    ['Has"quote1A', /holds blanks/],
    ['Back\\slash1A', /holds blanks/],
    ['Bell\u0007char1A', /holds blanks/],
  ] as const) {
    t.throws(() => harborAdminPasswordStep(api, new Secret(bad)), { message: re });
  }
});

t.test('the loaded fingerprint leaves out ignored lines: a new admin password in harbor.yml is no reason to reconfigure', async (t) => {
  const config = join(scratch, 'harbor.yml');
  const marker = join(scratch, 'harbor.loaded');
  const l = loadedFiles({ name: 'harbor runs the current harbor.yml', paths: [config], marker, notify: ['reconfigure harbor'], recordName: 'record', ignoreLines: '^harbor_admin_password:' });
  await writeFile(config, `hostname: harbor.test\nharbor_admin_password: "${FIRST}"\n`);
  t.equal((await applyLocally((await planLocally(l.record, env))!)).code, 0, 'recorded');
  t.equal(await planLocally(l.step, env), null, 'as loaded');
  await writeFile(config, `hostname: harbor.test\nharbor_admin_password: "${SECOND}"\n`);
  t.equal(await planLocally(l.step, env), null, 'a new admin password only: as loaded');
  await writeFile(config, `hostname: harbor2.test\nharbor_admin_password: "${SECOND}"\n`);
  t.ok(await planLocally(l.step, env), 'any other change: reconfigure');
});
