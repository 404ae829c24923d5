// A deployment's secrets are bound to its inventory: the inventory names its vault, the vault's
// password file and its certificates directory, so no command can pair it with another
// deployment's secrets by running from another directory or forgetting a flag.
import { isAbsolute, join, resolve, dirname } from 'node:path';
import { PROJECT_ROOT } from '../compiled.ts';
import { UserError } from '../errors.ts';
import type { Inventory } from './types.ts';

/** The inventory variables (for every host: `all:vars`) that name the deployment's files. */
export const BINDING_VARS = {
  vaultFile: 'harbormaster_vault',
  passwordFile: 'harbormaster_vault_password_file',
  certsDir: 'harbormaster_certs_dir',
} as const;

export interface DeploymentFiles {
  vaultFile: string;
  /** Unset: $HARBORMASTER_VAULT_PASSWORD_FILE, else a prompt. */
  passwordFile?: string;
  certsDir: string;
}

/** What an inventory that names none of them gets: the project's vault/ and certs/, never the current directory's. */
export const UNBOUND_DEFAULTS = {
  vaultFile: join(PROJECT_ROOT, 'vault', 'secrets.yaml'),
  certsDir: join(PROJECT_ROOT, 'certs'),
};

/** One value for every host of the inventory, or undefined when no host sets it. */
function inventoryValue(inv: Inventory, name: string): string | undefined {
  const values = new Set([...inv.hosts.values()].map((h) => h.vars[name]).filter((v) => v !== undefined && v !== null));
  if (values.size > 1) throw new UserError(`${inv.file}: hosts disagree on ${name} (${[...values].join(', ')}): set it once, in all:vars`);
  const [value] = values;
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !value.trim()) throw new UserError(`${inv.file}: ${name} must be a path`);
  return value;
}

/**
 * The deployment's files: a flag wins (a path relative to the current directory, as on any
 * command line), else the inventory's variable (relative to the inventory file), else
 * UNBOUND_DEFAULTS (no default password file). Without an inventory, flags or the defaults.
 */
export function deploymentFiles(inv: Inventory | undefined, flags: Partial<DeploymentFiles> = {}): DeploymentFiles {
  const pick = (key: keyof DeploymentFiles): string | undefined => {
    if (flags[key] !== undefined) return resolve(flags[key]!);
    if (!inv) return undefined;
    const value = inventoryValue(inv, BINDING_VARS[key]);
    return value === undefined ? undefined : isAbsolute(value) ? value : resolve(dirname(inv.file), value);
  };
  const passwordFile = pick('passwordFile');
  return {
    vaultFile: pick('vaultFile') ?? UNBOUND_DEFAULTS.vaultFile,
    ...(passwordFile ? { passwordFile } : {}),
    certsDir: pick('certsDir') ?? UNBOUND_DEFAULTS.certsDir,
  };
}

/** The --vault, --vault-password-file and --certs-dir flags every command spells alike. */
export const filesFromFlags = (v: { vault?: string; 'vault-password-file'?: string; 'certs-dir'?: string }): Partial<DeploymentFiles> => ({
  vaultFile: v.vault,
  passwordFile: v['vault-password-file'],
  certsDir: v['certs-dir'],
});
