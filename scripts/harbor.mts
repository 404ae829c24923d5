#!/usr/bin/env zx
// Harbor's users, projects and project members over its REST API, as the admin: what operators
// did by hand in the UI (python-harborclient could not even add members). Idempotent, with --check.
import { isIP } from 'node:net';
import { join } from 'node:path';
import { parseFlags, runMain, scriptArgs } from '../lib/cli.ts';
import { UserError } from '../lib/errors.ts';
import {
  ensureMember,
  ensureMemberAbsent,
  ensureProject,
  ensureProjectAbsent,
  ensureUser,
  ensureUserAbsent,
  HarborClient,
  meetsHarborPolicy,
  mustGetProject,
  newUserPassword,
  roleName,
  table,
  type Outcome,
} from '../lib/harbor/index.ts';
import { humanReporter } from '../lib/run/report.ts';
import { runRoles } from '../lib/run/runner.ts';
import type { RunOptions } from '../lib/run/types.ts';
import { HARBOR_ACTIONS, type HarborAction } from '../roles/registry/harbor.ts';
import { harborLifecycleRole } from '../roles/registry/lifecycle.ts';
import { selectHosts } from '../lib/inventory/limit.ts';
import { bindOptionalInventory, type PasswordSource } from '../lib/inventory/vaulted.ts';
import { filesFromFlags, type DeploymentFiles } from '../lib/inventory/binding.ts';
import type { Inventory } from '../lib/inventory/types.ts';
import { PROJECT_ROOT } from '../lib/compiled.ts';
import { readIfExists, registryPublicName } from '../lib/pki/index.ts';
import { redact, type Secret } from '../lib/secret.ts';
import { VaultFile } from '../lib/vault/index.ts';

const USAGE = `usage: npx zx scripts/harbor.mts COMMAND [options]
  info                              Harbor's version, settings and component health
  users                             list users
  user add NAME [--admin] [--email E] [--realname R]
                                    make sure the user exists (and is an admin with --admin); its
                                    password is the vault key harbor_users.NAME, generated and saved
                                    there when absent; email default NAME@<registry name>
  user rm NAME                      make sure the user does not exist
  projects                          list projects
  project add NAME [--public] [--storage-limit BYTES]
                                    make sure the project exists (private unless --public)
  project rm NAME                   make sure the project does not exist
  members PROJECT                   list the project's members and their roles
  member add PROJECT USER [--role R]
                                    make sure USER is a member with role R: projectAdmin, maintainer,
                                    developer (default), guest or limitedGuest
  member rm PROJECT USER            make sure USER is not a member
  status | stop | start | restart | reconfigure
                                    on every registry host over SSH (-i): docker compose ps / stop /
                                    start / both; reconfigure = down, ./prepare, up -d (after editing
                                    harbor.yml by hand); starts wait until /api/v2.0/health is healthy
options:
  -C, --check                  report what would change, change nothing
  --url URL                    Harbor (default https://<registry_public_name> from the inventory)
  -i, --inventory FILE         inventory (default: this project's inventory/lab.yaml); it names the vault,
                               password file and certificates (else vault/secrets.yaml and certs here)
  --ca FILE                    CA to trust for Harbor's certificate (default <certs-dir>/ca.crt)
  --certs-dir DIR              the deployment's public certificates (default: the inventory's harbormaster_certs_dir)
  --vault FILE                 vault with harbor_admin_password and harbor_users.* (default: harbormaster_vault)
  --vault-password-file F      vault password file (else harbormaster_vault_password_file,
                               else $HARBORMASTER_VAULT_PASSWORD_FILE, else a prompt)
  -h, --help                   this help`;

const OPTIONS = {
  check: { type: 'boolean', short: 'C' },
  url: { type: 'string' },
  inventory: { type: 'string', short: 'i', default: join(PROJECT_ROOT, 'inventory/lab.yaml') },
  ca: { type: 'string' },
  'certs-dir': { type: 'string' },
  vault: { type: 'string' },
  'vault-password-file': { type: 'string' },
  admin: { type: 'boolean' },
  email: { type: 'string' },
  realname: { type: 'string' },
  public: { type: 'boolean' },
  'storage-limit': { type: 'string' },
  role: { type: 'string', default: 'developer' },
  help: { type: 'boolean', short: 'h' },
} as const;

function parse() {
  return parseFlags({ args: scriptArgs(import.meta.url), options: OPTIONS, allowPositionals: true });
}
let flags: ReturnType<typeof parse>['values'];
let password: PasswordSource;
/** The inventory (when it exists) and the deployment files it names, under the flags. */
let inventory: Inventory | undefined;
let files: DeploymentFiles;

