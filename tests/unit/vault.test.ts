import { execFile as execFileCb } from 'node:child_process';
import { chmod, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { format, inspect, promisify } from 'node:util';
import t from 'tap';
import type { Test } from 'tap';
import { parse } from 'yaml';
import { UserError } from '../../lib/errors.ts';
import { redact, Secret } from '../../lib/secret.ts';
import { keyDerivations } from '../../lib/vault/crypto.ts';
import {
  decryptVault,
  decryptVaultText,
  encryptVaultText,
  resolveVaultPassword,
  prepareVaultKeys,
  VaultFile,
  vaultDecryptor,
} from '../../lib/vault/index.ts';

const execFile = promisify(execFileCb);
const fixtures = fileURLToPath(new URL('../fixtures/vault/', import.meta.url));
const fixture = (name: string) => join(fixtures, name);
const password = new Secret('fixture-vault-password-7Q');
const wrong = new Secret('not-the-fixture-password');

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'vault-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** The `!vault |` scalars of a vars file, with the line of each tag. */
function inlineValues(yamlText: string): { name: string; text: string; line: number }[] {
  const lines = yamlText.split('\n');
  return lines.flatMap((l, i) => {
    const m = /^(\w+): !vault \|$/.exec(l);
    if (!m) return [];
    const body: string[] = [];
    for (let j = i + 1; j < lines.length && lines[j]!.startsWith('  '); j++) body.push(lines[j]!.trim());
    return [{ name: m[1]!, text: body.join('\n') + '\n', line: i + 1 }];
  });
}

const rejects = async (t: Test, p: Promise<unknown>, message: string | RegExp, what: string) => {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(err, UserError, `${what}: a UserError`);
  if (typeof message === 'string') t.equal((err as Error)?.message, message, what);
  else t.match((err as Error)?.message, message, what);
};

t.test('files written by ansible-vault decrypt (1.1 and 1.2)', async (t) => {
  for (const name of ['ansible-1.1.yaml', 'ansible-1.2.yaml']) {
    const text = await readFile(fixture(name), 'utf8');
    const { data, vaultId } = await decryptVault(text, password, name);
    t.equal(vaultId, name.includes('1.2') ? 'prod' : undefined, `${name} vault id`);
    const secrets = parse(data.toString('utf8'));
    t.equal(secrets.db_password, 'Db-Fixture-Pass-1');
    t.equal(secrets.aws.secret_access_key, 'fixtureSecretAccessKey/abcdefghij0123456789');
    t.match(secrets.ca_key, /^-----BEGIN PRIVATE KEY-----\n.*\n-----END PRIVATE KEY-----\n$/);
  }
});

t.test('inline !vault values from encrypt_string decrypt, sync and async alike', async (t) => {
  const values = inlineValues(await readFile(fixture('ansible-inline.yaml'), 'utf8'));
  t.same(
    values.map((v) => v.name),
    ['db_password', 'multi_line'],
  );
  const decrypt = vaultDecryptor(password);
  const expected = { db_password: 'Inline-Value-1', multi_line: 'line one\nline two\n' } as Record<string, string>;
  for (const v of values) {
    const where = `ansible-inline.yaml:${v.line}`;
    t.equal(decrypt(v.text, where), expected[v.name], `${v.name} (sync)`);
    t.equal(await decryptVaultText(v.text, password, where), expected[v.name], `${v.name} (async)`);
  }
  t.equal(redact('login with Inline-Value-1 failed'), 'login with ******** failed', 'decrypted values are redacted');
  // A whole decrypted vars file: its key material lines are redacted, ordinary lines are not.
  const vars = 'registry_name: registry.example.org\ntls_key: |\n  Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZg==\n';
  await decryptVaultText(await encryptVaultText(vars, password), password, 'group_vars/all.yaml');
  t.equal(redact('registry_name: registry.example.org'), 'registry_name: registry.example.org');
  t.equal(redact('+  Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZg=='), '+  ********');
});

t.test('pinned-salt vectors from Ansible match byte for byte', async (t) => {
  const vectors = JSON.parse(await readFile(fixture('pinned.json'), 'utf8')) as {
    plaintext: string;
    vaultId: string | null;
    saltHex: string;
    vaultText: string;
  }[];
  t.ok(vectors.length >= 4);
  for (const v of vectors) {
    const ours = await encryptVaultText(v.plaintext, password, v.vaultId ?? undefined, {
      salt: Buffer.from(v.saltHex, 'hex'),
    });
    t.equal(ours, v.vaultText, `encrypt ${JSON.stringify(v.plaintext.slice(0, 20))}`);
    t.equal(await decryptVaultText(v.vaultText, password, 'pinned.json'), v.plaintext);
  }
});

t.test('round trips in 1.1 and 1.2, text and binary, with 80-column lines', async (t) => {
  const binary = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7) % 256));
  for (const vaultId of [undefined, 'default', 'prod']) {
    for (const plaintext of ['', 'x', '0123456789abcdef', 'ünïcødé ✓\n'.repeat(50)]) {
      const text = await encryptVaultText(plaintext, password, vaultId);
      t.equal(await decryptVaultText(text, password, 'f'), plaintext);
    }
    const text = await encryptVaultText(binary, password, vaultId);
    const { data, vaultId: id } = await decryptVault(text, password, 'f');
    t.ok(data.equals(binary), 'binary round trip');
    t.equal(id, vaultId === 'prod' ? 'prod' : undefined);
    const lines = text.split('\n');
    t.equal(lines[0], vaultId === 'prod' ? '$ANSIBLE_VAULT;1.2;AES256;prod' : '$ANSIBLE_VAULT;1.1;AES256');
    t.equal(lines.at(-1), '', 'ends with a newline');
    const body = lines.slice(1, -1);
    t.ok(body.slice(0, -1).every((l) => l.length === 80), 'full lines are 80 columns');
    t.ok(body.at(-1)!.length > 0 && body.at(-1)!.length <= 80);
    t.match(body.join(''), /^[0-9a-f]+$/);
  }
  const a = await encryptVaultText('same', password);
  const b = await encryptVaultText('same', password);
  t.not(a, b, 'a fresh salt for every encryption');
  await rejects(t, encryptVaultText('x', password, 'bad id'), /bad vault id/, 'vault id with a space');
});

