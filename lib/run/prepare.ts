// The controller's side of a run, before any host changes: each role's `prepare`, with the
// deployment's vault under its lock, the hosts readable over the run's own connections, and
// nothing written in check mode.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writePrivateFile } from '../fs.ts';
import type { DeploymentFiles } from '../inventory/binding.ts';
import { sshTargetOf } from '../inventory/target.ts';
import type { Host, Inventory, Vars } from '../inventory/types.ts';
import type { PasswordSource } from '../inventory/vaulted.ts';
import type { Lock } from '../lock/index.ts';
import { redact } from '../secret.ts';
import type { ConnectionPool } from '../transport/pool.ts';
import { lockVault, VaultFile } from '../vault/file.ts';
import { UserError } from '../errors.ts';
import type { PrepareContext, Role } from './types.ts';

export interface PrepareOptions {
  inventory: Inventory;
  files: DeploymentFiles;
  /** The password file was named by the inventory, not a flag: a first run may make it. */
  passwordFileBound: boolean;
  password: PasswordSource;
  hosts: Host[];
  limit?: string;
  check: boolean;
  rotateCa: boolean;
  pool: ConnectionPool;
  knownHostsFile?: string;
}

/**
 * Runs each distinct `prepare` of the roles once; their vars merged in role order. The vault,
 * once a prepare opens it, stays locked until all are done, so what they generate (a CA,
 * passwords) is decided and saved by one run at a time.
 */
export async function prepareRoles(roles: Role[], o: PrepareOptions): Promise<Vars> {
  const prepares = [...new Set(roles.map((r) => r.prepare).filter((p) => p !== undefined))];
  if (prepares.length === 0) return {};
  const { vaultFile, certsDir } = o.files;
  let lock: Lock | undefined;
  let vault: Promise<VaultFile> | undefined;
  const open = async (create: boolean): Promise<VaultFile> => {
    if (!o.check) lock = await lockVault(vaultFile);
    const exists = existsSync(vaultFile);
    if (!exists && (!create || o.check)) throw new UserError(`vault ${vaultFile} does not exist${o.check ? ' yet: run once without --check to create it' : `: create it with npx zx scripts/vault.mts create ${vaultFile}`}`);
    if (!exists) await newPasswordFile(o);
    const secret = await o.password({ confirm: !exists, required: true });
    return VaultFile.open(vaultFile, secret!, { create: !exists, ...(lock ? { lock } : {}) });
  };
  const ctx: PrepareContext = {
    inventory: o.inventory,
    check: o.check,
    hosts: o.hosts,
    ...(o.limit !== undefined ? { limit: o.limit } : {}),
    read: (hosts, script) => readHosts(o, hosts, script),
    vaultFile,
    vaultExists: existsSync(vaultFile),
    vault: (opts) => (vault ??= open(Boolean(opts?.create))),
    certsDir,
    rotateCa: o.rotateCa,
    say: (line) => process.stderr.write(`${redact(line)}\n`),
  };
  try {
    let vars: Vars = {};
    for (const prepare of prepares) vars = { ...vars, ...(await prepare(ctx)) };
    return vars;
  } finally {
    await lock?.release();
  }
}

/** A first run's vault gets a random password in the file its inventory names, when that file does not exist yet. */
async function newPasswordFile(o: PrepareOptions): Promise<void> {
  const file = o.files.passwordFile;
  if (!file || !o.passwordFileBound || existsSync(file)) return;
  await writePrivateFile(file, randomBytes(24).toString('base64url') + '\n');
  process.stderr.write(`vault: made a random password for ${o.files.vaultFile} in ${file} (0600)\n`);
}

async function readHosts(o: PrepareOptions, hosts: Host[], script: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const target = o.knownHostsFile ? { knownHostsFile: o.knownHostsFile } : {};
  await Promise.all(
    hosts.map(async (h) => {
      try {
        const r = await o.pool.get(sshTargetOf(o.inventory, h, target)).exec(script);
        if (r.code === 0) out.set(h.name, r.stdout);
      } catch {
        // Unreachable: the run reports it on that host, which it then leaves alone.
      }
    }),
  );
  return out;
}
