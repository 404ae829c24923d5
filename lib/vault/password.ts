import { spawn } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import dotenv from 'dotenv';
import { UserError } from '../errors.ts';
import { askHidden } from '../prompt.ts';
import { checkVaultId } from './format.ts';
import { Secret } from '../secret.ts';

export const PASSWORD_FILE_ENV = 'HARBORMASTER_VAULT_PASSWORD_FILE';

export interface PasswordOptions {
  /** `--vault-password-file`; wins over everything else. */
  file?: string;
  /** Prompt twice (creating a vault, a new password). */
  confirm?: boolean;
  /** No source and no terminal is an error (default) rather than undefined. */
  required?: boolean;
  prompt?: string;
  /** Also look at HARBORMASTER_VAULT_PASSWORD_FILE and .env (default); off for a *new* password. */
  env?: boolean;
}

/**
 * The vault password: from `file`, else the file named by HARBORMASTER_VAULT_PASSWORD_FILE
 * (the real environment, then `.env` in the cwd), else a prompt without echo on the terminal.
 */
export async function resolveVaultPassword(opts: PasswordOptions = {}): Promise<Secret | undefined> {
  const file = opts.file ?? (opts.env === false ? undefined : await passwordFileFromEnv());
  if (file) return readPasswordFile(file);
  const typed = await askHidden(opts.prompt ?? 'Vault password: ', { confirm: opts.confirm });
  if (typed === undefined) {
    if (opts.required === false) return undefined;
    throw new UserError(`no vault password: pass --vault-password-file FILE or set ${PASSWORD_FILE_ENV}`);
  }
  if (!typed) throw new UserError('the vault password is empty');
  return new Secret(typed);
}

async function passwordFileFromEnv(): Promise<string | undefined> {
  if (process.env[PASSWORD_FILE_ENV]) return process.env[PASSWORD_FILE_ENV];
  const env = await readFile('.env').catch(() => undefined);
  return (env && dotenv.parse(env)[PASSWORD_FILE_ENV]) || undefined;
}

/** As Ansible: a plain file's content is stripped of surrounding whitespace; an executable file is run. */
async function readPasswordFile(file: string): Promise<Secret> {
  const info = await stat(file).catch((err: NodeJS.ErrnoException) => {
    throw new UserError(`cannot read vault password file ${file} (${err.code === 'ENOENT' ? 'not found' : err.code})`);
  });
  const password = info.mode & 0o111 ? await runPasswordScript(file) : stripPython(await readFile(file, 'utf8'));
  if (!password) throw new UserError(`vault password file ${file} is empty`);
  return new Secret(password);
}

/** Python's bytes.strip(): ASCII whitespace only. */
const stripPython = (s: string) => s.replace(/^[ \t\n\r\v\f]+|[ \t\n\r\v\f]+$/g, '');

/** Ansible's protocol: print the password on stdout; `*-client` scripts are also told the vault id. */
function runPasswordScript(file: string): Promise<string> {
  const args = /-client(\.[^-]*)?$/.test(basename(file)) ? ['--vault-id', 'default'] : [];
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['inherit', 'pipe', 'inherit'] });
    const out: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.on('error', (err: NodeJS.ErrnoException) =>
      reject(new UserError(`cannot run vault password script ${file} (${err.code})`)),
    );
    child.on('close', (code) => {
      if (code !== 0) reject(new UserError(`vault password script ${file} exited with status ${code}`));
      else resolve(Buffer.concat(out).toString('utf8').replace(/^[\r\n]+|[\r\n]+$/g, ''));
    });
  });
}

export interface VaultIdFlag {
  /** The label written in format 1.2 headers. */
  id: string;
  /** Where its password comes from, when given as LABEL@SOURCE. */
  source?: { file: string } | { prompt: true };
}

/**
 * Ansible's `--vault-id LABEL@SOURCE`: SOURCE is a password file (or script) or `prompt`.
 * A bare value is the label alone; the password then comes from the usual places.
 */
export function parseVaultIdFlag(value: string): VaultIdFlag {
  const at = value.indexOf('@');
  const id = at < 0 ? value : value.slice(0, at);
  checkVaultId(id);
  if (at < 0) return { id };
  const source = value.slice(at + 1);
  if (!source) throw new UserError(`--vault-id ${value}: give a password file or "prompt" after the @`);
  return { id, source: source === 'prompt' ? { prompt: true } : { file: source } };
}
