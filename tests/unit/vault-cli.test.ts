// scripts/vault.mts run as the user runs it, as child processes without a terminal
// (setsid), plus one run under a pseudo-terminal (`script`) for the no-echo prompts.
import { spawn } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { Test } from 'tap';
import { parseDocument } from 'yaml';
import { Secret } from '../../lib/secret.ts';
import { decryptVault, decryptVaultText, encryptVaultText, VaultFile } from '../../lib/vault/index.ts';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const fixtures = join(repo, 'tests/fixtures/vault');
const zx = join(repo, 'node_modules/zx/build/cli.js');
const script = join(repo, 'scripts/vault.mts');
const tsx = import.meta.resolve('tsx');
const password = new Secret('fixture-vault-password-7Q');
const passwordFile = join(fixtures, 'password');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `npx zx scripts/vault.mts ARGS` (zx and tsx by path, so any cwd works), in a new session: no terminal. */
function vault(args: string[], opts: { input?: string; env?: Record<string, string>; cwd?: string } = {}): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: `--import=${tsx}`, ...opts.env };
  if (!opts.env?.HARBORMASTER_VAULT_PASSWORD_FILE) delete env.HARBORMASTER_VAULT_PASSWORD_FILE;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [zx, script, ...args], { cwd: opts.cwd ?? repo, env, detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject).on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(opts.input ?? '');
  });
}

const pw = ['--vault-password-file', passwordFile];

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'vault-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** An $EDITOR: a shell script that also records the temp file's directory and modes. */
async function editor(dir: string, name: string, body: string): Promise<{ path: string; record: string }> {
  const path = join(dir, name);
  const record = join(dir, `${name}.record`);
  await writeFile(path, `#!/bin/sh\nstat -c '%a' "$(dirname "$1")" "$1" > '${record}'\ndirname "$1" >> '${record}'\n${body}\n`, {
    mode: 0o700,
  });
  return { path, record };
}

/** The temp directory an editor saw: it was private while editing and is gone now. */
async function checkEditorTemp(t: Test, record: string): Promise<void> {
  const [dirMode, fileMode, dir] = (await readFile(record, 'utf8')).trim().split('\n');
  t.equal(dirMode, '700', 'temp dir was 0700');
  t.equal(fileMode, '600', 'temp file was 0600');
  t.notOk(existsSync(dir!), 'temp dir removed');
}

t.test('set, get: creates the vault, one value at a time', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'secrets.yaml');
  let r = await vault(['set', file, 'db_password', ...pw], { input: 'Db-Cli-Pass-1\n' });
  t.same(r, { code: 0, stdout: '', stderr: `vault: set db_password in ${file}\n` });
  t.equal((await stat(file)).mode & 0o777, 0o600);
  t.match(await readFile(file, 'utf8'), /^\$ANSIBLE_VAULT;1\.1;AES256\n/);

  r = await vault(['set', file, 'aws.secret_access_key', ...pw], { input: 'line 1\nline 2\n' });
  t.equal(r.code, 0);
  r = await vault(['get', file, 'db_password', ...pw]);
  t.same(r, { code: 0, stdout: 'Db-Cli-Pass-1\n', stderr: '' }, 'one line: its trailing newline was not stored');
  r = await vault(['get', file, 'aws.secret_access_key', ...pw]);
  t.equal(r.stdout, 'line 1\nline 2\n', 'multi-line values kept whole');

  const before = await stat(file);
  r = await vault(['set', file, 'db_password', ...pw], { input: 'Db-Cli-Pass-1' });
  t.same(r, { code: 0, stdout: '', stderr: `vault: db_password in ${file} unchanged\n` });
  t.equal((await stat(file)).mtimeMs, before.mtimeMs, 'same value: file not rewritten');
  r = await vault(['set', file, 'db_password', ...pw], { input: 'Db-Cli-Pass-2' });
  t.equal((await VaultFile.open(file, password)).require('db_password').reveal(), 'Db-Cli-Pass-2', 'replaced');

  r = await vault(['get', file, 'nope', ...pw]);
  t.same(r, {
    code: 1,
    stdout: '',
    stderr: `vault: ${file}: no secret named nope; set it with npx zx scripts/vault.mts set ${file} nope\n`,
  });
  r = await vault(['set', file, 'empty', ...pw], { input: '' });
  t.same(r, { code: 1, stdout: '', stderr: 'vault: empty value on stdin; nothing written\n' });

  r = await vault(['set', join(dir, 'v12.yaml'), 'k', '--vault-id', 'lab', ...pw], { input: 'Value-12' });
  t.match(await readFile(join(dir, 'v12.yaml'), 'utf8'), /^\$ANSIBLE_VAULT;1\.2;AES256;lab\n/, '--vault-id on a new file');
});