t.test('keys are derived once per password and salt', async (t) => {
  const text = await readFile(fixture('ansible-1.1.yaml'), 'utf8');
  await decryptVault(text, password, 'f');
  const before = keyDerivations();
  await decryptVault(text, password, 'f');
  vaultDecryptor(password)(await encryptVaultText('v', password), 'f'); // encrypting derives, decrypting reuses
  t.equal(keyDerivations(), before + 1);
  await rejects(t, decryptVault(text, wrong, 'f'), /integrity/, 'another password');
  t.equal(keyDerivations(), before + 2, 'another password is another derivation');
});

t.test('prepareVaultKeys derives every key of a vars file ahead, in parallel', async (t) => {
  // Values encrypted by another process, so that none of their keys is cached in this one.
  const { stdout } = await execFile(
    process.execPath,
    ['--import=tsx', '--input-type=module', '-e', `
      import { encryptVaultText } from ${JSON.stringify(fileURLToPath(new URL('../../lib/vault/index.ts', import.meta.url)))};
      import { Secret } from ${JSON.stringify(fileURLToPath(new URL('../../lib/secret.ts', import.meta.url)))};
      const pw = new Secret('Prepare-Password-1');
      for (let i = 0; i < 6; i++) {
        const text = await encryptVaultText('prepared-value-' + i, pw);
        process.stdout.write('v' + i + ': !vault |\\n' + text.replace(/^(?=.)/gm, '    '));
      }`],
  );
  const vars = inlineValues(stdout);
  t.equal(vars.length, 6);
  const pw = new Secret('Prepare-Password-1');
  const before = keyDerivations();
  await prepareVaultKeys([stdout, 'no vaults here', '$ANSIBLE_VAULT;1.1;AES256\nzz\n'], pw);
  t.equal(keyDerivations(), before + 6, 'one derivation per value; the broken text left for the decryptor');
  const decrypt = vaultDecryptor(pw);
  t.same(
    vars.map((v) => decrypt(v.text, `vars.yaml:${v.line}`)),
    vars.map((_, i) => `prepared-value-${i}`),
  );
  t.equal(keyDerivations(), before + 6, 'decrypting used the prepared keys');
});

