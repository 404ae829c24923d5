import { join } from 'node:path';
import { UserError } from '../errors.ts';
import type { Secret } from '../secret.ts';
import { ensureCa, ensureServerCert, type Current, type Ensured } from './ensure.ts';
import { chainsTo, readCert } from './inspect.ts';
import { keyMatchesCert } from './keys.ts';
import type { San } from './sans.ts';
import { readIfExists, writePublicFile } from '../fs.ts';

/**
 * Where each part lives: private keys only in the vault, certificates (public) in the
 * deployment's certs directory. Nothing private touches the controller's disk unencrypted.
 */
const PARTS = {
  ca: { vaultKey: 'pki_ca_key', file: 'ca.crt' },
  server: { vaultKey: 'pki_server_key', file: 'server.crt' },
} as const;
type Part = keyof typeof PARTS;

export const DEFAULT_CERTS_DIR = 'certs';

/** The slice of lib/vault's VaultFile that PKI uses. */
export interface PkiVault {
  get(key: string): Secret | undefined;
  set(key: string, value: string): void;
  save(): Promise<boolean>;
}

export const certPath = (certsDir: string, part: Part): string => join(certsDir, PARTS[part].file);

async function readPart(vault: PkiVault, certsDir: string, part: Part): Promise<Current> {
  return { certPem: await readIfExists(certPath(certsDir, part)), keyPem: vault.get(PARTS[part].vaultKey) };
}

export interface EnsurePkiOptions {
  vault: PkiVault;
  certsDir: string;
  /** The registry's public DNS name; names the CA. */
  publicName: string;
  /** Wanted server SANs (see wantedSans); omit to look after the CA only. */
  sans?: San[];
  caDays?: number;
  days?: number;
  renewBefore?: number;
  now?: Date;
  /** Make a new CA even when the current one is fine (a rotation asked for). */
  newCa?: boolean;
  /** Sees the outcome before anything is written; throwing leaves vault and certs as they were. */
  approve?: (result: PkiResult) => void;
}

export interface PkiResult {
  ca: Ensured;
  server?: Ensured;
}

/**
 * Converges the deployment's CA and server certificate. A new CA always brings a new server
 * certificate (the old one no longer chains). Keys reach the vault (saved) before certificates
 * reach the certs directory; if a run dies between the two, the next run finds key and
 * certificate mismatched and reissues.
 */
export async function ensurePki(opts: EnsurePkiOptions): Promise<PkiResult> {
  const { vault, certsDir, renewBefore, now } = opts;
  const ca = await ensureCa({
    current: opts.newCa ? undefined : await readPart(vault, certsDir, 'ca'),
    commonName: `${opts.publicName} CA`,
    days: opts.caDays,
    renewBefore,
    now,
  });
  const server = opts.sans
    ? await ensureServerCert({ current: await readPart(vault, certsDir, 'server'), ca, sans: opts.sans, days: opts.days, renewBefore, now })
    : undefined;
  opts.approve?.({ ca, server });
  const changed: [Part, Ensured][] = [];
  if (ca.changed) changed.push(['ca', ca]);
  if (server?.changed) changed.push(['server', server]);
  if (changed.length === 0) return { ca, server };
  for (const [part, pair] of changed) vault.set(PARTS[part].vaultKey, pair.keyPem.reveal());
  await vault.save();
  for (const [part, pair] of changed) await writePublicFile(certPath(certsDir, part), pair.certPem);
  return { ca, server };
}

export interface LoadedPki {
  caPem: string;
  certPem: string;
  keyPem: Secret;
}

/**
 * The CA and server certificate plus the server key, for roles to deploy (certificate 0644,
 * key 0600, directory 0700). Fails with what to run when any part is missing or mismatched.
 */
export async function loadPki(opts: { vault: PkiVault; certsDir: string }): Promise<LoadedPki> {
  const fix = 'run `npx zx scripts/certs.mts issue`';
  const caPem = await readIfExists(certPath(opts.certsDir, 'ca'));
  const { certPem, keyPem } = await readPart(opts.vault, opts.certsDir, 'server');
  if (!caPem) throw new UserError(`${certPath(opts.certsDir, 'ca')} is missing: ${fix}`);
  if (!certPem) throw new UserError(`${certPath(opts.certsDir, 'server')} is missing: ${fix}`);
  if (!keyPem) throw new UserError(`the vault has no ${PARTS.server.vaultKey}: ${fix}`);
  const cert = readCert(certPem);
  const ca = readCert(caPem);
  if (!cert || !keyMatchesCert(keyPem, cert)) {
    throw new UserError(`${certPath(opts.certsDir, 'server')} does not match ${PARTS.server.vaultKey} in the vault: ${fix}`);
  }
  if (!ca || !chainsTo(cert, ca)) {
    throw new UserError(`${certPath(opts.certsDir, 'server')} is not signed by ${certPath(opts.certsDir, 'ca')}: ${fix}`);
  }
  return { caPem, certPem, keyPem };
}

/**
 * A further server certificate from the deployment's CA, for a service other than the registry
 * (e.g. `database`): its key in the vault as `pki_<name>_key`, the certificate in
 * `<certsDir>/<name>.crt`. Kept while it chains to the CA, carries `sans` and is not near expiry;
 * the key is saved before the certificate is written, as in ensurePki.
 */
export async function ensureServiceCert(opts: { vault: PkiVault; certsDir: string; name: string; sans: San[]; now?: Date }): Promise<Ensured> {
  const { vault, certsDir, name } = opts;
  const caPem = await readIfExists(certPath(certsDir, 'ca'));
  const caKey = vault.get(PARTS.ca.vaultKey);
  if (!caPem || !caKey) throw new UserError(`the deployment's CA is missing (${certPath(certsDir, 'ca')}, ${PARTS.ca.vaultKey}): run \`npx zx scripts/certs.mts ca\``);
  const current = { certPem: await readIfExists(serviceCertPath(certsDir, name)), keyPem: vault.get(serviceKeyName(name)) };
  const ensured = await ensureServerCert({ current, ca: { certPem: caPem, keyPem: caKey }, sans: opts.sans, now: opts.now });
  if (!ensured.changed) return ensured;
  vault.set(serviceKeyName(name), ensured.keyPem.reveal());
  await vault.save();
  await writePublicFile(serviceCertPath(certsDir, name), ensured.certPem);
  return ensured;
}

/** The certificate and key ensureServiceCert made for `name`, or null when there is none yet. */
export async function loadServiceCert(opts: { vault: PkiVault; certsDir: string; name: string }): Promise<{ certPem: string; keyPem: Secret } | null> {
  const certPem = await readIfExists(serviceCertPath(opts.certsDir, opts.name));
  const keyPem = opts.vault.get(serviceKeyName(opts.name));
  return certPem && keyPem ? { certPem, keyPem } : null;
}

const serviceKeyName = (name: string) => `pki_${name}_key`;
export const serviceCertPath = (certsDir: string, name: string): string => join(certsDir, `${name}.crt`);
