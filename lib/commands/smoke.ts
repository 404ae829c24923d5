// `smoke.mts`: the registry smoke test as a command: its flag table and main(ctx).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseFlags } from '../cli.ts';
import { UserError } from '../errors.ts';
import { selectHosts } from '../inventory/limit.ts';
import { deploymentFiles, filesFromFlags, type DeploymentFiles } from '../inventory/binding.ts';
import { loadBoundInventory, passwordSource } from '../inventory/vaulted.ts';
import { readIfExists, registryPublicName } from '../pki/index.ts';
import { humanReporter, jsonReporter, type Output } from '../run/report.ts';
import { runSmoke, type Credentials, type Endpoint } from '../smoke/index.ts';
import { VaultFile } from '../vault/index.ts';
import type { CommandContext } from './harbor-session.ts';


export const SMOKE_FLAGS = {
  inventory: { type: 'string', short: 'i', default: 'inventory/lab.yaml' },
  url: { type: 'string' },
  resolve: { type: 'string' },
  ca: { type: 'string' },
  'certs-dir': { type: 'string' },
  vault: { type: 'string' },
  'vault-password-file': { type: 'string' },
  user: { type: 'string' },
  engine: { type: 'string' },
  project: { type: 'string', default: 'library' },
  tag: { type: 'string', default: 'harbormaster-smoke' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const SMOKE_USAGE = `usage: npx zx scripts/smoke.mts [options]
Builds a small image in code, pushes it to https://<registry_public_name>/<project>/smoke:<tag>
through the proxy trusting only the deployment's CA, pulls it back, compares digests and deletes
it. A failure is one line naming the layer: DNS, TCP, TLS (and which certificate), authentication,
authorization, the backend behind the proxy (502/503), or a digest mismatch. Exit 0, or 2 on failure.
options:
  -i, --inventory FILE         inventory (default inventory/lab.yaml): registry_public_name, registry_engine
  --url https://NAME[:PORT]    the registry, instead of the inventory's public name
  --resolve ADDRESS            connect to ADDRESS instead of resolving the name (curl's --resolve;
                               default: the inventory's registry_public_address, which the lab sets)
  --ca FILE                    CA to trust (default <certs-dir>/ca.crt)
  --certs-dir DIR              the deployment's public certificates (default: the inventory's, else certs)
  --vault FILE                 vault holding the user's password (default: the inventory's, else vault/secrets.yaml)
  --vault-password-file F      vault password file (default: the inventory's, else $HARBORMASTER_VAULT_PASSWORD_FILE, else a prompt)
  --user NAME                  who pushes (default admin, else the vault's first registry user): distribution's registry_users.NAME
                               (admin: else registry_admin_password), Harbor's harbor_admin_password
                               for admin, else harbor_users.NAME
  --engine distribution|harbor which vault keys hold the password (default: the inventory's registry_engine)
  --project P                  the repository's project (default library)
  --tag T                      the tag pushed and deleted (default harbormaster-smoke)
  --json                       one JSON event per line
  -h, --help                   this help`;

export interface SmokeTarget {
  /** The inventory to take the public name and engine from; unless url is given. */
  inventoryFile?: string;
  url?: string;
  resolve?: string;
  /** The CA to trust instead of <certs dir>/ca.crt. */
  caFile?: string;
  /** --vault, --vault-password-file, --certs-dir: over what the inventory binds. */
  files: Partial<DeploymentFiles>;
  /** Unset: admin, else (distribution) the first registry user the vault holds. */
  user?: string;
  engine?: string;
  project: string;
  tag: string;
  json: boolean;
}

function endpointOf(url: string, resolve: string | undefined): Endpoint {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UserError(`--url ${url}: give https://NAME[:PORT]`);
  }
  if (u.protocol !== 'https:' || (u.pathname !== '/' && u.pathname !== '')) throw new UserError(`--url ${url}: give https://NAME[:PORT], without a path`);
  return { name: u.hostname, port: Number(u.port || 443), ...(resolve ? { address: resolve } : {}) };
}

/** The password of `user` as the engine keeps it in the vault. */
export function credentialsFrom(vault: VaultFile, engine: string, given: string | undefined): Credentials {
  const users = engine === 'harbor' ? [] : vault.keys().filter((k) => k.startsWith('registry_users.')).map((k) => k.slice('registry_users.'.length)).sort();
  const hasAdmin = users.includes('admin') || Boolean(vault.get(engine === 'harbor' ? 'harbor_admin_password' : 'registry_admin_password'));
  const user = given ?? (hasAdmin || users.length === 0 ? 'admin' : users[0]!);
  const keys =
    engine === 'harbor' ? [user === 'admin' ? 'harbor_admin_password' : `harbor_users.${user}`] : [`registry_users.${user}`, ...(user === 'admin' ? ['registry_admin_password'] : [])];
  for (const key of keys) {
    const password = vault.get(key);
    if (password) return { user, password, source: `vault key ${key}` };
  }
  throw new UserError(`${vault.path}: no password for ${user} (looked for ${keys.join(', ')}): pass --user, or converge the site first`);
}

/** Runs the smoke test against a deployment; the exit code (0, or 2 when a phase failed). */
export async function smokeDeployment(target: SmokeTarget, out: { stdout: Output; stderr: Output }): Promise<number> {
  let url = target.url;
  let engine = target.engine;
  let address = target.resolve;
  let files = deploymentFiles(undefined, target.files);
  let password = passwordSource(files.passwordFile);
  if (!url || !engine || !address) {
    const file = target.inventoryFile;
    if (!file || !existsSync(file)) throw new UserError(`${file ?? 'no inventory'}: inventory not found: pass -i FILE, or --url and --engine`);
    const bound = await loadBoundInventory(file, target.files);
    ({ files, password } = bound);
    const hosts = selectHosts(bound.inventory, 'registry');
    url ??= `https://${registryPublicName(hosts, file)}`;
    engine ??= String(hosts[0]?.vars.registry_engine ?? 'distribution');
    // Only with the inventory's own name: an address for another URL would be a guess.
    if (!target.url && hosts[0]?.vars.registry_public_address) address ??= String(hosts[0].vars.registry_public_address);
  }
  if (engine !== 'distribution' && engine !== 'harbor') throw new UserError(`--engine ${engine}: use distribution or harbor`);
  const endpoint = endpointOf(url, address);
  const caFile = target.caFile ?? join(files.certsDir, 'ca.crt');
  const caPem = await readIfExists(caFile);
  if (!caPem?.includes('-----BEGIN CERTIFICATE-----')) throw new UserError(`${caFile}: no CA certificate to trust the registry with: pass --ca FILE or --certs-dir DIR`);
  const vault = await VaultFile.open(files.vaultFile, (await password({ required: true }))!);
  if (!/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/.test(target.project)) throw new UserError(`--project ${target.project}: lower-case letters, digits and . _ - only`);
  const sink = target.json ? jsonReporter(out.stdout) : humanReporter(out.stdout, out.stderr, { verbose: false });
  const passed = await runSmoke(
    { endpoint, caPem, caFile, credentials: credentialsFrom(vault, engine, target.user), repository: `${target.project}/smoke`, tag: target.tag },
    sink,
  );
  return passed ? 0 : 2;
}

export async function main(ctx: CommandContext): Promise<number> {
  const { values: v, positionals } = parseFlags({ args: ctx.args, options: SMOKE_FLAGS, allowPositionals: true });
  if (v.help) return void ctx.out.write(SMOKE_USAGE + '\n'), 0;
  if (positionals.length) throw new UserError(`unexpected argument "${positionals[0]}"; see --help`);
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(v.tag)) throw new UserError(`--tag ${v.tag}: letters, digits, _ . - (up to 128)`);
  return smokeDeployment(
    {
      inventoryFile: v.inventory,
      ...(v.url ? { url: v.url } : {}),
      ...(v.resolve ? { resolve: v.resolve } : {}),
      ...(v.engine ? { engine: v.engine } : {}),
      ...(v.ca ? { caFile: v.ca } : {}),
      files: filesFromFlags(v),
      user: v.user,
      project: v.project,
      tag: v.tag,
      json: Boolean(v.json),
    },
    { stdout: ctx.out, stderr: ctx.err },
  );
}