t.test('wrong password or modified data: the integrity message', async (t) => {
  const text = await readFile(fixture('ansible-1.1.yaml'), 'utf8');
  const expected = 'integrity check failed for vault/secrets.yaml (wrong password or modified file)';
  await rejects(t, decryptVault(text, wrong, 'vault/secrets.yaml'), expected, 'wrong password');
  const lines = text.split('\n');
  // Flip one hex digit of the ciphertext (inside the outer hex: the last lines).
  const flip = (l: string, i: number) => l.slice(0, i) + (l[i] === '3' ? '6' : '3') + l.slice(i + 1);
  const modified = [...lines.slice(0, -3), flip(lines.at(-3)!, 11), ...lines.slice(-2)].join('\n');
  await rejects(t, decryptVault(modified, password, 'vault/secrets.yaml'), expected, 'one changed byte');
  t.throws(() => vaultDecryptor(wrong)(text, 'group_vars/all.yaml:7'), {
    message: 'integrity check failed for group_vars/all.yaml:7 (wrong password or modified file)',
  });
});

t.test('format errors name the file and line', async (t) => {
  const text = await encryptVaultText('secret: value\n'.repeat(20), password);
  const lines = text.split('\n');
  const cases: [string, string, RegExp][] = [
    ['not a vault', 'plain: yaml\n', /^f\.yaml:1: not an Ansible vault/],
    ['empty', '', /^f\.yaml:1: not an Ansible vault/],
    ['unsupported version', text.replace('1.1;AES256', '1.0;AES256'), /^f\.yaml:1: unsupported vault format/],
    ['unknown cipher', text.replace('AES256', 'AES'), /^f\.yaml:1: unsupported vault format/],
    ['bad hex', [...lines.slice(0, 3), lines[3]!.slice(0, 9) + 'g' + lines[3]!.slice(10), ...lines.slice(4)].join('\n'), /^f\.yaml:4: bad hex in vault data at column 10$/],
    ['header only', lines[0] + '\n', /^f\.yaml:1: truncated vault data \(nothing after the header\)/],
    ['cut mid-line (odd digits)', lines.slice(0, 3).join('\n') + '\n' + lines[3]!.slice(0, 41), /^f\.yaml:4: truncated vault data/],
    ['cut before the ciphertext', lines.slice(0, 2).join('\n'), /^f\.yaml:2: truncated vault data \(salt, HMAC and ciphertext not all present\)/],
    ['cut inside the ciphertext', lines.slice(0, -2).join('\n'), /^f\.yaml:18: truncated vault data \(ciphertext is not whole AES blocks\)$/],
    ['conflict markers', ['<<<<<<< HEAD', ...lines.slice(0, 3), '=======', ...lines.slice(1, 3), '>>>>>>> theirs'].join('\n'), /^f\.yaml:1: git merge conflict marker/],
    ['conflict marker inside', [...lines.slice(0, 2), '=======', ...lines.slice(2)].join('\n'), /^f\.yaml:3: git merge conflict marker/],
  ];
  for (const [what, bad, message] of cases) await rejects(t, decryptVault(bad, password, 'f.yaml'), message, what);

  // Inline values: `!vault |` on line 12, so the header is on 13 and the bad line on 15.
  const badInline = [lines[0], lines[1], 'zz' + lines[2]!.slice(2), ...lines.slice(3)].join('\n');
  t.throws(() => vaultDecryptor(password)(badInline, 'host_vars/web1.yaml:12'), {
    message: 'host_vars/web1.yaml:15: bad hex in vault data at column 1',
  });
  // CRLF line ends (a Windows checkout) and trailing spaces still read.
  t.equal(await decryptVaultText(text.replace(/\n/g, ' \r\n'), password, 'f'), 'secret: value\n'.repeat(20));
  // Messages never carry the plaintext or the password.
  const err = await decryptVault(text, wrong, 'f').catch((e: Error) => e);
  t.notMatch(String(err), /secret: value|not-the-fixture-password/);
});

