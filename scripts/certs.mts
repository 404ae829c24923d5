#!/usr/bin/env zx
// The deployment's CA and registry certificate: make, renew, inspect, and trust them.
import { existsSync } from 'node:fs';
import { argv } from 'zx';
import { runMain } from '../lib/cli.ts';
import { UserError } from '../lib/errors.ts';
import { loadInventory } from '../lib/inventory/index.ts';
import { selectHosts } from '../lib/inventory/limit.ts';
import type { Host } from '../lib/inventory/types.ts';
import {
  certPath,
  chainsTo,
  DEFAULT_CERTS_DIR,
  DOCKER_CERTS_DIR,
  ensurePki,
  readCert,
  readIfExists,
  summarize,
  trustCaLocally,
  wantedSans,
  type Ensured,
} from '../lib/pki/index.ts';
import { redact } from '../lib/secret.ts';
import type { Secret } from '../lib/secret.ts';
import { DEFAULT_VAULT_FILE, resolveVaultPassword, VaultFile, vaultDecryptor } from '../lib/vault/index.ts';

const USAGE = `usage: npx zx scripts/certs.mts ca|issue|show|trust [options]
  ca                   create the CA, or renew it when it expires soon
  issue                make sure the CA and the registry certificate exist and are current
  show                 subject, SANs, validity, fingerprints and chain status of both
  trust --local        install the CA as /etc/docker/certs.d/<registry name>/ca.crt here
  trust --host H       the same on inventory hosts matching H
options:
  -i FILE                    inventory (default inventory/lab.yaml)
  --vault FILE               vault holding the private keys (default ${DEFAULT_VAULT_FILE})
  --vault-password-file F    vault password file (else $HARBORMASTER_VAULT_PASSWORD_FILE, else a prompt)
  --certs-dir DIR            public certificates (default certs)
  --days N                   validity of what ca (default 1826) or issue (default and max 397) makes
  --renew-before DAYS        renew what expires within DAYS (default 30)
  --name NAME                registry public name when the inventory sets no registry_public_name
  --docker-certs-dir DIR     base for trust --local (default ${DOCKER_CERTS_DIR})`;

const REGISTRY_GROUP = 'registry';

const say = (line: string): void => void process.stdout.write(redact(line) + '\n');

function text(name: string): string | undefined {
  const v = argv[name];
  if (v === undefined || v === false) return undefined;
  if (v === true || Array.isArray(v)) throw new UserError(`--${name} needs one value`);
  return String(v);
}

