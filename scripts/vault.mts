// The vault command line: Ansible Vault 1.1/1.2 files and named secrets.
// Usage: npx zx scripts/vault.mts --help
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { parseFlags, runMain, scriptArgs } from '../lib/cli.ts';
import { UserError } from '../lib/errors.ts';
import { askHidden } from '../lib/prompt.ts';
import type { Secret } from '../lib/secret.ts';
import { decryptVault, encryptVaultText, isVaultText, resolveVaultPassword, VaultFile } from '../lib/vault/index.ts';
import { replaceVaultFile, secretsTextProblem } from '../lib/vault/file.ts';
import { parseVaultIdFlag, type VaultIdFlag } from '../lib/vault/password.ts';

const USAGE = `usage: npx zx scripts/vault.mts COMMAND ARGS [options]
  create FILE                   new vault of named secrets, written in $EDITOR
  edit FILE                     edit in $EDITOR (an unchanged edit leaves the file alone)
  view FILE                     print the plaintext
  encrypt FILE | decrypt FILE   in place
  rekey FILE                    new password from --new-vault-password-file or asked twice
  encrypt-string --name NAME    value from stdin; prints a "NAME: !vault |" YAML block
  get FILE KEY                  print one secret (nested keys with dots: aws.secret_key)
  set FILE KEY                  value from stdin; creates the file or the key, or replaces it
options:
  --vault-password-file FILE    else $HARBORMASTER_VAULT_PASSWORD_FILE (also from .env), else a prompt
  --new-vault-password-file FILE
  --vault-id ID[@SOURCE]        write format 1.2 with this id (create, encrypt, encrypt-string,
                                rekey, set on a new file); with @SOURCE (a password file or
                                script, or "prompt") also where the password comes from, as Ansible
  --name NAME`;

const ARITY: Record<string, string[]> = {
  create: ['FILE'],
  edit: ['FILE'],
  view: ['FILE'],
  encrypt: ['FILE'],
  decrypt: ['FILE'],
  rekey: ['FILE'],
  'encrypt-string': [],
  get: ['FILE', 'KEY'],
  set: ['FILE', 'KEY'],
};

