// One run of harbor.mts: its flags, the vault password source, and what it opens once (the
// inventory's registry hosts, the vault, a Harbor client logged in as admin, the spec).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { parseFlags } from '../cli.ts';
import { UserError } from '../errors.ts';
import { applyPlan, HarborClient, parseHarborSpec, type HarborSpec, type PlanEntry, type ReconcileContext, type SecretStore } from '../harbor/index.ts';
import { selectHosts } from '../inventory/limit.ts';
import type { Host } from '../inventory/types.ts';
import { loadRunInventory, type PasswordSource } from '../inventory/vaulted.ts';
import { DEFAULT_CERTS_DIR, readIfExists, registryPublicName } from '../pki/index.ts';
import { humanReporter, jsonReporter, type Output } from '../run/report.ts';
import type { EventSink } from '../run/types.ts';
import { redact } from '../secret.ts';
import { wantedConfigurations } from '../../roles/registry/harbor-settings.ts';
import { DEFAULT_VAULT_FILE, VaultFile } from '../vault/index.ts';

export const FLAGS = {
  check: { type: 'boolean', short: 'C' },
  spec: { type: 'string' },
  prune: { type: 'boolean' },
  yes: { type: 'boolean' },
  json: { type: 'boolean' },
  url: { type: 'string' },
  inventory: { type: 'string', short: 'i', default: 'inventory/lab.yaml' },
  ca: { type: 'string' },
  'certs-dir': { type: 'string', default: DEFAULT_CERTS_DIR },
  vault: { type: 'string', default: DEFAULT_VAULT_FILE },
  'vault-password-file': { type: 'string' },
  admin: { type: 'boolean' },
  email: { type: 'string' },
  realname: { type: 'string' },
  public: { type: 'boolean' },
  'storage-limit': { type: 'string' },
  role: { type: 'string', default: 'developer' },
  'yes-destroy-data': { type: 'string' },
  verbose: { type: 'boolean', short: 'v' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface CommandContext {
  args: string[];
  out: Output;
  err: Output;
}

type Flags = ReturnType<typeof parseFlags<{ args: string[]; options: typeof FLAGS; allowPositionals: true }>>['values'];

/** What one run of the command holds: its flags, the vault password source, and what it opened. */
export class HarborSession {
  #vault?: Promise<VaultFile>;
  #hosts?: Promise<Host[]>;

  constructor(
    readonly flags: Flags,
    readonly password: PasswordSource,
    readonly ctx: CommandContext,
  ) {}

  say(text: string): void {
    this.ctx.out.write(redact(text) + '\n');
  }

  /** The engine's reporter for this run's output mode. */
  sink(): EventSink {
    const { out, err } = this.ctx;
    return this.flags.json ? jsonReporter(out) : humanReporter(out, err, { verbose: Boolean(this.flags.verbose) });
  }

  registryHosts(): Promise<Host[]> {
    const file = this.flags.inventory;
    return (this.#hosts ??= (async () => {
      if (!existsSync(file)) throw new UserError(`${file}: inventory not found: pass -i FILE${this.flags.url ? '' : ' or --url https://<registry name>'}`);
      return selectHosts(await loadRunInventory(file, this.password), 'registry');
    })());
  }

  openVault(): Promise<VaultFile> {
    return (this.#vault ??= (async () => VaultFile.open(this.flags.vault, (await this.password({ required: true }))!))());
  }

  /**
   * The vault as reconcile writes it: each secret saved at once, decided and saved under the
   * vault's lock over the file's latest version (a concurrent writer loses nothing, and two
   * runs making one user's password agree on it).
   */
  async secrets(): Promise<SecretStore> {
    const v = await this.openVault();
    return {
      get: (key) => v.get(key),
      update: (key, next) =>
        v.locked(() => {
          const value = next(v.get(key));
          v.set(key, value);
          return value;
        }),
    };
  }

  /** A client logged in as admin: a wrong password fails here, not as an oddly empty list later. */
  async connect(): Promise<HarborClient> {
    // One after the other: the inventory and the vault may both ask for the vault password.
    const url = this.flags.url ?? `https://${registryPublicName(await this.registryHosts(), this.flags.inventory)}`;
    const ca = await this.#caPem();
    const admin = (await this.openVault()).require('harbor_admin_password');
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

  /** Connects, runs `work` with a reconcile context, closes. */
  async withHarbor<T>(work: (ctx: ReconcileContext) => Promise<T>): Promise<T> {
    const client = await this.connect();
    try {
      return await work({ client, prune: Boolean(this.flags.prune), secrets: await this.secrets() });
    } finally {
      client.close();
    }
  }

  /** The spec: --spec FILE, else the registry hosts' `harbor:` from the inventory. */
  async spec(): Promise<HarborSpec> {
    const file = this.flags.spec;
    if (file) {
      const text = await readIfExists(file);
      if (text === undefined) throw new UserError(`${file}: spec file not found`);
      let raw: unknown;
      try {
        raw = parseYaml(text);
      } catch (err) {
        throw new UserError(`${file}: not YAML: ${(err as Error).message.split('\n')[0]}`);
      }
      return this.#agreeingWithRole(parseHarborSpec(raw, file), file);
    }
    const vars = (await this.registryHosts())[0]?.vars ?? {};
    if (vars.harbor === undefined) {
      throw new UserError(`${this.flags.inventory}: the registry hosts have no harbor: variable: declare it in group_vars (README: Harbor as code) or pass --spec FILE`);
    }
    const source = `${this.flags.inventory} (harbor:)`;
    return this.#agreeingWithRole(parseHarborSpec(vars.harbor, source), source);
  }

  /**
   * The spec's system configuration may not undo what the registry role sets on every converge
   * (the inventory's harbor_config and the role's secure defaults): the two would take turns.
   */
  async #agreeingWithRole(spec: HarborSpec, source: string): Promise<HarborSpec> {
    if (!spec.configurations) return spec;
    const vars = existsSync(this.flags.inventory) ? ((await this.registryHosts())[0]?.vars ?? {}) : {};
    const role = wantedConfigurations(vars);
    for (const [key, value] of Object.entries(spec.configurations)) {
      if (key in role && role[key] !== value) {
        throw new UserError(
          `${source}: harbor.configurations.${key}: ${JSON.stringify(value)}, but the registry role sets ${JSON.stringify(role[key])} on every converge (harbor_config or its secure defaults): set it in harbor_config instead`,
        );
      }
    }
    return spec;
  }

  /** Runs planned entries through the reporter: check mode with --check, else for real. */
  run(entries: PlanEntry[], client: HarborClient): Promise<number> {
    return applyPlan(entries, { host: new URL(client.url).host, check: Boolean(this.flags.check), sink: this.sink() });
  }

  async #caPem(): Promise<string> {
    const file = this.flags.ca ?? join(this.flags['certs-dir'], 'ca.crt');
    const pem = await readIfExists(file);
    if (!pem?.includes('-----BEGIN CERTIFICATE-----')) {
      throw new UserError(`${file}: no CA certificate to trust Harbor with: pass --ca FILE (or make it with npx zx scripts/certs.mts issue)`);
    }
    return pem;
  }
}

export type Verb = (s: HarborSession, args: string[]) => Promise<number | void>;

export function needArgs(args: string[], count: number, usage: string): string[] {
  if (args.length !== count) throw new UserError(`usage: ${usage} (see --help)`);
  return args;
}

