import { randomBytes } from 'node:crypto';
import { UserError } from '../errors.ts';
import { remember, type Secret } from '../secret.ts';
import { deriveKeys, deriveKeysSync, seal, unseal, type Keys } from './crypto.ts';
import {
  findVaultTexts,
  formatVaultText,
  parseVaultText,
  parseWhere,
  showWhere,
  type Origin,
  type Sealed,
} from './format.ts';

/**
 * Encrypts into an Ansible vault text (1.1, or 1.2 when vaultId is given and not 'default'),
 * newline-terminated. `pinned.salt` exists only to check exact bytes against test vectors.
 */
export async function encryptVaultText(
  plaintext: string | Buffer,
  password: Secret,
  vaultId?: string,
  pinned?: { salt: Buffer },
): Promise<string> {
  const salt = pinned?.salt ?? randomBytes(32);
  const data = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
  return formatVaultText({ salt, ...seal(data, await deriveKeys(password, salt)), vaultId });
}

/**
 * Decrypts to raw bytes (files may be binary) and the vault id of a 1.2 text.
 * `where` is `FILE` for a whole vault file, or `FILE:LINE` for a `!vault |` value tagged on LINE
 * (its vault text starts on the next line; format errors count from there).
 */
export async function decryptVault(
  text: string,
  password: Secret,
  where: string,
): Promise<{ data: Buffer; vaultId?: string }> {
  const origin = parseWhere(where);
  const sealed = parseVaultText(text, origin);
  return { data: open(sealed, await deriveKeys(password, sealed.salt), origin), vaultId: sealed.vaultId };
}

/** Decrypts one vault text to a string; the value is remembered so output redacts it. Throws UserError. */
export async function decryptVaultText(text: string, password: Secret, where: string): Promise<string> {
  const { data } = await decryptVault(text, password, where);
  return rememberedText(data, parseWhere(where));
}

/**
 * The synchronous decrypt callback the inventory loader takes for inline `!vault` values.
 * Keys are derived once per salt and password in this process.
 */
export function vaultDecryptor(password: Secret): (text: string, where: string) => string {
  return (text, where) => {
    const origin = parseWhere(where);
    const sealed = parseVaultText(text, origin);
    return rememberedText(open(sealed, deriveKeysSync(password, sealed.salt), origin), origin);
  };
}

/**
 * Derives the keys of every vault text in `files` (their contents: vault files or YAML with
 * `!vault |` values) in parallel on the thread pool, so that a synchronous vaultDecryptor
 * run afterwards finds them all cached. Texts that do not parse are left for it to report.
 */
export async function prepareVaultKeys(files: Iterable<string>, password: Secret): Promise<void> {
  const salts = new Map<string, Buffer>();
  for (const file of files) {
    for (const text of findVaultTexts(file)) {
      try {
        const { salt } = parseVaultText(text, { file: '' });
        salts.set(salt.toString('hex'), salt);
      } catch {
        // reported with its file and line when the value is decrypted
      }
    }
  }
  await Promise.all([...salts.values()].map((salt) => deriveKeys(password, salt)));
}

function open(sealed: Sealed, keys: Keys, origin: Origin): Buffer {
  const data = unseal(sealed, keys);
  if (!data) throw new UserError(`integrity check failed for ${showWhere(origin)} (wrong password or modified file)`);
  return data;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function decodeText(data: Buffer, where: string): string {
  try {
    return utf8.decode(data);
  } catch {
    throw new UserError(`${where}: decrypted data is not UTF-8 text`);
  }
}

function rememberedText(data: Buffer, origin: Origin): string {
  const text = decodeText(data, showWhere(origin));
  remember(text);
  return text;
}