function needInventory(hint: string): Inventory {
  if (!inventory) throw new UserError(`${flags.inventory}: inventory not found: pass -i FILE${hint}`);
  return inventory;
}

const say = (text: string): void => void process.stdout.write(redact(text) + '\n');

async function harborUrl(): Promise<string> {
  if (flags.url) return flags.url;
  const hosts = selectHosts(needInventory(' or --url https://<registry name>'), 'registry');
  return `https://${registryPublicName(hosts, flags.inventory)}`;
}

async function caPem(): Promise<string> {
  const file = flags.ca ?? join(files.certsDir, 'ca.crt');
  const pem = await readIfExists(file);
  if (!pem?.includes('-----BEGIN CERTIFICATE-----')) {
    throw new UserError(`${file}: no CA certificate to trust Harbor with: pass --ca FILE (or make it with npx zx scripts/certs.mts issue)`);
  }
  return pem;
}

let vault: Promise<VaultFile> | undefined;
function openVault(): Promise<VaultFile> {
  return (vault ??= (async () => VaultFile.open(files.vaultFile, (await password({ required: true }))!))());
}

/** A client logged in as admin: a wrong password fails here, not as an oddly empty list later. */
async function connect(): Promise<HarborClient> {
  // One after the other: the inventory and the vault may both ask for the vault password.
  const url = await harborUrl();
  const ca = await caPem();
  const admin = (await openVault()).require('harbor_admin_password');
  const client = new HarborClient({ url, caPem: ca, password: admin });
  try {
    const me = await client.currentUser();
    if (!me.sysadmin_flag) throw new UserError(`${client.username} is not a Harbor system administrator at ${client.url}`);
  } catch (err) {
    client.close();
    throw err;
  }
  return client;
}

/**
 * The user's password from the vault, made and saved there first when absent (so it is never
 * lost), under the vault's lock: two concurrent `user add` agree on one password, and a
 * concurrent writer of other keys loses nothing.
 */
async function userPassword(name: string): Promise<Secret> {
  const v = await openVault();
  const key = `harbor_users.${name}`;
  const { password, made } = await v.locked(() => {
    const kept = v.get(key);
    if (kept) return { password: kept, made: false };
    const fresh = newUserPassword();
    v.set(key, fresh);
    return { password: fresh, made: true };
  });
  if (made) say(`vault: saved a new password for ${name} as ${key} in ${v.path}`);
  else if (!meetsHarborPolicy(password.reveal())) {
    throw new UserError(`${v.path}: ${key} does not meet Harbor's rule (8+ characters with upper case, lower case and a digit): change it with npx zx scripts/vault.mts set ${v.path} ${key}`);
  }
  return password;
}

function defaultEmail(name: string, client: HarborClient): string {
  const host = new URL(client.url).hostname;
  if (flags.email) return flags.email;
  if (isIP(host) || !host.includes('.')) throw new UserError(`user add ${name}: Harbor needs an email: pass --email`);
  return `${name}@${host}`;
}

function storageLimit(): number | undefined {
  const v = flags['storage-limit'];
  if (v === undefined) return undefined;
  if (!/^(-1|[1-9]\d*)$/.test(v)) throw new UserError(`--storage-limit "${v}": give bytes (a whole number above 0) or -1 for unlimited`);
  return Number(v);
}

const yesNo = (b: boolean | undefined): string => (b ? 'yes' : 'no');
const date = (iso: string | undefined): string => (iso ? iso.slice(0, 10) : '');

function needArgs(args: string[], count: number, usage: string): string[] {
  if (args.length !== count) throw new UserError(`usage: ${usage} (see --help)`);
  return args;
}

async function listing(client: HarborClient, command: string, args: string[]): Promise<void> {
  switch (command) {
    case 'info': {
      needArgs(args, 0, 'info');
      const [info, health] = await Promise.all([client.systeminfo(), client.health()]);
      const rows: [string, unknown][] = [
        ['url', client.url],
        ['version', info.harbor_version],
        ['external url', info.external_url],
        ['auth mode', info.auth_mode],
        ['project creation', info.project_creation_restriction],
        ['self registration', info.self_registration === undefined ? undefined : yesNo(info.self_registration)],
        ['storage', info.registry_storage_provider_name],
        ['read only', info.read_only === undefined ? undefined : yesNo(info.read_only)],
        ['health', health.status],
        ...(health.components ?? []).map((c): [string, unknown] => [`  ${c.name}`, c.error ? `${c.status}: ${c.error}` : c.status]),
      ];
      return say(table(rows.filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => [`${k}:`, String(v)])));
    }
    case 'users': {
      needArgs(args, 0, 'users');
      const users = await client.listUsers();
      return say(table(users.map((u) => [u.username, u.user_id, yesNo(u.sysadmin_flag), u.email, u.realname, date(u.creation_time)]), ['USER', 'ID', 'ADMIN', 'EMAIL', 'REAL NAME', 'CREATED']));
    }
    case 'projects': {
      needArgs(args, 0, 'projects');
      const projects = await client.listProjects();
      return say(table(projects.map((p) => [p.name, p.project_id, yesNo(p.metadata?.public === 'true'), p.owner_name, p.repo_count ?? 0, date(p.creation_time)]), ['PROJECT', 'ID', 'PUBLIC', 'OWNER', 'REPOS', 'CREATED']));
    }
    case 'members': {
      const [project] = needArgs(args, 1, 'members PROJECT');
      await mustGetProject(client, project!);
      const members = await client.listMembers(project!);
      return say(table(members.map((m) => [m.entity_name, m.entity_type === 'g' ? 'group' : 'user', m.role_name ?? roleName(m.role_id), m.id]), ['MEMBER', 'TYPE', 'ROLE', 'ID']));
    }
  }
}