t.test("--vault-id LABEL@FILE, as Ansible: the label for the header, the file for the password", async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'dev.yaml');
  let r = await vault(['set', file, 'k', '--vault-id', `dev@${passwordFile}`], { input: 'Value-dev' });
  t.equal(r.code, 0, r.stderr);
  t.match(await readFile(file, 'utf8'), /^\$ANSIBLE_VAULT;1\.2;AES256;dev\n/);
  r = await vault(['get', file, 'k', ...pw]);
  t.same(r, { code: 0, stdout: 'Value-dev\n', stderr: '' }, 'the same password');
  r = await vault(['get', file, 'k', '--vault-id', `dev@${passwordFile}`, ...pw]);
  t.same(r, { code: 1, stdout: '', stderr: 'vault: give the password with --vault-id ID@SOURCE or --vault-password-file, not both\n' });
  r = await vault(['get', file, 'k', '--vault-id', 'dev@']);
  t.same(r, { code: 1, stdout: '', stderr: 'vault: --vault-id dev@: give a password file or "prompt" after the @\n' });
  r = await vault(['get', file, 'k', '--vault-id', `dev@${join(dir, 'missing')}`]);
  t.match(r, { code: 1, stderr: /^vault: cannot read vault password file .*missing \(not found\)\n$/ });
});

t.test('encrypt-string prints a !vault block that decrypts', async (t) => {
  for (const vaultId of [undefined, 'prod']) {
    const r = await vault(['encrypt-string', '--name', 'db_password', ...pw, ...(vaultId ? ['--vault-id', vaultId] : [])], {
      input: 'Inline-Cli-Value\n',
    });
    t.equal(r.code, 0);
    const header = vaultId ? `$ANSIBLE_VAULT;1.2;AES256;${vaultId}` : '$ANSIBLE_VAULT;1.1;AES256';
    t.match(r.stdout, new RegExp(`^db_password: !vault \\|\\n {10}${header.replace(/[$.]/g, '\\$&')}\\n( {10}[0-9a-f]{80}\\n)+ {10}[0-9a-f]{1,80}\\n$`));
    const doc = parseDocument(r.stdout, { customTags: [{ tag: '!vault', resolve: (s: string) => s }] });
    const text = doc.get('db_password') as string;
    t.equal(await decryptVaultText(text, password, 'stdout'), 'Inline-Cli-Value');
  }
  const r = await vault(['encrypt-string', '--name', '1bad', ...pw], { input: 'x' });
  t.same(r, { code: 1, stdout: '', stderr: "vault: bad variable name '1bad': letters, digits and '_', not starting with a digit\n" });
});

t.test('encrypt, view, decrypt in place', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'ca.key');
  const plain = '-----BEGIN PRIVATE KEY-----\nCli-Key-Material-0123456789\n-----END PRIVATE KEY-----\n';
  await writeFile(file, plain, { mode: 0o644 });
  let r = await vault(['encrypt', file, ...pw]);
  t.same(r, { code: 0, stdout: '', stderr: `vault: encrypted ${file}\n` });
  t.equal((await stat(file)).mode & 0o777, 0o600);
  t.equal((await decryptVault(await readFile(file, 'utf8'), password, file)).data.toString(), plain);
  r = await vault(['encrypt', file, ...pw]);
  t.same(r, { code: 1, stdout: '', stderr: `vault: ${file} is already encrypted\n` });
  r = await vault(['view', file, ...pw]);
  t.same(r, { code: 0, stdout: plain, stderr: '' });
  r = await vault(['decrypt', file, ...pw]);
  t.same(r, { code: 0, stdout: '', stderr: `vault: decrypted ${file}\n` });
  t.equal(await readFile(file, 'utf8'), plain);
  t.equal((await stat(file)).mode & 0o777, 0o600, 'plaintext written 0600 too');
  r = await vault(['view', file, ...pw]);
  t.match(r, { code: 1, stdout: '', stderr: `vault: ${file}:1: not an Ansible vault (expected a $ANSIBLE_VAULT;1.1;AES256 header)\n` });
});

