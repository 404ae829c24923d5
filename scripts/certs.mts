#!/usr/bin/env zx
// The deployment's CA and registry certificate: make, renew, inspect, and trust them.
import { existsSync } from 'node:fs';
import { parseFlags, runMain, scriptArgs } from '../lib/cli.ts';
import { UserError } from '../lib/errors.ts';
import { filesFromFlags, type DeploymentFiles } from '../lib/inventory/binding.ts';
import { bindOptionalInventory, type PasswordSource } from '../lib/inventory/vaulted.ts';
import type { Inventory } from '../lib/inventory/types.ts';
import { PROJECT_ROOT } from '../lib/compiled.ts';
import { selectHosts } from '../lib/inventory/limit.ts';
import { sshTargetOf } from '../lib/inventory/target.ts';
import type { Host } from '../lib/inventory/types.ts';
import {
  certPath,
  chainsTo,
  DOCKER_CERTS_DIR,
  dockerCaPath,
  ensurePki,
  readCert,
  readIfExists,
  summarize,
  trustCaLocally,
  trustCaOnHost,
  wantedSans,
  registryPublicName,
  type Ensured,
} from '../lib/pki/index.ts';
import { redact } from '../lib/secret.ts';
import { ConnectionPool } from '../lib/transport/pool.ts';
import { VaultFile } from '../lib/vault/index.ts';
import { join } from 'node:path';

const USAGE = `usage: npx zx scripts/certs.mts ca|issue|show|trust [options]
  ca                   create the CA, or renew it when it expires soon
  issue                make sure the CA and the registry certificate exist and are current
  show                 subject, SANs, validity, fingerprints and chain status of both
  trust --local        install the CA as /etc/docker/certs.d/<registry name>/ca.crt here
  trust --host H       the same on inventory hosts matching H
options:
  -i FILE                    inventory (default: this project's inventory/lab.yaml); it names the
                             deployment's vault, password file and certificates directory
  --vault FILE               vault holding the private keys (default: the inventory's harbormaster_vault,
                             else vault/secrets.yaml in this project); made when missing only if named here
  --vault-password-file F    vault password file (else the inventory's, else $HARBORMASTER_VAULT_PASSWORD_FILE,
                             else a prompt)
  --certs-dir DIR            public certificates (default: the inventory's harbormaster_certs_dir, else certs)
  --days N                   validity of what ca (default 1826) or issue (default and max 397) makes
  --renew-before DAYS        renew what expires within DAYS (default 30)
  --name NAME                registry public name when the inventory sets no registry_public_name
  --docker-certs-dir DIR     base for trust (default ${DOCKER_CERTS_DIR})`;

const REGISTRY_GROUP = 'registry';

const say = (line: string): void => void process.stdout.write(redact(line) + '\n');

const OPTIONS = {
  inventory: { type: 'string', short: 'i', default: join(PROJECT_ROOT, 'inventory/lab.yaml') },
  vault: { type: 'string' },
  'vault-password-file': { type: 'string' },
  'certs-dir': { type: 'string' },
  days: { type: 'string' },
  'renew-before': { type: 'string' },
  name: { type: 'string' },
  local: { type: 'boolean' },
  host: { type: 'string' },
  'docker-certs-dir': { type: 'string', default: DOCKER_CERTS_DIR },
  help: { type: 'boolean', short: 'h' },
} as const;


function parse() {
  return parseFlags({ args: scriptArgs(import.meta.url), options: OPTIONS, allowPositionals: true });
}
let flags: ReturnType<typeof parse>['values'];

function days(name: 'days' | 'renew-before'): number | undefined {
  const v = flags[name];
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UserError(`--${name} must be a whole number of days, got "${v}"`);
  return Number(v);
}

/** One password for the vault and the inventory's `!vault` values, asked for once, when first needed. */
let password: PasswordSource;
/** The inventory (when it exists) and the deployment files it names, under the flags. */
let inventory: Inventory | undefined;
let files: DeploymentFiles;

async function bind(): Promise<void> {
  ({ inventory, files, password } = await bindOptionalInventory(flags.inventory, filesFromFlags(flags)));
}

