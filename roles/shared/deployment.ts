// What the bastion, proxy and registry roles need from outside the inventory: PKI material and
// secrets from the vault, handed to the run as extra vars.
import { randomBytes } from 'node:crypto';
import { S3_ACCESS_KEY, S3_SECRET_KEY } from '../../lib/cloud/aws/vault-keys.ts';
import { UserError } from '../../lib/errors.ts';
import { newUserPassword } from '../../lib/harbor/password.ts';
import type { Vars } from '../../lib/inventory/types.ts';
import { selectHosts } from '../../lib/inventory/limit.ts';
import { certFingerprint, certPath, ensurePki, ensureServiceCert, hostSans, loadPki, loadServiceCert, readCert, readIfExists, registryPublicName, sansOf, wantedSans, type PkiVault } from '../../lib/pki/index.ts';
import type { PrepareContext } from '../../lib/run/types.ts';
import { isSecret, Secret } from '../../lib/secret.ts';
import { CA_RECORD, TLS_CA } from './tls.ts';
import { groupHosts, GROUPS } from './topology.ts';

/** The slice of lib/vault's VaultFile these roles use. */
export interface DeploymentVault extends PkiVault {
  keys(): string[];
}

const USERS_KEY = 'registry_users';
const ADMIN_PASSWORD_KEY = 'registry_admin_password';
const HTTP_SECRET_KEY = 'registry_http_secret';
/**
 * Harbor's first admin password and its database password (registry_engine harbor; roles/postgres
 * gives the db host's Harbor user the same one), and the db host's Redis password.
 */
const HARBOR_KEYS = ['harbor_admin_password', 'harbor_db_password', 'redis_password'];
/** The db host's certificate (PostgreSQL's TLS): pki_database_key in the vault, <certs>/database.crt. */
const DB_CERT = 'database';
/** Letters, digits, `_` and `-`: a dot would nest the vault key, a colon would break htpasswd. */
const USER_NAME = /^[A-Za-z0-9_-]+$/;

const randomSecret = (): string => randomBytes(24).toString('base64url');

/** registry_users.<user> entries, plus registry_admin_password as `admin` unless that user is listed. */
function registryUsers(vault: DeploymentVault): Record<string, Secret> {
  const users: Record<string, Secret> = {};
  for (const key of vault.keys().filter((k) => k.startsWith(`${USERS_KEY}.`))) {
    const user = key.slice(USERS_KEY.length + 1);
    if (!USER_NAME.test(user)) {
      throw new UserError(`vault ${key}: registry user names may hold only letters, digits, _ and -`);
    }
    users[user] = vault.get(key)!;
  }
  const admin = vault.get(ADMIN_PASSWORD_KEY);
  if (admin && !users.admin) users.admin = admin;
  return users;
}

/**
 * Secrets the deployment makes up itself when the vault lacks them, saved before they are used:
 * the registry's HTTP secret, when no user exists at all an `admin` password, and Harbor's
 * passwords. Check mode fails only for the first two: Harbor's matter only to the harbor engine,
 * whose steps say what is missing.
 */
export async function ensureGeneratedSecrets(vault: DeploymentVault, check = false): Promise<void> {
  const missing: string[] = [];
  if (!vault.get(HTTP_SECRET_KEY)) missing.push(HTTP_SECRET_KEY);
  if (Object.keys(registryUsers(vault)).length === 0) missing.push(`${USERS_KEY}.admin`);
  if (check && missing.length > 0) throw new UserError(`vault lacks ${missing.join(', ')}: run once without --check to generate them`);
  const harbor = HARBOR_KEYS.filter((k) => !vault.get(k));
  if (check || missing.length + harbor.length === 0) return;
  for (const key of missing) vault.set(key, randomSecret());
  // Harbor's rule (upper, lower, digit) binds its admin password; the others get the same kind.
  for (const key of harbor) vault.set(key, newUserPassword(32).reveal());
  await vault.save();
}

