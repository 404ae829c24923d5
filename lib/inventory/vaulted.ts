// Loading an inventory whose variables may hold `!vault` values, asking for the password only
// when one is met: shared by every command that reads an inventory.
import type { Secret } from '../secret.ts';
import { resolveVaultPassword, vaultDecryptor } from '../vault/index.ts';
import { loadInventory, VaultPasswordNeeded } from './index.ts';
import type { Inventory } from './types.ts';

/** The vault password, asked for at most once per run and only when something needs it. */
export function passwordSource(file: string | undefined): (opts: { confirm?: boolean; required?: boolean }) => Promise<Secret | undefined> {
  let password: Secret | undefined;
  return async (opts) => (password ??= await resolveVaultPassword({ file, ...opts }));
}
export type PasswordSource = ReturnType<typeof passwordSource>;

/** Loads without a password first, so an inventory without vault values never asks for one. */
export async function loadRunInventory(file: string, password: PasswordSource = passwordSource(undefined)): Promise<Inventory> {
  try {
    return await loadInventory(file);
  } catch (err) {
    if (!(err instanceof VaultPasswordNeeded)) throw err;
    const secret = await password({ required: false });
    if (!secret) throw err;
    return loadInventory(file, { decrypt: vaultDecryptor(secret) });
  }
}