t.test('VaultFile: named secrets, nested keys, Secret values', async (t) => {
  const vault = await VaultFile.open(fixture('ansible-1.2.yaml'), password);
  t.equal(vault.vaultId, 'prod');
  t.same(vault.keys(), ['db_password', 'harbor_admin_password', 'aws.access_key_id', 'aws.secret_access_key', 'ca_key']);
  const db = vault.require('db_password');
  t.type(db, Secret);
  t.equal(db.reveal(), 'Db-Fixture-Pass-1');
  t.equal(vault.get('aws.access_key_id')?.reveal(), 'AKIAFIXTUREEXAMPLE01');
  t.equal(vault.get('missing'), undefined);
  t.throws(() => vault.get('aws'), { message: /aws is a mapping, not a single secret/ });
  t.throws(() => vault.require('harbor_s3_key'), {
    message: `${fixture('ansible-1.2.yaml')}: no secret named harbor_s3_key; set it with npx zx scripts/vault.mts set ${fixture('ansible-1.2.yaml')} harbor_s3_key`,
  });
  // Opening remembers every value, used or not; a private key also line by line.
  t.equal(redact('key=fixtureSecretAccessKey/abcdefghij0123456789'), 'key=********');
  t.equal(redact('+  MC4CAQAwBQYDK2VwBCIEIFixtureFixtureFixtureFixtureFixture01'), '+  ********');
});

t.test('VaultFile.set: a new key is readable at once, before and after save', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hm-vault-set-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const vault = await VaultFile.open(join(dir, 'v.yaml'), password, { create: true });
  vault.set('registry_users.alice', 'Alice-Pass-0001');
  vault.set('plain', 'Plain-Pass-0002');
  t.equal(vault.get('registry_users.alice')?.reveal(), 'Alice-Pass-0001');
  t.same(vault.keys(), ['registry_users.alice', 'plain']);
  t.ok(await vault.save());
  const again = await VaultFile.open(join(dir, 'v.yaml'), password);
  t.equal(again.require('plain').reveal(), 'Plain-Pass-0002');
});

t.test('Secret prints, interpolates, logs and serialises as ********', async (t) => {
  const s = new Secret('Sup3r-Secret-Value');
  t.equal(String(s), '********');
  t.equal(`${s}`, '********');
  t.equal('' + s, '********');
  t.equal(JSON.stringify({ s }), '{"s":"********"}');
  t.equal(inspect({ s }), "{ s: ******** }");
  t.equal(format('%s %o %j', s, s, s), '******** ******** "********"');
  t.same(Object.keys(s), []);
  t.equal(redact('Sup3r-Secret-Value\nand again Sup3r-Secret-Value'), '********\nand again ********');
});

t.test('VaultFile.save: 0600, atomic, no rewrite when unchanged, keeps the vault id', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'secrets.yaml');
  await writeFile(file, await readFile(fixture('ansible-1.2.yaml')));
  await chmod(file, 0o644);

  const vault = await VaultFile.open(file, password);
  const before = await stat(file);
  t.equal(await vault.save(), false, 'nothing changed');
  vault.set('db_password', 'Db-Fixture-Pass-1');
  t.equal(await vault.save(), false, 'setting the same value changes nothing');
  t.equal((await stat(file)).mtimeMs, before.mtimeMs, 'file untouched');

  vault.set('db_password', 'yes');
  vault.set('aws.region_secret', 'line 1\nline 2\n');
  vault.set('s3.user.key', '0777');
  t.equal(await vault.save(), true);
  const after = await stat(file);
  t.equal(after.mode & 0o777, 0o600, 'mode 0600');
  t.not(after.ino, before.ino, 'replaced by rename');
  t.same(await readdir(dir), ['.secrets.yaml.lock', 'secrets.yaml'], 'no temp file left (the lock stays, empty)');

  const text = await readFile(file, 'utf8');
  t.match(text, /^\$ANSIBLE_VAULT;1\.2;AES256;prod\n/, 'vault id kept');
  const { data } = await decryptVault(text, password, file);
  t.match(data.toString(), /^# named secrets made by ansible-vault/, 'comments kept');
  // YAML 1.1 readers (Ansible) must read back strings, not a boolean or an octal number.
  t.match(data.toString(), /db_password: "yes"/);
  t.match(data.toString(), /key: "0777"/);
  const again = await VaultFile.open(file, password);
  t.equal(again.require('db_password').reveal(), 'yes');
  t.equal(again.require('aws.region_secret').reveal(), 'line 1\nline 2\n');
  t.equal(again.require('s3.user.key').reveal(), '0777');
  t.throws(() => again.set('db_password.sub', 'x'), { message: /cannot set db_password\.sub: db_password is not a mapping/ });
});