t.test('create and edit through $EDITOR in a private temp dir', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'secrets.yaml');
  const create = await editor(dir, 'create.sh', `printf 'harbor_admin_password: Created-In-Editor\\n' > "$1"`);
  let r = await vault(['create', file, '--vault-id', 'lab', ...pw], { env: { EDITOR: create.path } });
  t.same(r, { code: 0, stdout: '', stderr: `vault: created ${file}\n` });
  await checkEditorTemp(t, create.record);
  t.equal((await stat(file)).mode & 0o777, 0o600);
  const created = await VaultFile.open(file, password);
  t.equal(created.vaultId, 'lab');
  t.equal(created.require('harbor_admin_password').reveal(), 'Created-In-Editor');
  r = await vault(['create', file, ...pw], { env: { EDITOR: create.path } });
  t.same(r, { code: 1, stdout: '', stderr: `vault: ${file} already exists; change it with npx zx scripts/vault.mts edit ${file}\n` });

  const original = await readFile(file);
  const before = await stat(file);
  r = await vault(['edit', file, ...pw], { env: { EDITOR: 'true' } });
  t.same(r, { code: 0, stdout: '', stderr: `vault: ${file} unchanged\n` });
  t.ok((await readFile(file)).equals(original), 'unchanged edit: same bytes');
  t.equal((await stat(file)).mtimeMs, before.mtimeMs, 'unchanged edit: not rewritten');

  const append = await editor(dir, 'append.sh', `printf 'db_password: Added-In-Editor\\n' >> "$1"`);
  r = await vault(['edit', file, ...pw], { env: { EDITOR: append.path } });
  t.same(r, { code: 0, stdout: '', stderr: `vault: saved ${file}\n` });
  await checkEditorTemp(t, append.record);
  const edited = await VaultFile.open(file, password);
  t.equal(edited.vaultId, 'lab', 'vault id kept');
  t.equal(edited.require('db_password').reveal(), 'Added-In-Editor');

  for (const [name, body, message] of [
    ['fail.sh', 'exit 4', `vault: editor '${join(dir, 'fail.sh')}' exited with status 4; nothing written\n`],
    ['bad.sh', `printf 'a: [unclosed\\n' > "$1"`, `vault: ${file}: the edited text is not valid YAML (BAD_INDENT at line 2); nothing written\n`],
    ['list.sh', `printf -- '- a\\n- b\\n' > "$1"`, `vault: ${file}: the edited text is not a YAML mapping of named secrets; nothing written\n`],
  ] as const) {
    const ed = await editor(dir, name, body);
    const mtime = (await stat(file)).mtimeMs;
    r = await vault(['edit', file, ...pw], { env: { EDITOR: ed.path } });
    t.same(r, { code: 1, stdout: '', stderr: message }, name);
    await checkEditorTemp(t, ed.record);
    t.equal((await stat(file)).mtimeMs, mtime, `${name}: nothing written`);
  }
});