function registryHosts(): Host[] {
  if (!inventory) throw new UserError(`${flags.inventory}: inventory not found: bring the lab up or pass -i FILE`);
  return selectHosts(inventory, REGISTRY_GROUP); // fails naming the pattern when the group is empty
}

const publicNameOf = (hosts: Host[]): string => registryPublicName(hosts, flags.inventory, flags.name);

/** The public name without needing an inventory when --name is given and no inventory exists. */
function publicName(): string {
  if (flags.name && !inventory) return flags.name;
  return publicNameOf(registryHosts());
}

/** A missing vault is made only when --vault names it: never for a default nobody chose. */
async function openVault(): Promise<VaultFile> {
  const file = files.vaultFile;
  const creating = !existsSync(file);
  if (creating && flags.vault === undefined) {
    throw new UserError(`vault ${file} does not exist: create it with npx zx scripts/vault.mts create ${file}, or pass --vault FILE`);
  }
  return VaultFile.open(file, (await password({ confirm: creating, required: true }))!, { create: true });
}

function report(what: string, file: string, result: Ensured): void {
  const verb = !result.changed ? 'kept' : result.reason === 'missing' ? 'created' : 'renewed';
  say(`${what}: ${verb} ${file} (${result.reason})`);
}

/** Under the vault's lock: two makers of a missing CA agree on one. */
async function converge(withServer: boolean): Promise<void> {
  const vault = await openVault();
  const hosts = withServer ? registryHosts() : undefined;
  const name = hosts ? publicNameOf(hosts) : publicName();
  const dir = files.certsDir;
  const result = await vault.locked(() => ensurePki({
    vault,
    certsDir: dir,
    publicName: name,
    sans: hosts && wantedSans(hosts, name),
    caDays: withServer ? undefined : days('days'),
    days: withServer ? days('days') : undefined,
    renewBefore: days('renew-before'),
  }));
  report('ca', certPath(dir, 'ca'), result.ca);
  if (result.server) report('server', certPath(dir, 'server'), result.server);
  if (result.ca.changed && result.ca.reason !== 'missing') {
    if (!withServer) say('note: the CA changed: run `npx zx scripts/certs.mts issue` to reissue the server certificate');
    say('note: the CA changed: clients must trust the new one: `npx zx scripts/certs.mts trust --local` (or --host H)');
  }
}

async function show(): Promise<number> {
  const dir = files.certsDir;
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

async function trust(): Promise<number> {
  const caFile = certPath(files.certsDir, 'ca');
  const caPem = await readIfExists(caFile);
  if (!caPem || !readCert(caPem)) throw new UserError(`${caFile}: no CA certificate: run npx zx scripts/certs.mts issue first`);
  if (flags.local) {
    const base = flags['docker-certs-dir'];
    const name = publicName();
    const changed = await trustCaLocally(caPem, name, base);
    say(`trust: ${changed ? 'installed' : 'already installed'} ${caFile} as ${dockerCaPath(name, base)}`);
    return 0;
  }
  const pattern = flags.host;
  if (!pattern) throw new UserError('trust needs --local or --host H');
  const name = publicNameOf(registryHosts());
  const inv = inventory!;
  const base = flags['docker-certs-dir'];
  const pool = new ConnectionPool({}, (warning) => process.stderr.write(redact(`warning: ${warning}`) + '\n'));
  try {
    const outcomes = await Promise.allSettled(
      selectHosts(inv, pattern).map(async (host) => {
        try {
          const changed = await trustCaOnHost(pool.get(sshTargetOf(inv, host)), caPem, name, base);
          say(`trust: ${host.name}: ${changed ? 'installed' : 'already installed'} ${dockerCaPath(name, base)}`);
        } catch (err) {
          const message = String((err as Error).message ?? err);
          process.stderr.write(redact(`certs: ${message.startsWith(`${host.name}:`) ? message : `${host.name}: ${message}`}`) + '\n');
          throw err;
        }
      }),
    );
    return outcomes.some((o) => o.status === 'rejected') ? 1 : 0;
  } finally {
    pool.close();
  }
}

await runMain('certs', async () => {
  const parsed = parse();
  flags = parsed.values;
  const [command, ...extra] = parsed.positionals;
  if (flags.help) return void say(USAGE);
  await bind();
  if (extra.length) throw new UserError(`unexpected argument ${extra[0]}; see --help`);
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
