// Loading an inventory whose variables may hold `!vault` values, asking for the password only
// when one is met: shared by every command that reads an inventory.
import type { Secret } from '../secret.ts';
import { prepareVaultKeys, resolveVaultPassword, vaultDecryptor } from '../vault/index.ts';
import { loadInventory } from './index.ts';
import type { Inventory } from './types.ts';

/** The vault password, asked for at most once per run and only when something needs it. */
export function passwordSource(file: string | undefined): (opts: { confirm?: boolean; required?: boolean }) => Promise<Secret | undefined> {
  let password: Secret | undefined;
  return async (opts) => (password ??= await resolveVaultPassword({ file, ...opts }));
}
export type PasswordSource = ReturnType<typeof passwordSource>;

/**
 * A first pass only collects the vault texts: an inventory without any never asks for a
 * password, and the keys of all of them are derived in parallel before the real load.
 */
export async function loadRunInventory(file: string, password: PasswordSource = passwordSource(undefined)): Promise<Inventory> {
  const sealed: string[] = [];
  const plain = await loadInventory(file, { decrypt: (text) => (sealed.push(text), '') });
  if (sealed.length === 0) return plain;
  const secret = await password({ required: false });
  if (!secret) return loadInventory(file); // fails naming the first vault value and how to give a password
  await prepareVaultKeys(sealed, secret);
  return loadInventory(file, { decrypt: vaultDecryptor(secret) });
}