t.test('edit killed with SIGTERM: temp dir removed, nothing written', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'secrets.yaml');
  await copyFile(join(fixtures, 'ansible-1.1.yaml'), file);
  const slow = await editor(dir, 'slow.sh', 'exec sleep 60');
  const env = { ...process.env, NODE_OPTIONS: `--import=${tsx}`, EDITOR: slow.path };
  const child = spawn(process.execPath, [zx, script, 'edit', file, ...pw], { env, detached: true, stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  while (!existsSync(slow.record) || (await readFile(slow.record, 'utf8')).split('\n').length < 4) {
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGTERM');
  t.equal(await exited, 143);
  await checkEditorTemp(t, slow.record);
  t.ok((await readFile(file)).equals(await readFile(join(fixtures, 'ansible-1.1.yaml'))), 'vault untouched');
});

t.test('rekey', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'secrets.yaml');
  await copyFile(join(fixtures, 'ansible-1.2.yaml'), file);
  const newPw = join(dir, 'new-pw');
  await writeFile(newPw, 'Rekeyed-Password-5\n', { mode: 0o600 });

  let r = await vault(['rekey', file, ...pw]);
  t.same(r, { code: 1, stdout: '', stderr: 'vault: no new vault password: pass --new-vault-password-file FILE\n' });
  r = await vault(['rekey', file, ...pw, '--new-vault-password-file', newPw]);
  t.same(r, { code: 0, stdout: '', stderr: `vault: rekeyed ${file}\n` });
  t.equal((await stat(file)).mode & 0o777, 0o600);
  const rekeyed = await VaultFile.open(file, new Secret('Rekeyed-Password-5'));
  t.equal(rekeyed.vaultId, 'prod', 'vault id kept');
  t.equal(rekeyed.require('db_password').reveal(), 'Db-Fixture-Pass-1');
  r = await vault(['view', file, ...pw]);
  t.same(r, { code: 1, stdout: '', stderr: `vault: integrity check failed for ${file} (wrong password or modified file)\n` });

  r = await vault(['rekey', file, '--vault-password-file', newPw, '--new-vault-password-file', passwordFile, '--vault-id', 'staging']);
  t.equal(r.code, 0);
  t.match(await readFile(file, 'utf8'), /^\$ANSIBLE_VAULT;1\.2;AES256;staging\n/, '--vault-id changes the id');
});

t.test('bad input: one line, exit 1, nothing written', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'secrets.yaml');
  await copyFile(join(fixtures, 'ansible-1.1.yaml'), file);
  const original = await readFile(file);
  const wrongPw = join(dir, 'wrong-pw');
  await writeFile(wrongPw, 'Incorrect-Password-6\n', { mode: 0o600 });
  const integrity = `vault: integrity check failed for ${file} (wrong password or modified file)\n`;
  const ed = await editor(dir, 'append.sh', `echo 'x: y' >> "$1"`);
  for (const args of [['view', file], ['get', file, 'db_password'], ['edit', file], ['decrypt', file], ['rekey', file, '--new-vault-password-file', passwordFile], ['set', file, 'k']]) {
    const r = await vault([...args, '--vault-password-file', wrongPw], { input: 'v', env: { EDITOR: ed.path } });
    t.same(r, { code: 1, stdout: '', stderr: integrity }, `${args[0]} with a wrong password`);
  }
  t.ok((await readFile(file)).equals(original), 'file untouched');
  t.notOk(existsSync(`${ed.record}`), 'the editor never ran');

  const conflicted = join(dir, 'conflicted.yaml');
  const [head, ...body] = original.toString().split('\n');
  await writeFile(conflicted, ['<<<<<<< HEAD', head, ...body.slice(0, 3), '=======', head, ...body.slice(3)].join('\n'));
  let r = await vault(['view', conflicted, ...pw]);
  t.match(r, { code: 1, stdout: '', stderr: new RegExp(`^vault: ${conflicted}:1: git merge conflict marker in a vault: .*\\n$`) });

  r = await vault(['view', file]);
  t.same(r, { code: 1, stdout: '', stderr: 'vault: no vault password: pass --vault-password-file FILE or set HARBORMASTER_VAULT_PASSWORD_FILE\n' });
  r = await vault(['view', join(dir, 'missing.yaml'), ...pw]);
  t.same(r, { code: 1, stdout: '', stderr: `vault: ${join(dir, 'missing.yaml')}: no such file\n` });
  r = await vault(['frobnicate']);
  t.same(r, { code: 1, stdout: '', stderr: "vault: unknown command 'frobnicate'; see npx zx scripts/vault.mts --help\n" });
  r = await vault(['get', file]);
  t.same(r, { code: 1, stdout: '', stderr: 'vault: usage: npx zx scripts/vault.mts get FILE KEY\n' });
  r = await vault(['view', file, '--vault-pasword-file', passwordFile]);
  t.match(r, { code: 1, stderr: /^vault: Unknown option '--vault-pasword-file'.*\n$/ });
  r = await vault(['set', join(dir, 'id.yaml'), 'k', '--vault-id', 'a;b', ...pw], { input: 'v' });
  t.same(r, { code: 1, stdout: '', stderr: "vault: bad vault id 'a;b': spaces, ';' and '@' are not allowed\n" });
  r = await vault(['--help']);
  t.match(r, { code: 0, stdout: /^usage: npx zx scripts\/vault\.mts/ });
});