async function change(client: HarborClient, command: string, verb: string | undefined, args: string[]): Promise<Outcome> {
  const check = { check: Boolean(flags.check) };
  switch (`${command} ${verb}`) {
    case 'user add': {
      const [name] = needArgs(args, 1, 'user add NAME');
      return ensureUser(
        client,
        { username: name!, email: defaultEmail(name!, client), realname: flags.realname ?? name!, sysadmin: flags.admin ? true : undefined, password: () => userPassword(name!) },
        check,
      );
    }
    case 'user rm':
      return ensureUserAbsent(client, needArgs(args, 1, 'user rm NAME')[0]!, check);
    case 'project add': {
      const [name] = needArgs(args, 1, 'project add NAME [--public]');
      return ensureProject(client, { name: name!, public: flags.public ? true : undefined, storageLimit: storageLimit() }, check);
    }
    case 'project rm':
      return ensureProjectAbsent(client, needArgs(args, 1, 'project rm NAME')[0]!, check);
    case 'member add': {
      const [project, user] = needArgs(args, 2, 'member add PROJECT USER --role ROLE');
      return ensureMember(client, { project: project!, username: user!, role: flags.role }, check);
    }
    case 'member rm': {
      const [project, user] = needArgs(args, 2, 'member rm PROJECT USER');
      return ensureMemberAbsent(client, project!, user!, check);
    }
    default:
      throw new UserError(`unknown command ${command} ${verb ?? ''}`.trim() + ': see --help');
  }
}

const LISTINGS = ['info', 'users', 'projects', 'members'];
const CHANGES = ['user', 'project', 'member'];
const LIFECYCLE: readonly string[] = HARBOR_ACTIONS;

/** An action on the registry hosts themselves, through the engine (one SSH connection each, the bastion as jump). */
async function lifecycle(action: HarborAction, args: string[]): Promise<number> {
  needArgs(args, 0, action);
  const inv = needInventory('');
  const options: RunOptions = { check: Boolean(flags.check), diff: false, forks: 10, hostKeyChecking: 'strict', verbose: action === 'status' };
  const result = await runRoles(inv, [harborLifecycleRole(action)], options, humanReporter(process.stdout, process.stderr, { verbose: options.verbose }));
  return result.exitCode;
}

await runMain('harbor', async () => {
  const parsed = parse();
  flags = parsed.values;
  if (flags.help) return void say(USAGE);
  ({ inventory, files, password } = await bindOptionalInventory(flags.inventory, filesFromFlags(flags)));
  const [command, ...rest] = parsed.positionals;
  if (!command || ![...LISTINGS, ...CHANGES, ...LIFECYCLE].includes(command)) {
    throw new UserError(`${command ? `unknown command ${command}` : 'no command'}: use ${[...LISTINGS, ...CHANGES, ...LIFECYCLE].join(', ')} (--help)`);
  }
  if (LIFECYCLE.includes(command)) return lifecycle(command as HarborAction, rest);
  if (CHANGES.includes(command) && !['add', 'rm'].includes(rest[0] ?? '')) throw new UserError(`${command} needs add or rm: see --help`);
  const client = await connect();
  try {
    if (LISTINGS.includes(command)) return await listing(client, command, rest);
    const outcome = await change(client, command, rest[0], rest.slice(1));
    say(`${outcome.changed ? 'changed' : 'ok'}: ${outcome.kind} ${outcome.name}${outcome.action === 'ok' ? '' : `: ${outcome.action}`}`);
    say(`recap: changed=${outcome.changed ? 1 : 0} ok=${outcome.changed ? 0 : 1}${flags.check ? ' (check mode: nothing changed)' : ''}`);
  } finally {
    client.close();
  }
});
