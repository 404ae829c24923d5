/**
 * harbormaster's side of the vault benchmark: loads a vars file of `!vault` values the way the
 * engine loads group_vars/host_vars (lib/inventory readVarFile + lib/vault vaultDecryptor), then
 * reveals every value. Prints {seconds, values, chars}; seconds are measured in-process.
 * Usage: node --import=tsx bench/vault-decrypt.mts VARS_FILE PASSWORD_FILE
 */
import { readVarFile } from '../lib/inventory/var-files.ts';
import { isSecret } from '../lib/secret.ts';
import { resolveVaultPassword, vaultDecryptor } from '../lib/vault/index.ts';

const [file, passwordFile] = process.argv.slice(2) as [string, string];
const started = performance.now();
const password = (await resolveVaultPassword({ file: passwordFile }))!;
const vars = await readVarFile(file, vaultDecryptor(password));
const values = Object.values(vars).map((v) => (isSecret(v) ? v.reveal() : String(v)));
const seconds = (performance.now() - started) / 1000;
console.log(JSON.stringify({ seconds, values: values.length, chars: values.reduce((n, v) => n + v.length, 0) }));