await runMain('vault', async () => {
  const { values: opts, positionals } = parseCommandLine();
  if (opts.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const [command = '', ...args] = positionals;
  const wanted = ARITY[command];
  if (!wanted) throw new UserError(`unknown command '${command}'; see npx zx scripts/vault.mts --help`);
  if (args.length !== wanted.length) {
    throw new UserError(`usage: npx zx scripts/vault.mts ${command} ${wanted.join(' ')}`.trimEnd());
  }
  const flag = opts['vault-id'] === undefined ? undefined : parseVaultIdFlag(opts['vault-id']);
  if (flag?.source && opts['vault-password-file']) throw new UserError('give the password with --vault-id ID@SOURCE or --vault-password-file, not both');
  const writeId = flag?.id;
  const [file = '', key = ''] = args;
  const password = (confirm = false) => requirePassword(opts['vault-password-file'], confirm, flag?.source);

  switch (command) {
    case 'view':
      process.stdout.write((await decryptVault(await readVault(file), await password(), file)).data);
      return;
    case 'get': {
      const value = (await VaultFile.open(file, await password())).require(key).reveal();
      process.stdout.write(value.endsWith('\n') ? value : value + '\n');
      return;
    }
    case 'set': {
      // The password first: a wrong one fails before the user types the value.
      const vault = await VaultFile.open(file, await password(!(await exists(file))), {
        create: true,
        vaultId: writeId,
      });
      const value = await readValue(`Value for ${key}: `);
      vault.set(key, value);
      return done((await vault.save()) ? `set ${key} in ${file}` : `${key} in ${file} unchanged`);
    }
    case 'encrypt-string': {
      const name = opts.name;
      if (name !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        throw new UserError(`bad variable name '${name}': letters, digits and '_', not starting with a digit`);
      }
      const pw = await password(true);
      const text = await encryptVaultText(await readValue(`Value for ${name ?? 'the string'}: `), pw, writeId);
      process.stdout.write(vaultYamlBlock(name, text));
      return;
    }
    case 'create': {
      if (await exists(file)) throw new UserError(`${file} already exists; change it with npx zx scripts/vault.mts edit ${file}`);
      const pw = await password(true);
      const text = (await editPrivately(file, Buffer.alloc(0))).toString('utf8');
      rejectIfNotSecrets(text, file);
      await replaceVaultFile(file, undefined, await encryptVaultText(text, pw, writeId));
      return done(`created ${file}`);
    }
    case 'edit': {
      const pw = await password();
      const before = await readVault(file);
      const { data, vaultId } = await decryptVault(before, pw, file);
      const edited = await editPrivately(file, data);
      if (edited.equals(data)) return done(`${file} unchanged`);
      // A vault that held named secrets must still hold them; other encrypted files are free-form.
      if (!secretsTextProblem(data.toString('utf8'))) rejectIfNotSecrets(edited.toString('utf8'), file);
      await replaceVaultFile(file, before, await encryptVaultText(edited, pw, vaultId));
      return done(`saved ${file}`);
    }
    case 'encrypt': {
      const data = await readInput(file);
      if (isVaultText(data.toString('latin1'))) throw new UserError(`${file} is already encrypted`);
      await replaceVaultFile(file, data, await encryptVaultText(data, await password(true), writeId));
      return done(`encrypted ${file}`);
    }
    case 'decrypt': {
      const before = await readVault(file);
      const { data } = await decryptVault(before, await password(), file);
      await replaceVaultFile(file, before, data);
      return done(`decrypted ${file}`);
    }
    case 'rekey': {
      const before = await readVault(file);
      const { data, vaultId } = await decryptVault(before, await password(), file);
      const newPassword = await resolveVaultPassword({
        file: opts['new-vault-password-file'],
        env: false,
        confirm: true,
        required: false,
        prompt: 'New vault password: ',
      });
      if (!newPassword) throw new UserError('no new vault password: pass --new-vault-password-file FILE');
      await replaceVaultFile(file, before, await encryptVaultText(data, newPassword, writeId ?? vaultId));
      return done(`rekeyed ${file}`);
    }
  }
});

function parseCommandLine() {
  return parseFlags({
    args: scriptArgs(import.meta.url),
    allowPositionals: true,
    options: {
      'vault-password-file': { type: 'string' },
      'new-vault-password-file': { type: 'string' },
      'vault-id': { type: 'string' },
      name: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

async function requirePassword(file: string | undefined, confirm: boolean, source?: VaultIdFlag['source']): Promise<Secret> {
  if (source && 'prompt' in source) return (await resolveVaultPassword({ env: false, confirm, required: true }))!;
  return (await resolveVaultPassword({ file: file ?? source?.file, confirm, required: true }))!;
}

function done(message: string): void {
  process.stderr.write(`vault: ${message}\n`);
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

async function readInput(file: string): Promise<Buffer> {
  return readFile(file).catch((err: NodeJS.ErrnoException) => {
    throw new UserError(`${file}: ${err.code === 'ENOENT' ? 'no such file' : `cannot read (${err.code})`}`);
  });
}

async function readVault(file: string): Promise<string> {
  return (await readInput(file)).toString('utf8');
}

function rejectIfNotSecrets(text: string, file: string): void {
  const problem = secretsTextProblem(text);
  if (problem) throw new UserError(`${file}: the edited text is ${problem}; nothing written`);
}

/**
 * A secret value: typed twice without echo on a terminal, else all of stdin. A single line
 * loses its trailing newline (`echo value |`); multi-line values (keys, certificates) are kept whole.
 */
async function readValue(prompt: string): Promise<string> {
  let value: string | undefined;
  if (process.stdin.isTTY) {
    value = await askHidden(prompt, { confirm: true });
  } else {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    value = Buffer.concat(chunks).toString('utf8');
  }
  if (value && /^[^\n]*\n$/.test(value)) value = value.replace(/\r?\n$/, '');
  if (!value) throw new UserError('empty value on stdin; nothing written');
  return value;
}

/** Indented as `ansible-vault encrypt_string` does, ready to paste into group_vars. */
function vaultYamlBlock(name: string | undefined, text: string): string {
  const lines = text.trimEnd().split('\n').map((l) => ' '.repeat(10) + l);
  return [`${name ? `${name}: ` : ''}!vault |`, ...lines].join('\n') + '\n';
}

/**
 * Lets the user edit plaintext in $EDITOR through a file in a private (0700) temp directory,
 * which is removed afterwards: on success, on error, and on SIGTERM/SIGHUP.
 */
async function editPrivately(file: string, data: Buffer): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'harbormaster-vault-'));
  const temp = join(dir, basename(file));
  const editor = process.env.EDITOR || 'vi';
  const ignore = () => undefined; // Ctrl-C belongs to the editor
  let child: ReturnType<typeof spawn> | undefined;
  const terminate = (signal: NodeJS.Signals) => {
    child?.kill(signal);
    rmSync(dir, { recursive: true, force: true });
    process.exit(128 + (signal === 'SIGHUP' ? 1 : 15));
  };
  process.on('SIGINT', ignore).on('SIGTERM', terminate).on('SIGHUP', terminate);
  try {
    await writeFile(temp, data, { mode: 0o600 });
    const status = await new Promise<number | null>((settle, fail) => {
      // Through the shell so that EDITOR may carry arguments ("code --wait").
      child = spawn('/bin/sh', ['-c', `${editor} "$1"`, 'editor', temp], { stdio: 'inherit' });
      child.on('error', fail).on('close', settle);
    });
    if (status !== 0) throw new UserError(`editor '${editor}' exited with status ${status}; nothing written`);
    return await readFile(temp);
  } finally {
    process.off('SIGINT', ignore).off('SIGTERM', terminate).off('SIGHUP', terminate);
    await rm(dir, { recursive: true, force: true });
  }
}