/** Harbor's and Redis's passwords, those the vault holds (all of them after ensureGeneratedSecrets outside check mode). */
function harborSecrets(vault: DeploymentVault): Vars {
  return Object.fromEntries(HARBOR_KEYS.flatMap((k) => (vault.get(k) ? [[k, vault.get(k)!]] : [])));
}

/** The certificate's first DNS name: ensurePki puts the public name there (and in the CN). */
function publicNameOf(certPem: string, certsDir: string): string {
  const name = sansOf(readCert(certPem)!).find((s) => s.type === 'DNS')?.value;
  if (!name) throw new UserError(`${certsDir}/server.crt carries no DNS name: run \`npx zx scripts/certs.mts issue\``);
  return name;
}

/**
 * The extra vars of a site run (bastion, proxy, registry roles): CA, server certificate and key
 * (a Secret), the public name the certificate was issued for, registry users → passwords and the
 * registry's HTTP secret (Secrets). Fills in generated secrets first (see ensureGeneratedSecrets).
 */
export async function deploymentVars(opts: { vault: DeploymentVault; certsDir: string; check?: boolean }): Promise<Vars> {
  const pki = await loadPki(opts);
  const { vault } = opts;
  await ensureGeneratedSecrets(vault, opts.check);
  const db = await loadServiceCert({ vault, certsDir: opts.certsDir, name: DB_CERT });
  return {
    registry_public_name: publicNameOf(pki.certPem, opts.certsDir),
    tls_ca_pem: pki.caPem,
    tls_cert_pem: pki.certPem,
    tls_key_pem: pki.keyPem,
    registry_users: registryUsers(vault),
    registry_http_secret: vault.get(HTTP_SECRET_KEY)!,
    ...harborSecrets(vault),
    ...s3Key(vault),
    ...(db ? { db_tls_cert_pem: db.certPem, db_tls_key_pem: db.keyPem } : {}),
  };
}

/** The S3 user's key, when the AWS phase has put one in the vault (under the registry role's variable names). */
function s3Key(vault: DeploymentVault): Vars {
  const id = vault.get(S3_ACCESS_KEY);
  const secret = vault.get(S3_SECRET_KEY);
  return id && secret ? { [S3_ACCESS_KEY]: id, [S3_SECRET_KEY]: secret } : {};
}

/** A variable a role cannot work without; the error says where it comes from. */
export function need<T = unknown>(vars: Vars, name: string, role: string): T {
  const value = vars[name];
  if (value === undefined || value === null || value === '') {
    throw new UserError(`role ${role}: variable ${name} is not set (the role's prepare, prepareDeployment in roles/shared/deployment.ts, sets it)`);
  }
  return value as T;
}

/** A variable that must hold a Secret (never a plain string that would leak into logs). */
export function needSecret(vars: Vars, name: string, role: string): Secret {
  const value = need(vars, name, role);
  if (!isSecret(value)) throw new UserError(`role ${role}: variable ${name} must come from the vault (a Secret)`);
  return value;
}

/** The fingerprint of the CA each host holds: its record, else (deployed before hosts kept one) the CA itself; hosts never deployed are left out. */
async function hostCas(ctx: PrepareContext): Promise<Map<string, string>> {
  const read = await ctx.read(ctx.hosts, `cat ${CA_RECORD} 2>/dev/null || cat ${TLS_CA} 2>/dev/null || true`);
  const held = new Map<string, string>();
  for (const [host, out] of read) {
    const text = out.trim();
    const fingerprint = text.startsWith('-----BEGIN') ? certFingerprint(text) : /^sha256:[0-9a-f]{64}$/.test(text) ? text : undefined;
    if (fingerprint) held.set(host, fingerprint);
  }
  return held;
}

/**
 * Refuses, naming both fingerprints, a CA other than the one the hosts hold, unless rotating.
 * A CA this run would make (its key gone from the vault, say) has no fingerprint yet: the
 * refusal says why it would be made, so refused runs read alike and nothing is written.
 */
