import { UserError } from '../../errors.ts';
import type { Secret } from '../../secret.ts';
import { meetsHarborPolicy, newUserPassword } from '../password.ts';
import type { SecretStore } from '../plan.ts';

/**
 * The secret kept in the vault under `key`, else a new one saved there first (so what Harbor is
 * given is never lost). A kept one must meet Harbor's rule, or Harbor would refuse it mid-apply.
 */
export async function keptOrNewSecret(store: SecretStore, key: string): Promise<Secret> {
  const secret = await store.update(key, (kept) => kept ?? newUserPassword());
  if (!meetsHarborPolicy(secret.reveal())) {
    throw new UserError(`vault key ${key} does not meet Harbor's rule (8+ characters with upper case, lower case and a digit): change it with scripts/vault.mts set`);
  }
  return secret;
}

/** A new secret, saved under `key` (replacing any) before Harbor is given it. */
export const newSecret = (store: SecretStore, key: string): Promise<Secret> => store.update(key, () => newUserPassword(32));
