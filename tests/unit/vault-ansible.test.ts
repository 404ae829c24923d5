// Interoperability with the real ansible-vault / ansible (ansible-core from Debian), both
// directions, formats 1.1 and 1.2. Offline, just slower. Passwords reach Ansible only
// through 0600 files, never argv.
import { execFile as execFileCb, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { Secret } from '../../lib/secret.ts';
import { decryptVault, encryptVaultText, VaultFile, vaultDecryptor } from '../../lib/vault/index.ts';

const execFile = promisify(execFileCb);
const repo = fileURLToPath(new URL('../../', import.meta.url));
const password = new Secret('Interop-Password-Ansible-1');
const env = {
  ...process.env,
  ANSIBLE_NOCOLOR: '1',
  ANSIBLE_LOCALHOST_WARNING: 'False',
  ANSIBLE_INVENTORY_UNPARSED_WARNING: 'False',
  ANSIBLE_PYTHON_INTERPRETER: '/usr/bin/python3',
};

const skip = !existsSync('/usr/bin/ansible-vault') && 'ansible-vault is not installed (apt-get install ansible-core)';
const dir = await mkdtemp(join(tmpdir(), 'vault-ansible-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const pwFile = join(dir, 'password');
await writeFile(pwFile, password.reveal() + '\n', { mode: 0o600 });
const ansibleVault = async (...args: string[]) => (await execFile('ansible-vault', args, { env })).stdout;
const plaintext = 'db_password: Interop-Db-1\naws:\n  secret_access_key: Interop/Aws+Key=2\nnote: "h\u00e4rbor \u2713"\n';

t.test('ansible-vault writes, we read (1.1 and 1.2)', { skip }, async (t) => {
  for (const [name, id] of [['a11.yaml', undefined], ['a12.yaml', 'prod']] as const) {
    const file = join(dir, name);
    await writeFile(file, plaintext, { mode: 0o600 });
    await ansibleVault('encrypt', ...(id ? ['--vault-id', `${id}@${pwFile}`] : ['--vault-password-file', pwFile]), file);
    const vault = await VaultFile.open(file, password);
    t.equal(vault.vaultId, id, `${name}: vault id`);
    t.equal(vault.require('aws.secret_access_key').reveal(), 'Interop/Aws+Key=2');
    t.equal(vault.require('note').reveal(), 'h\u00e4rbor \u2713');
  }
  const stringOut = await new Promise<string>((resolve, reject) => {
    const child = spawn('ansible-vault', ['encrypt_string', '--vault-id', `prod@${pwFile}`, '--stdin-name', 'token'], { env });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject).on('close', () => resolve(out));
    child.stdin.end('Interop-Token-3');
  });
  const text = stringOut.split('\n').slice(1).map((l) => l.trim()).join('\n');
  t.equal(vaultDecryptor(password)(text, 'stdout:1'), 'Interop-Token-3', 'encrypt_string value');
});

t.test('we write, ansible-vault reads (1.1 and 1.2)', { skip }, async (t) => {
  for (const [name, id] of [['o11.yaml', undefined], ['o12.yaml', 'prod']] as const) {
    const file = join(dir, name);
    await writeFile(file, await encryptVaultText(plaintext, password, id), { mode: 0o600 });
    const auth = id ? ['--vault-id', `${id}@${pwFile}`] : ['--vault-password-file', pwFile];
    t.equal(await ansibleVault('view', ...auth, file), plaintext, `${name}: ansible-vault view`);
    const copy = join(dir, `copy-${name}`);
    await copyFile(file, copy);
    await ansibleVault('decrypt', ...auth, copy);
    t.equal(await readFile(copy, 'utf8'), plaintext, `${name}: ansible-vault decrypt`);
    // ansible-vault rekeys it, we still read it.
    const newPw = join(dir, 'new-password');
    await writeFile(newPw, 'Interop-Rekeyed-4\n', { mode: 0o600 });
    await ansibleVault('rekey', ...auth, '--new-vault-password-file', newPw, file);
    t.equal((await decryptVault(await readFile(file, 'utf8'), new Secret('Interop-Rekeyed-4'), file)).data.toString(), plaintext);
  }
});

t.test('our vault files and encrypt-string output load in ansible', { skip }, async (t) => {
  const vars = join(dir, 'vars.yaml');
  const vault = await VaultFile.open(vars, password, { create: true });
  vault.set('flag', 'yes'); // must stay a string for YAML 1.1 readers
  vault.set('mode', '0777');
  vault.set('db_password', 'Interop-Db-5');
  await vault.save();

  const inline = join(dir, 'inline.yaml');
  const block = await new Promise<string>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [join(repo, 'node_modules/zx/build/cli.js'), join(repo, 'scripts/vault.mts'), 'encrypt-string', '--name', 'api_token', '--vault-password-file', pwFile, '--vault-id', 'prod'],
      { env: { ...process.env, NODE_OPTIONS: `--import=${import.meta.resolve('tsx')}` } },
    );
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject).on('close', () => resolve(out));
    child.stdin.end('Interop-Token-6\n');
  });
  await writeFile(inline, `plain: visible\n${block}`);

  const { stdout } = await execFile(
    'ansible',
    ['localhost', '-m', 'debug', '-a', 'msg={{ [flag, mode, db_password, api_token, plain] | to_json }}', '-e', `@${vars}`, '-e', `@${inline}`, '--vault-id', `prod@${pwFile}`],
    { env, cwd: dir },
  );
  t.match(stdout, '"msg": "[\\"yes\\", \\"0777\\", \\"Interop-Db-5\\", \\"Interop-Token-6\\", \\"visible\\"]"');
});