function guardCa(ctx: PrepareContext, held: Map<string, string>, ca: { certPem: string; changed?: boolean; reason?: string }): void {
  const ours = certFingerprint(ca.certPem)!;
  const other = [...held].find(([, f]) => f !== ours);
  if (!other || ctx.rotateCa) return;
  const theirs = ca.changed
    ? `this run would make a new CA (${ca.reason}; ${ctx.certsDir}/ca.crt, vault ${ctx.vaultFile})`
    : `this run's CA is ${ours} (${ctx.certsDir}/ca.crt, vault ${ctx.vaultFile})`;
  throw new UserError(
    `${other[0]} holds CA ${other[1]} but ${theirs}: ` +
      'nothing changed; if this is the deployment\'s vault, pass --rotate-ca to replace the CA on every host',
  );
}

/** A new vault only for a first run on the whole inventory: no host holds a CA yet. */
function mayCreateVault(ctx: PrepareContext, held: Map<string, string>): boolean {
  if (ctx.vaultExists) return false;
  const [deployed] = held;
  if (deployed) {
    throw new UserError(
      `vault ${ctx.vaultFile} does not exist but ${deployed[0]} holds CA ${deployed[1]}: this inventory was deployed with another vault; ` +
        'name it in the inventory (harbormaster_vault) or pass --vault (nothing changed)',
    );
  }
  if (ctx.limit !== undefined) throw new UserError(`vault ${ctx.vaultFile} does not exist: a first run makes it on the whole inventory, without --limit (or create it with npx zx scripts/vault.mts create ${ctx.vaultFile})`);
  if (!ctx.check) ctx.say(`vault: creating ${ctx.vaultFile} (no host of this run has been deployed yet)`);
  return true;
}

/**
 * The `prepare` of the site's roles, once per run on the controller, before any host changes:
 * reads the CA each host holds; makes sure the CA and the server certificate exist and cover
 * the public name and the registry hosts, and with a database group the db host's certificate
 * (saying why when it makes or renews one), refusing a CA other than the hosts' unless
 * --rotate-ca; then hands deploymentVars to every host. Check mode only reads.
 */
export async function prepareDeployment(ctx: PrepareContext): Promise<Vars> {
  const held = await hostCas(ctx);
  const vault = await ctx.vault({ create: mayCreateVault(ctx, held) });
  if (ctx.check) {
    const vars = await deploymentVars({ vault, certsDir: ctx.certsDir, check: true });
    guardCa(ctx, held, { certPem: vars.tls_ca_pem as string });
    return vars;
  }
  const hosts = selectHosts(ctx.inventory, 'registry');
  const publicName = registryPublicName(hosts, ctx.inventory.file);
  const current = await readIfExists(certPath(ctx.certsDir, 'ca'));
  // Rotating to the CA the vault holds when it already differs from the hosts' (renewed, replaced); else to a new one.
  const newCa = ctx.rotateCa && held.size > 0 && [...held.values()].every((f) => current !== undefined && f === certFingerprint(current));
  const result = await ensurePki({
    vault,
    certsDir: ctx.certsDir,
    publicName,
    sans: wantedSans(hosts, publicName),
    newCa,
    approve: (r) => guardCa(ctx, held, r.ca),
  });
  const dbHosts = groupHosts(ctx.inventory, GROUPS.database);
  const db = dbHosts.length ? await ensureServiceCert({ vault, certsDir: ctx.certsDir, name: DB_CERT, sans: hostSans(dbHosts) }) : undefined;
  const parts = [['CA', result.ca], ['server certificate', result.server], ['database certificate', db]] as const;
  for (const [what, r] of parts) {
    if (!r?.changed) continue;
    if (what === 'CA' && ctx.rotateCa) ctx.say(`pki: CA rotated (${newCa ? 'a new one, as --rotate-ca asked' : `the vault's: ${r.reason}`})`);
    else ctx.say(`pki: ${what} ${r.reason === 'missing' ? 'created' : 'renewed'} (${r.reason})`);
  }
  return deploymentVars({ vault, certsDir: ctx.certsDir });
}
