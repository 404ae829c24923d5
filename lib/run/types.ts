import type { Facts } from '../facts/index.ts';
import type { Host, Inventory, Vars } from '../inventory/types.ts';
import type { Step } from '../steps/types.ts';
import type { HostKeyChecking } from '../transport/connection.ts';
import type { ConnectionType } from './connect.ts';
import type { VaultFile } from '../vault/index.ts';

/** What a role's functions see of one host. */
export interface RoleContext {
  host: Host;
  /** The role's defaults overridden by the inventory's vars for this host. */
  vars: Vars;
  facts: Facts;
  inventory: Inventory;
  /** The run's extra vars: what another host's vars become in this run (see roleVars). */
  extraVars?: Vars;
}

/** A role: a host pattern and functions from a host's context to steps (data). */
export interface Role {
  name: string;
  /** Host pattern (Ansible syntax) the role applies to, intersected with --limit. */
  hosts: string;
  /** A part some deployments lack (e.g. the db host): skipped without a warning when no host matches. */
  optional?: boolean;
  /**
   * Hosts worked on at a time (Ansible's `serial`): the role runs batch after batch, and stops
   * before the next batch once a host of one has failed. Default: all at once (up to --forks).
   */
  serial?: number;
  defaults?: Vars;
  /** Where its templates are (default: templates/<name>/ under the current directory). */
  templateDir?: string;
  steps(ctx: RoleContext): Step[];
  /** Steps run once per host at the end of the role, when a changed step named them in `notify`. */
  handlers?(ctx: RoleContext): Step[];
  /**
   * Work on the controller before any host (once per run, shared by roles naming the same
   * function): makes or loads what the steps need, e.g. certificates and vault secrets, and
   * returns variables for every host.
   */
  prepare?(ctx: PrepareContext): Promise<Vars>;
}

export interface PrepareContext {
  inventory: Inventory;
  /** Check mode: read what exists, write nothing. */
  check: boolean;
  /** The hosts the run works on: the roles' hosts that --limit keeps. */
  hosts: Host[];
  /** --limit as given: a run on part of an inventory. */
  limit?: string;
  /**
   * A read-only script on each of `hosts`, over the run's own connections (each host's stdout;
   * a host that cannot be reached is left out, for the run to report).
   */
  read(hosts: Host[], script: string): Promise<Map<string, string>>;
  /** The deployment's vault file, and whether it existed when the run started. */
  vaultFile: string;
  vaultExists: boolean;
  /**
   * The deployment's vault, held under its lock until every prepare is done (outside check
   * mode). A missing vault is an error unless `create` (then its password file is made too,
   * when the inventory names one that does not exist).
   */
  vault(opts?: { create?: boolean }): Promise<VaultFile>;
  /** Where the deployment's public certificates live. */
  certsDir: string;
  /** --rotate-ca: this run may replace the CA the hosts hold. */
  rotateCa: boolean;
  /** One line of progress for the user (redacted by the caller). */
  say(line: string): void;
}

export interface RunOptions {
  check: boolean;
  diff: boolean;
  tags?: string[];
  skipTags?: string[];
  startAt?: string;
  forks: number;
  /** --serial: batches of this many hosts for every role, over the roles' own `serial`. */
  serial?: number;
  limit?: string;
  hostKeyChecking: HostKeyChecking;
  /** Overrides the inventory's known_hosts files. */
  knownHostsFile?: string;
  /** `-c/--connection`: every host through this connection type, whatever ansible_connection says. */
  connection?: ConnectionType;
  /** Aborted (reason: the signal's name) when the user interrupts: no new step starts. */
  signal?: AbortSignal;
  verbose: boolean;
  /** Variables above the inventory's (Ansible's `-e`): what a site run brings from the vault and the PKI. */
  extraVars?: Vars;
}

/** A role's variables on a host, lowest first: role defaults < inventory < extra vars. */
export const roleVars = (role: Role, host: Host, opts: Pick<RunOptions, 'extraVars'>): Vars => ({ ...role.defaults, ...host.vars, ...opts.extraVars });

export type StepStatus = 'ok' | 'changed' | 'failed' | 'skipped';

export interface RoundTrips {
  exec: number;
  sftp: number;
}

export type RunEvent =
  | { type: 'run'; roles: string[]; check: boolean }
  | { type: 'role'; role: string; hosts: string[] }
  | { type: 'step-start'; role: string; host: string; step: string; handler: boolean }
  | {
      type: 'step';
      role: string;
      host: string;
      step: string;
      kind: string;
      handler: boolean;
      status: StepStatus;
      /** What changed (or would, in check mode), or why it was skipped. */
      summary?: string;
      /** Unified diff (--diff), or a note that the content is sensitive. */
      diff?: string;
      /** Output of the change script: on failure, or with -v. */
      output?: string;
      error?: string;
      ms: number;
    }
  | { type: 'unreachable'; role: string; host: string; error: string }
  /** The host stopped before `step` (or rolled back its staged upload) on a SIGINT/SIGTERM. */
  | { type: 'interrupted'; role: string; host: string; step: string; rolledBack: boolean; signal: string }
  | { type: 'warning'; message: string }
  | { type: 'recap'; hosts: Record<string, HostRecap>; wallMs: number; check: boolean; interrupted?: string };

export interface HostRecap {
  /** Steps that ran fine, changed ones included (as Ansible counts). */
  ok: number;
  changed: number;
  unreachable: number;
  failed: number;
  skipped: number;
  /** SSH round trips spent on this host: exec requests and SFTP operations. */
  roundTrips: RoundTrips;
}

export type EventSink = (event: RunEvent) => void;