t.test('VaultFile.open: missing, created, not a mapping, bad YAML', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'sub', 'new.yaml');
  await rejects(t, VaultFile.open(file, password), `${file}: no such vault file; create it with npx zx scripts/vault.mts create ${file}`, 'missing');
  const created = await VaultFile.open(file, password, { create: true, vaultId: 'lab' });
  t.same(created.keys(), []);
  created.set('harbor_admin_password', 'Adm1n-Created');
  t.equal(await created.save(), true);
  t.equal((await stat(join(dir, 'sub'))).mode & 0o777, 0o700, 'a new directory is private');
  t.match(await readFile(file, 'utf8'), /^\$ANSIBLE_VAULT;1\.2;AES256;lab\n/);
  t.equal((await VaultFile.open(file, password)).require('harbor_admin_password').reveal(), 'Adm1n-Created');

  const list = join(dir, 'list.yaml');
  await writeFile(list, await encryptVaultText('- just\n- a list\n', password));
  await rejects(t, VaultFile.open(list, password), `${list}: decrypted text is not a YAML mapping of named secrets; fix it with npx zx scripts/vault.mts edit ${list}`, 'list');
  const broken = join(dir, 'broken.yaml');
  await writeFile(broken, await encryptVaultText('ok: 1\nfine: 2\nok: Leaky-Secret-Text\n', password));
  const err = await VaultFile.open(broken, password).catch((e: Error) => e);
  t.match(String(err), /broken\.yaml: decrypted text is not valid YAML \(DUPLICATE_KEY at line 3\)/);
  t.notMatch(String(err), /Leaky-Secret-Text/, 'no plaintext in the message');
});

t.test('resolveVaultPassword: file, script, environment, .env', async (t) => {
  const dir = await tempDir(t);
  const pwFile = join(dir, 'pw');
  await writeFile(pwFile, '  Padded-Password-1 \r\n', { mode: 0o600 });
  t.equal((await resolveVaultPassword({ file: pwFile }))?.reveal(), 'Padded-Password-1', 'whitespace stripped as Ansible does');

  const script = join(dir, 'pw.sh');
  await writeFile(script, '#!/bin/sh\nprintf " Script-Password-2 \\n"\n', { mode: 0o700 });
  t.equal((await resolveVaultPassword({ file: script }))?.reveal(), ' Script-Password-2 ', 'a script: newlines stripped only');
  const failing = join(dir, 'fail.sh');
  await writeFile(failing, '#!/bin/sh\nexit 3\n', { mode: 0o700 });
  await rejects(t, resolveVaultPassword({ file: failing }), `vault password script ${failing} exited with status 3`, 'script fails');

  const empty = join(dir, 'empty');
  await writeFile(empty, '\n', { mode: 0o600 });
  await rejects(t, resolveVaultPassword({ file: empty }), `vault password file ${empty} is empty`, 'empty');
  await rejects(t, resolveVaultPassword({ file: join(dir, 'nope') }), `cannot read vault password file ${join(dir, 'nope')} (not found)`, 'missing');

  const envPw = join(dir, 'env-pw');
  await writeFile(envPw, 'Env-Password-3\n', { mode: 0o600 });
  const dotenvPw = join(dir, 'dotenv-pw');
  await writeFile(dotenvPw, 'Dotenv-Password-4\n', { mode: 0o600 });
  await writeFile(join(dir, '.env'), `HARBORMASTER_VAULT_PASSWORD_FILE=${dotenvPw}\n`);
  const cwd = process.cwd();
  const saved = process.env.HARBORMASTER_VAULT_PASSWORD_FILE;
  t.teardown(() => {
    process.chdir(cwd);
    if (saved === undefined) delete process.env.HARBORMASTER_VAULT_PASSWORD_FILE;
    else process.env.HARBORMASTER_VAULT_PASSWORD_FILE = saved;
  });
  process.chdir(dir);
  delete process.env.HARBORMASTER_VAULT_PASSWORD_FILE;
  t.equal((await resolveVaultPassword({}))?.reveal(), 'Dotenv-Password-4', '.env in the cwd');
  process.env.HARBORMASTER_VAULT_PASSWORD_FILE = envPw;
  t.equal((await resolveVaultPassword({}))?.reveal(), 'Env-Password-3', 'the real environment wins over .env');
  t.equal((await resolveVaultPassword({ file: pwFile }))?.reveal(), 'Padded-Password-1', '--vault-password-file wins');
  t.type(await resolveVaultPassword({ file: pwFile }), Secret);
});