function days(name: string): number | undefined {
  const v = text(name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UserError(`--${name} must be a whole number of days, got "${v}"`);
  return Number(v);
}

const inventoryFile = (): string => text('i') ?? text('inventory') ?? 'inventory/lab.yaml';
const certsDir = (): string => text('certs-dir') ?? DEFAULT_CERTS_DIR;

/** Set once the vault is open, so inventory `!vault` values can be decrypted with the same password. */
let vaultPassword: Secret | undefined;

async function registryHosts(): Promise<Host[]> {
  const file = inventoryFile();
  if (!existsSync(file)) throw new UserError(`${file}: inventory not found: bring the lab up or pass -i FILE`);
  const inventory = await loadInventory(file, { decrypt: vaultPassword && vaultDecryptor(vaultPassword) });
  return selectHosts(inventory, REGISTRY_GROUP); // fails naming the pattern when the group is empty
}

/** registry_public_name from the registry hosts, else --name; both given and different is an error. */
function publicNameOf(hosts: Host[]): string {
  const flag = text('name');
  const fromInventory = [...new Set(hosts.map((h) => h.vars.registry_public_name).filter((v) => v !== undefined).map(String))];
  if (fromInventory.length > 1) {
    throw new UserError(`${inventoryFile()}: registry hosts disagree on registry_public_name (${fromInventory.join(', ')})`);
  }
  const [name] = fromInventory;
  if (name && flag && flag !== name) {
    throw new UserError(`${inventoryFile()} sets registry_public_name ${name} but --name says ${flag}: drop one`);
  }
  const chosen = name ?? flag;
  if (!chosen) throw new UserError(`${inventoryFile()}: no registry_public_name for the registry hosts: set it or pass --name`);
  return chosen;
}

/** The public name without needing an inventory when --name is given and no inventory exists. */
async function publicName(): Promise<string> {
  if (text('name') && !existsSync(inventoryFile())) return text('name')!;
  return publicNameOf(await registryHosts());
}

async function openVault(): Promise<VaultFile> {
  const file = text('vault') ?? DEFAULT_VAULT_FILE;
  const creating = !existsSync(file);
  vaultPassword = await resolveVaultPassword({ file: text('vault-password-file'), confirm: creating, required: true });
  return VaultFile.open(file, vaultPassword!, { create: true });
}

function report(what: string, file: string, result: Ensured): void {
  const verb = !result.changed ? 'kept' : result.reason === 'missing' ? 'created' : 'renewed';
  say(`${what}: ${verb} ${file} (${result.reason})`);
}

async function converge(withServer: boolean): Promise<void> {
  const vault = await openVault();
  const hosts = withServer ? await registryHosts() : undefined;
  const name = hosts ? publicNameOf(hosts) : await publicName();
  const dir = certsDir();
  const result = await ensurePki({
    vault,
    certsDir: dir,
    publicName: name,
    sans: hosts && wantedSans(hosts, name),
    caDays: withServer ? undefined : days('days'),
    days: withServer ? days('days') : undefined,
    renewBefore: days('renew-before'),
  });
  report('ca', certPath(dir, 'ca'), result.ca);
  if (result.server) report('server', certPath(dir, 'server'), result.server);
  if (result.ca.changed && result.ca.reason !== 'missing') {
    say(`note: the CA changed; clients must trust the new one: npx zx scripts/certs.mts trust --local (or --host H)`);
  }
}

async function show(): Promise<number> {
  const dir = certsDir();
  const now = new Date();
  const caPem = await readIfExists(certPath(dir, 'ca'));
  const ca = caPem ? readCert(caPem) : undefined;
  let failures = 0;
  for (const part of ['ca', 'server'] as const) {
    const file = certPath(dir, part);
    const pem = part === 'ca' ? caPem : await readIfExists(file);
    if (!pem) {
      say(`${file}: missing`);
      failures++;
      continue;
    }
    const cert = readCert(pem);
    if (!cert) throw new UserError(`${file}: not a PEM certificate`);
    const s = summarize(cert, now);
    const issues = [
      !ca ? `cannot verify: ${certPath(dir, 'ca')} missing or unreadable` : !chainsTo(cert, ca) ? `not signed by ${certPath(dir, 'ca')}` : undefined,
      s.daysLeft < 0 ? 'expired' : s.notBefore > now ? 'not yet valid' : undefined,
      part === 'ca' && !s.isCa ? 'not a CA certificate' : undefined,
    ].filter((i) => i !== undefined);
    if (issues.length) failures++;
    say(file);
    say(`  subject:    ${s.subject}`);
    say(`  issuer:     ${s.issuer}`);
    if (s.sans.length) say(`  SANs:       ${s.sans.join(', ')}`);
    say(`  serial:     ${s.serial}`);
    say(`  not before: ${s.notBefore.toISOString()}`);
    say(`  not after:  ${s.notAfter.toISOString()} (${s.daysLeft} days left)`);
    say(`  sha256:     ${s.sha256}`);
    say(`  chain:      ${issues.length ? `FAILED: ${issues.join('; ')}` : part === 'ca' ? 'ok (self-signed CA)' : `ok (verified against ${certPath(dir, 'ca')})`}`);
  }
  return failures ? 1 : 0;
}

async function trust(): Promise<void> {
  const caFile = certPath(certsDir(), 'ca');
  const caPem = await readIfExists(caFile);
  if (!caPem || !readCert(caPem)) throw new UserError(`${caFile}: no CA certificate: run npx zx scripts/certs.mts issue first`);
  if (argv.local) {
    const base = text('docker-certs-dir') ?? DOCKER_CERTS_DIR;
    const name = await publicName();
    const changed = await trustCaLocally(caPem, name, base);
    say(`trust: ${changed ? 'installed' : 'already installed'} ${caFile} as ${base}/${name}/ca.crt`);
    return;
  }
  if (text('host')) {
    throw new UserError('trust --host is not built yet (it needs the engine transport); use trust --local on each client');
  }
  throw new UserError('trust needs --local or --host H');
}

await runMain('certs', async () => {
  const [command, ...extra] = argv._.map(String);
  if (argv.help || argv.h) return void say(USAGE);
  if (extra.length) throw new UserError(`unexpected argument ${extra[0]}\n${USAGE}`);
  switch (command) {
    case 'ca':
      return converge(false);
    case 'issue':
      return converge(true);
    case 'show':
      return show();
    case 'trust':
      return trust();
    default:
      throw new UserError(`${command ? `unknown command ${command}` : 'no command'}: use ca, issue, show or trust (--help)`);
  }
});
