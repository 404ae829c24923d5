import { existsSync, readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { dirname, join, resolve } from 'node:path';
import { parseFlags } from '../cli.ts';
import { importUrl, PROJECT_ROOT } from '../compiled.ts';
import { UserError } from '../errors.ts';
import { loadBoundInventory, type PasswordSource } from '../inventory/vaulted.ts';
import { acquireLock, lockFileOf, type Holder, type Lock } from '../lock/index.ts';
import { prepareRoles } from './prepare.ts';
import { splitPattern } from '../inventory/limit.ts';
import type { HostKeyChecking } from '../transport/connection.ts';
import { VaultFile } from '../vault/index.ts';
import { ConnectionPool } from '../transport/pool.ts';
import { parseVaultIdFlag } from '../vault/password.ts';
import { CONNECTION_TYPES, type ConnectionType } from './connect.ts';
import { trapInterrupts } from './interrupt.ts';
import { listSteps } from './list.ts';
import { humanReporter, jsonReporter } from './report.ts';
import { limitedHosts, roleHosts, runPool, runRoles } from './runner.ts';
import type { Role, RunOptions } from './types.ts';
import type { Vars } from '../inventory/types.ts';

export const RUN_FLAGS_HELP = `  -i, --inventory FILE        inventory (Ansible YAML or INI)
  -l, --limit PATTERN         only these hosts (Ansible host patterns)
  -C, --check                 report what would change, change nothing
  -D, --diff                  show unified diffs of changed files (sensitive ones redacted)
  -t, --tags T1,T2            only steps with one of these tags (a role's name is a tag of its steps)
      --skip-tags T1,T2       leave out steps with any of these tags
  -f, --forks N               hosts worked on at once (default 10)
      --serial N              each role on N hosts at a time, batch after batch (over a role's own serial)
      --list-steps            list the steps each role would run, and exit
      --start-at STEP         start at the step with this name (* wildcards)
      --json                  one JSON event per line instead of text
      --host-key-checking M   strict (default) | accept-new (record unknown keys) | off (warns)
      --known-hosts FILE      known_hosts to use for every host
  -c, --connection TYPE       ssh | local (this machine) for every host, over ansible_connection
      --vault-password-file F vault password file (else the inventory's harbormaster_vault_password_file, else
                              $HARBORMASTER_VAULT_PASSWORD_FILE, else a prompt; asked only when needed)
      --vault-id ID@FILE      the same, as Ansible writes it
      --vault FILE            the deployment's vault of secrets (default: the inventory's harbormaster_vault,
                              else vault/secrets.yaml in this project)
      --certs-dir DIR         the deployment's public certificates (default: harbormaster_certs_dir, else certs)
      --rotate-ca             replace the CA the hosts hold (a new one, unless the vault's already differs)
  -e, --extra-vars VARS       variables over all others: "k=v k2=v2" (strings) or @FILE (YAML); repeatable
  -v, --verbose               show the output of changed steps
  -h, --help                  this help`;

const OPTIONS = {
  inventory: { type: 'string', short: 'i' },
  limit: { type: 'string', short: 'l' },
  check: { type: 'boolean', short: 'C' },
  diff: { type: 'boolean', short: 'D' },
  tags: { type: 'string', short: 't' },
  'skip-tags': { type: 'string' },
  forks: { type: 'string', short: 'f' },
  serial: { type: 'string' },
  'list-steps': { type: 'boolean' },
  'start-at': { type: 'string' },
  json: { type: 'boolean' },
  'host-key-checking': { type: 'string' },
  'known-hosts': { type: 'string' },
  connection: { type: 'string', short: 'c' },
  'vault-password-file': { type: 'string' },
  'vault-id': { type: 'string' },
  vault: { type: 'string' },
  'certs-dir': { type: 'string' },
  'rotate-ca': { type: 'boolean' },
  'extra-vars': { type: 'string', short: 'e', multiple: true },
  verbose: { type: 'boolean', short: 'v' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Ansible's -e: `k=v k2=v2` pairs (string values) or `@file` (a YAML mapping). */
function extraVars(given: string[] = []): Vars | undefined {
  if (given.length === 0) return undefined;
  const vars: Vars = {};
  for (const arg of given) {
    if (arg.startsWith('@')) {
      const file = arg.slice(1);
      let parsed: unknown;
      try {
        parsed = parseYaml(readFileSync(file, 'utf8'));
      } catch (err) {
        throw new UserError(`-e ${arg}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message.split('\n')[0]}`);
      }
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new UserError(`-e ${arg}: must hold a YAML mapping of variables`);
      Object.assign(vars, parsed);
      continue;
    }
    for (const pair of arg.trim().split(/\s+/)) {
      const eq = pair.indexOf('=');
      if (eq < 1) throw new UserError(`-e "${pair}": give name=value (or @FILE)`);
      vars[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
  }
  return vars;
}

export interface RunCommand {
  inventory?: string;
  /** Positional arguments (role names for role.mts). */
  positionals: string[];
  options: RunOptions;
  listSteps: boolean;
  json: boolean;
  vaultPasswordFile?: string;
  /** Default vault/secrets.yaml. */
  vaultFile?: string;
  /** Default certs. */
  certsDir?: string;
  /** --rotate-ca */
  rotateCa: boolean;
  help: boolean;
}

/**
 * A comma list of tags. Empty entries or odd characters are refused: `-t ' , '` must not mean
 * "every step", nor `--skip-tags ' , '` "skip nothing".
 */
function tagList(flag: string, v: string | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  const tags = v.split(',').map((s) => s.trim());
  const bad = tags.find((tag) => !/^[\w.-]+$/.test(tag));
  if (bad !== undefined) {
    throw new UserError(`${flag} '${v}': ${bad ? `'${bad}' is not a tag name` : 'has an empty entry'} (give tag names separated by commas: letters, digits, _ . -)`);
  }
  return tags;
}

/** The FILE of `--vault-id ID@FILE` (the id names the vault; one password serves a run). */
function passwordFileOf(flag: string | undefined, alsoFile: boolean): string | undefined {
  if (flag === undefined) return undefined;
  const { source } = parseVaultIdFlag(flag);
  if (source && alsoFile) throw new UserError('give the password with --vault-id ID@FILE or --vault-password-file, not both');
  if (source && 'prompt' in source) return undefined; // the usual sources: $HARBORMASTER_VAULT_PASSWORD_FILE, else a prompt
  return source?.file;
}

/** Parses the flags role.mts and site.mts share. Unknown flags are errors. */
export function parseRunArgs(args: string[]): RunCommand {
  const parsed = parseFlags({ args, options: OPTIONS, allowPositionals: true, strict: true });
  const v = parsed.values;
  const forks = v.forks === undefined ? 10 : Number(v.forks);
  if (!Number.isInteger(forks) || forks < 1) throw new UserError(`--forks "${v.forks}": give a whole number of at least 1`);
  const serial = v.serial === undefined ? undefined : Number(v.serial);
  if (serial !== undefined && (!/^\d+$/.test(v.serial!) || serial < 1)) throw new UserError(`--serial "${v.serial}": give a whole number of at least 1`);
  if (v.limit !== undefined) splitPattern(v.limit); // runners treat '' as no limit: refuse it here
  const fromVaultId = passwordFileOf(v['vault-id'], v['vault-password-file'] !== undefined);
  const hkc = (v['host-key-checking'] ?? 'strict') as HostKeyChecking;
  if (!['strict', 'accept-new', 'off'].includes(hkc)) {
    throw new UserError(`--host-key-checking "${hkc}": use strict, accept-new or off`);
  }
  const connection = v.connection as ConnectionType | undefined;
  if (connection !== undefined && !CONNECTION_TYPES.includes(connection)) {
    throw new UserError(`--connection "${connection}": use ${CONNECTION_TYPES.join(' or ')}`);
  }
  return {
    inventory: v.inventory,
    positionals: parsed.positionals,
    listSteps: Boolean(v['list-steps']),
    json: Boolean(v.json),
    vaultPasswordFile: v['vault-password-file'] ?? fromVaultId,
    vaultFile: v.vault,
    certsDir: v['certs-dir'],
    rotateCa: Boolean(v['rotate-ca']),
    help: Boolean(v.help),
    options: {
      check: Boolean(v.check),
      diff: Boolean(v.diff),
      tags: tagList('--tags', v.tags),
      skipTags: tagList('--skip-tags', v['skip-tags']),
      startAt: v['start-at'],
      forks,
      ...(serial !== undefined ? { serial } : {}),
      limit: v.limit,
      hostKeyChecking: hkc,
      knownHostsFile: v['known-hosts'] ? resolve(v['known-hosts']) : undefined,
      ...(connection ? { connection } : {}),
      verbose: Boolean(v.verbose),
      extraVars: extraVars(v['extra-vars']),
    },
  };
}

/** The deployment's vault; made (its new password asked twice) on first use, unless only checking. */
export async function openDeploymentVault(vaultFile: string, password: PasswordSource, check: boolean): Promise<VaultFile> {
  const exists = existsSync(vaultFile);
  if (!exists && check) throw new UserError(`vault ${vaultFile} does not exist yet: run once without --check to create it`);
  const secret = await password({ confirm: !exists, required: true });
  return VaultFile.open(vaultFile, secret!, { create: true });
}

/** One run per inventory: a second is refused naming the first (a check changes nothing and takes none). */
export function lockRun(inventoryFile: string): Promise<Lock> {
  return acquireLock(lockFileOf(resolve(inventoryFile)), { what: `inventory ${inventoryFile}`, waitSeconds: 0 });
}

/**
 * roles/<name>/index.ts under the current directory, else this project's; its default export is
 * the Role. Unless the role says otherwise, its templates are in templates/<name> beside roles/.
 */
export async function loadRole(name: string): Promise<Role> {
  if (!/^[a-z0-9][a-z0-9_-]*$/i.test(name)) throw new UserError(`role name "${name}" is not valid`);
  const places = [...new Set([resolve('roles'), join(PROJECT_ROOT, 'roles')])];
  const file = places.map((dir) => join(dir, name, 'index.ts')).find((f) => existsSync(f));
  if (!file) {
    const tried = places.map((dir) => join(dir, name, 'index.ts'));
    throw new UserError(`role ${name}: ${tried.length > 1 ? `neither ${tried.join(' nor ')} exists` : `${tried[0]} not found`}`);
  }
  const mod = (await import(importUrl(file))) as { default?: Role };
  const role = mod.default;
  if (!role || typeof role.steps !== 'function') throw new UserError(`role ${name}: ${file} must export default a role`);
  return { ...role, templateDir: role.templateDir ?? join(dirname(dirname(dirname(file))), 'templates', role.name) };
}

export interface RunCommandOptions {
  /** Shared with what ran before (the AWS phase), so the password is asked once; default: the bound password file. */
  password?: PasswordSource;
  /** The caller already holds the inventory's run lock (site.mts takes it before bringing the lab up). */
  runLocked?: boolean;
}

/** Lists or runs roles as the flags say; returns the exit code. */
export async function runCommand(cmd: RunCommand, inventoryFile: string, roles: Role[], opts: RunCommandOptions = {}): Promise<number> {
  const flags = { vaultFile: cmd.vaultFile, passwordFile: cmd.vaultPasswordFile, certsDir: cmd.certsDir };
  const { inventory: inv, files, password } = await loadBoundInventory(inventoryFile, flags, opts.password);
  const prepare = (pool: ConnectionPool, check: boolean) => {
    const limited = limitedHosts(inv, cmd.options.limit);
    return prepareRoles(roles, {
      inventory: inv,
      files,
      passwordFileBound: cmd.vaultPasswordFile === undefined,
      password,
      hosts: [...new Set(roles.flatMap((r) => roleHosts(inv, r, limited)))],
      ...(cmd.options.limit !== undefined ? { limit: cmd.options.limit } : {}),
      check,
      rotateCa: cmd.rotateCa,
      pool,
      ...(cmd.options.knownHostsFile ? { knownHostsFile: cmd.options.knownHostsFile } : {}),
    });
  };
  if (cmd.listSteps) {
    // Steps are built from the prepared vars (certificates, users): prepared as --check does, reading only.
    const pool = new ConnectionPool({ hostKeyChecking: cmd.options.hostKeyChecking });
    try {
      const prepared = await prepare(pool, true);
      const listed = await listSteps(inv, roles, { ...cmd.options, extraVars: { ...prepared, ...cmd.options.extraVars } }, pool);
      process.stdout.write(listed.text);
      if (listed.unlisted) throw new UserError(`--list-steps: ${listed.unlisted} role-and-host pair(s) cannot be listed (see above)`, 2);
      return 0;
    } finally {
      pool.close();
    }
  }
  const lock = cmd.options.check || opts.runLocked ? undefined : await lockRun(inv.file);
  try {
    if (lock?.tookOver) warnTookOver(inv.file, lock.tookOver);
    const sink = cmd.json
      ? jsonReporter(process.stdout)
      : humanReporter(process.stdout, process.stderr, { verbose: cmd.options.verbose });
    const pool = runPool(cmd.options, sink);
    try {
      const prepared = await prepare(pool, cmd.options.check);
      const trap = trapInterrupts((line) => process.stderr.write(line));
      try {
        const result = await runRoles(inv, roles, { ...cmd.options, extraVars: { ...prepared, ...cmd.options.extraVars }, signal: trap.signal }, sink, pool);
        return result.exitCode;
      } finally {
        trap.release();
      }
    } finally {
      pool.close();
    }
  } finally {
    await lock?.release();
  }
}

export function warnTookOver(inventoryFile: string, holder: Holder): void {
  process.stderr.write(`warning: inventory ${inventoryFile}: took over the lock of pid ${holder.pid} (started ${holder.started}), which ended without letting it go\n`);
}
