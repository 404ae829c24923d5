// Loading an inventory whose variables may hold `!vault` values, asking for the password only
// when one is met: shared by every command that reads an inventory.
import type { Secret } from '../secret.ts';
import { prepareVaultKeys, resolveVaultPassword, vaultDecryptor } from '../vault/index.ts';
import { existsSync } from 'node:fs';
import { deploymentFiles, type DeploymentFiles } from './binding.ts';
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
  return (await loadBoundInventory(file, {}, password)).inventory;
}

export interface BoundInventory {
  inventory: Inventory;
  /** The deployment's vault, password file and certificates: flags, else what the inventory names. */
  files: DeploymentFiles;
  /** The password of those files (the inventory's `!vault` values share it). */
  password: PasswordSource;
}

/**
 * An inventory and the deployment files it names (see deploymentFiles; `flags` win). Its own
 * variables come first, unencrypted: they name the password file that opens its `!vault` values.
 */
export async function loadBoundInventory(file: string, flags: Partial<DeploymentFiles>, given?: PasswordSource): Promise<BoundInventory> {
  const sealed: string[] = [];
  const plain = await loadInventory(file, { decrypt: (text) => (sealed.push(text), '') });
  const files = deploymentFiles(plain, flags);
  const password = given ?? passwordSource(files.passwordFile);
  if (sealed.length === 0) return { inventory: plain, files, password };
  const secret = await password({ required: false });
  if (!secret) await loadInventory(file); // fails naming the first vault value and how to give a password
  await prepareVaultKeys(sealed, secret!);
  return { inventory: await loadInventory(file, { decrypt: vaultDecryptor(secret!) }), files, password };
}

/** For a command whose inventory is a default that may not exist: bound to it when it does, else to the flags and the project's defaults. */
export async function bindOptionalInventory(file: string, flags: Partial<DeploymentFiles>): Promise<Partial<BoundInventory> & Omit<BoundInventory, 'inventory'>> {
  if (existsSync(file)) return loadBoundInventory(file, flags);
  const files = deploymentFiles(undefined, flags);
  return { files, password: passwordSource(files.passwordFile) };
}