t.test('password from HARBORMASTER_VAULT_PASSWORD_FILE, in the environment or .env', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'secrets.yaml'), await encryptVaultText('k: From-Env-File\n', password));
  await writeFile(join(dir, '.env'), `HARBORMASTER_VAULT_PASSWORD_FILE=${passwordFile}\n`);
  let r = await vault(['get', 'secrets.yaml', 'k'], { cwd: dir });
  t.same(r, { code: 0, stdout: 'From-Env-File\n', stderr: '' }, '.env in the cwd');
  await rm(join(dir, '.env'));
  r = await vault(['get', 'secrets.yaml', 'k'], { cwd: dir, env: { HARBORMASTER_VAULT_PASSWORD_FILE: passwordFile } });
  t.same(r, { code: 0, stdout: 'From-Env-File\n', stderr: '' }, 'environment');
});

/** Runs argv under a pseudo-terminal, answering each prompt when it appears. */
function underTerminal(argv: string[], env: Record<string, string>, answers: [string, string][]): Promise<{ code: number | null; output: string }> {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const child = spawn('script', ['-qec', argv.map(quote).join(' '), '/dev/null'], {
    env: { ...process.env, NODE_OPTIONS: `--import=${tsx}`, ...env },
  });
  let output = '';
  let from = 0;
  child.stdout.on('data', (d) => {
    output += d;
    const next = answers[0];
    const at = next ? output.indexOf(next[0], from) : -1;
    if (next && at >= 0) {
      from = at + next[0].length;
      answers.shift();
      child.stdin.write(next[1] + '\r');
    }
  });
  const hung = setTimeout(() => child.kill('SIGKILL'), 60_000); // a prompt nobody answers
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(hung);
      resolve({ code, output });
    }),
  );
}

t.test('prompts on a terminal do not echo', { skip: !existsSync('/usr/bin/script') && 'needs util-linux script' }, async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'secrets.yaml');
  const create = await editor(dir, 'create.sh', `printf 'k: v1\\n' > "$1"`);
  let r = await underTerminal([process.execPath, zx, script, 'create', file], { EDITOR: create.path }, [
    ['Vault password: ', 'Typed-Password-8'],
    ['Confirm vault password: ', 'Typed-Password-8'],
  ]);
  t.equal(r.code, 0, 'create with typed password');
  t.match(r.output, /Vault password: \r?\nConfirm vault password: \r?\n/);
  t.notMatch(r.output, /Typed-Password-8/, 'password not echoed');
  t.equal((await VaultFile.open(file, new Secret('Typed-Password-8'))).require('k').reveal(), 'v1');

  r = await underTerminal([process.execPath, zx, script, 'set', file, 'typed', '--vault-password-file', join(dir, 'pw')], {}, []);
  t.not(r.code, 0, 'a missing password file is an error');
  await writeFile(join(dir, 'pw'), 'Typed-Password-8\n', { mode: 0o600 });
  r = await underTerminal([process.execPath, zx, script, 'set', file, 'typed', '--vault-password-file', join(dir, 'pw')], {}, [
    ['Value for typed: ', 'Typed-Value-9'],
    ['Confirm value for typed: ', 'Typed-Value-9'],
  ]);
  t.equal(r.code, 0, 'value typed on a terminal');
  t.notMatch(r.output, /Typed-Value-9/, 'value not echoed');
  t.equal((await VaultFile.open(file, new Secret('Typed-Password-8'))).require('typed').reveal(), 'Typed-Value-9');

  r = await underTerminal([process.execPath, zx, script, 'create', join(dir, 'other.yaml')], { EDITOR: create.path }, [
    ['Vault password: ', 'First-Entry'],
    ['Confirm vault password: ', 'Second-Entry'],
  ]);
  t.equal(r.code, 1);
  t.match(r.output, /vault: the two entries do not match; nothing changed/);
  t.notOk(existsSync(join(dir, 'other.yaml')), 'nothing written');
});
