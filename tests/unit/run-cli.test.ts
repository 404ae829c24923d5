// What role.mts/site.mts share: inventories with vault values (encrypted by the real
// ansible-vault) load with --vault-password-file and never ask when there are none; roles load by name.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadRole, parseRunArgs } from '../../lib/run/cli.ts';
import { userError } from '../fixtures/inventory/helpers.ts';
import { loadRunInventory, passwordSource } from '../../lib/inventory/vaulted.ts';
import { isSecret, redact } from '../../lib/secret.ts';

const work = mkdtempSync(join(tmpdir(), 'hm-run-cli-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));
delete process.env.HARBORMASTER_VAULT_PASSWORD_FILE;

const passwordFile = join(work, 'vault-pass');
writeFileSync(passwordFile, 'correct horse\n', { mode: 0o600 });
const encrypted = execFileSync(
  'ansible-vault',
  ['encrypt_string', '--vault-password-file', passwordFile, 'db-pass-from-vault', '--name', 'db_password'],
  { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
);
const indented = encrypted.split('\n').map((l) => `        ${l}`).join('\n');
const vaulted = join(work, 'vaulted.yaml');
writeFileSync(vaulted, `all:\n  hosts:\n    web1:\n${indented}\n`);
const plain = join(work, 'plain.yaml');
writeFileSync(plain, 'all:\n  hosts:\n    web1:\n      port: 80\n');

t.test('vault values load as Secrets with --vault-password-file', async (t) => {
  const inv = await loadRunInventory(vaulted, passwordSource(passwordFile));
  const value = inv.hosts.get('web1')!.vars.db_password;
  t.ok(isSecret(value));
  t.equal(isSecret(value) && value.reveal(), 'db-pass-from-vault');
  t.equal(redact('the password is db-pass-from-vault'), 'the password is ********');
});

t.test('without a password source, a vaulted inventory says which value needs one', async (t) => {
  await t.rejects(loadRunInventory(vaulted), /db_password|vault/);
});

t.test('an inventory without vault values never asks for a password', async (t) => {
  const inv = await loadRunInventory(plain);
  t.equal(inv.hosts.get('web1')!.vars.port, 80);
  await t.rejects(loadRunInventory(join(work, 'missing.yaml')), /missing\.yaml: no such file/);
});

t.test('roles load by name from roles/<name>/index.ts', async (t) => {
  const demo = await loadRole('demo');
  t.equal(demo.name, 'demo');
  t.equal(typeof demo.steps, 'function');
  await t.rejects(loadRole('no-such-role'), /role no-such-role: .*roles\/no-such-role\/index\.ts not found/);
  await t.rejects(loadRole('../etc'), /role name "\.\.\/etc" is not valid/);
});

t.test("from another directory: its own roles first, else this project's, templates beside the role", async (t) => {
  const repo = process.cwd();
  const bench = join(repo, 'bench');
  process.chdir(bench);
  t.teardown(() => process.chdir(repo));
  const own = await loadRole('bench');
  t.equal(own.templateDir, join(bench, 'templates', 'bench'), 'bench/roles/bench, with bench/templates/bench');
  const demo = await loadRole('demo');
  t.equal(demo.templateDir, join(repo, 'templates', 'demo'), "the project's demo role, with its templates");
  await t.rejects(loadRole('nope'), new RegExp(`role nope: neither ${bench}/roles/nope/index\\.ts nor ${repo}/roles/nope/index\\.ts exists`));
});

t.test('a --limit, --tags or --skip-tags that parses to nothing is an error naming it, never "all"', async (t) => {
  const tagHint = '(give tag names separated by commas: letters, digits, _ . -)';
  t.equal(await userError(t, () => parseRunArgs(['-l', ''])), "host pattern '' has an empty term (a stray ',' or ':'): give host or group names, e.g. web,db or web:!db");
  t.equal(await userError(t, () => parseRunArgs(['-l', '['])), "host pattern '[' has a stray bracket in '[': give host or group names, e.g. web,db or web:!db");
  t.equal(await userError(t, () => parseRunArgs(['-t', ' , '])), `--tags ' , ': has an empty entry ${tagHint}`);
  t.equal(await userError(t, () => parseRunArgs(['--tags', ''])), `--tags '': has an empty entry ${tagHint}`);
  t.equal(await userError(t, () => parseRunArgs(['--skip-tags', 'tls,'])), `--skip-tags 'tls,': has an empty entry ${tagHint}`);
  t.equal(await userError(t, () => parseRunArgs(['-t', 'tls:config'])), `--tags 'tls:config': 'tls:config' is not a tag name ${tagHint}`);
  t.equal(await userError(t, () => parseRunArgs(['-t', '[tls]'])), `--tags '[tls]': '[tls]' is not a tag name ${tagHint}`);
  const ok = parseRunArgs(['-l', 'web:!db', '-t', 'tls, config', '--skip-tags', 'service']);
  t.same([ok.options.limit, ok.options.tags, ok.options.skipTags], ['web:!db', ['tls', 'config'], ['service']]);
});

t.test('--serial takes a whole number of at least 1; absent, each role keeps its own', async (t) => {
  t.equal(parseRunArgs(['--serial', '2']).options.serial, 2);
  t.notOk('serial' in parseRunArgs([]).options, 'absent: no override');
  for (const bad of ['0', '1.5', 'two', '']) {
    t.equal(await userError(t, () => parseRunArgs(['--serial', bad])), `--serial "${bad}": give a whole number of at least 1`);
  }
});
