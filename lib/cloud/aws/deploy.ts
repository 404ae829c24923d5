// The AWS phase as a whole: the reference's Terraform directories (network, NAT gateway,
// instances + DNS, storage) planned in dependency order by reading each once, then applied by
// running exactly the planned changes. Nothing is written while planning.
import { UserError } from '../../errors.ts';
import type { Secret } from '../../secret.ts';
import type { AwsClients } from './clients.ts';
import { planRecord, planRecordGone } from './dns.ts';
import { asUserError } from './errors.ts';
import { whoAmI } from './identity.ts';
import { planInstances, planInstancesGone, wantsDatabase, type PlannedInstances } from './instances.ts';
import { planNat, planNatGone } from './nat.ts';
import { describeChange, type AwsContext, type Change, type PlannedChange } from './plan.ts';
import { planS3Endpoint, planS3EndpointGone } from './s3-endpoint.ts';
import { planRouteTablesGone } from './route-tables.ts';
import { planDatabaseGroupsGone, planSecurityGroups, planSecurityGroupsGone } from './security-groups.ts';
import type { AwsSettings } from './settings.ts';
import { planStorage, planStorageGone } from './storage.ts';
import { S3_ACCESS_KEY, S3_SECRET_KEY } from './vault-keys.ts';
import { planPrivateSubnetBGone, planVpc, planVpcGone, PRIVATE_B } from './vpc.ts';

export const PARTS = ['network', 'nat', 'instances', 'dns', 'storage'] as const;
export type Part = (typeof PARTS)[number];

/** What each part's resources need to exist first. */
const NEEDS: Record<Part, Part[]> = { network: [], nat: ['network'], instances: ['network'], dns: ['instances', 'network'], storage: [] };

/** The slice of lib/vault's VaultFile the AWS phase uses. */
export interface AwsVault {
  get(key: string): Secret | undefined;
  set(key: string, value: string | Secret): void;
  save(): Promise<boolean>;
}

export interface AwsRunOptions {
  /** The parts to change; the others are only read (and must exist when a chosen part needs them). */
  parts: ReadonlySet<Part>;
  vault: AwsVault;
  say(message: string): void;
  pollIntervalMs?: number;
  waitTimeoutMs?: number;
}

export interface AwsPlan {
  account: string;
  changes: PlannedChange[];
  /** The instances as planned (ids set as apply makes them), when the plan reads them. */
  instances?: PlannedInstances;
  /** The context the changes run in (waits, progress). */
  ctx: AwsContext;
}

export function parseParts(list: string | undefined, all: readonly Part[] = PARTS): Set<Part> {
  if (list === undefined) return new Set(all);
  const parts = list.split(',').map((p) => p.trim()).filter(Boolean);
  const bad = parts.find((p) => !(PARTS as readonly string[]).includes(p));
  if (bad !== undefined) throw new UserError(`--only: no part "${bad}" (parts: ${PARTS.join(', ')})`);
  if (!parts.length) throw new UserError(`--only: name at least one part (${PARTS.join(', ')})`);
  return new Set(parts as Part[]);
}

/** A context per part: a chosen part's changes go into the plan; a part only read must not need creating. */
function contexts(settings: AwsSettings, clients: AwsClients, o: AwsRunOptions, changes: PlannedChange[]) {
  const reads = new Map<string, Promise<unknown>>();
  const base = { settings, clients, say: o.say, reads, pollIntervalMs: o.pollIntervalMs ?? settings.pollSeconds * 1000, waitTimeoutMs: o.waitTimeoutMs ?? 15 * 60_000 };
  const chosen: AwsContext = { ...base, add: (c) => changes.push(c) };
  const reading = (part: Part): AwsContext => ({
    ...base,
    add: (c) => {
      if (c.action !== 'create') return;
      const by = [...o.parts].filter((p) => NEEDS[p].includes(part));
      throw new UserError(`${c.kind} ${c.name} of the ${part} does not exist yet, and ${by.join(', ')} need${by.length === 1 ? 's' : ''} it: apply the ${part} first (--only ${[part, ...by].join(',')})`);
    },
  });
  return (part: Part) => (o.parts.has(part) ? chosen : reading(part));
}

/** A part is read when it is chosen or a chosen one needs it. */
const wanted = (o: AwsRunOptions, part: Part) => o.parts.has(part) || [...o.parts].some((p) => NEEDS[p].includes(part));

/** Plans the chosen parts (reading the ones they need); AWS's errors come back as one line. */
export async function planAws(settings: AwsSettings, clients: AwsClients, o: AwsRunOptions): Promise<AwsPlan> {
  const changes: PlannedChange[] = [];
  const ctx = contexts(settings, clients, o, changes);
  try {
    const { account } = await whoAmI(ctx('network'));
    if (settings.adminCidr === '0.0.0.0/0') o.say('warning: admin_cidr is 0.0.0.0/0: SSH to the bastion and HTTPS to the registry are open to the whole internet');
    if (o.parts.has('storage')) await planStorageWithVault(ctx('storage'), o.vault);
    if (!wanted(o, 'network')) return { account, changes, ctx: ctx('network') };
    const database = await wantsDatabase(ctx('network'));
    const vpc = await planVpc(ctx('network'), database);
    const groups = await planSecurityGroups(ctx('network'), vpc.vpc, database);
    if (o.parts.has('nat')) {
      const nat = ctx('nat');
      if (!settings.s3Endpoint) await planS3EndpointGone(nat);
      const privateRoutes = await planNat(nat, vpc);
      if (settings.s3Endpoint) await planS3Endpoint(nat, vpc.vpc, [vpc.publicRoutes, ...privateRoutes!]);
    }
    let instances: PlannedInstances | undefined;
    if (wanted(o, 'instances')) instances = await planInstances(ctx('instances'), vpc, groups, database);
    if (!database) await planDatabaseNetworkGone(ctx('network'), o.parts.has('nat') && settings.natGateway);
    if (o.parts.has('dns')) await planRecord(ctx('dns'), instances!.bastionIp.publicIp);
    return { account, changes, ctx: ctx('network'), ...(instances ? { instances } : {}) };
  } catch (err) {
    throw asUserError(err, 'plan');
  }
}

/** Without a db host, what only it needed goes, after the instances that used it: its groups, the second private subnet and its routes (unless the NAT's removal has them). */
async function planDatabaseNetworkGone(ctx: AwsContext, routes: boolean): Promise<void> {
  await planDatabaseGroupsGone(ctx);
  if (routes) await planRouteTablesGone(ctx, `${PRIVATE_B}-routes`);
  await planPrivateSubnetBGone(ctx);
}

/** The storage part; a key made by apply goes into the vault at once: AWS shows its secret only once. */
function planStorageWithVault(ctx: AwsContext, vault: AwsVault): Promise<void> {
  const keyId = vault.get(S3_ACCESS_KEY)?.reveal();
  const known = keyId && vault.get(S3_SECRET_KEY) ? keyId : undefined;
  return planStorage(ctx, known, async (accessKeyId, secret) => {
    vault.set(S3_ACCESS_KEY, accessKeyId);
    vault.set(S3_SECRET_KEY, secret);
    await vault.save();
    ctx.say(`vault: the S3 user's new access key saved as ${S3_ACCESS_KEY} / ${S3_SECRET_KEY}`);
  });
}

/** Plans removing the chosen parts, dependents first. Storage (images!) only when chosen by name. */
export async function planDestroy(settings: AwsSettings, clients: AwsClients, o: AwsRunOptions & { emptyBucket: boolean }): Promise<AwsPlan> {
  const changes: PlannedChange[] = [];
  const ctx: AwsContext = { ...contexts(settings, clients, o, changes)('network'), add: (c) => changes.push(c) };
  try {
    const { account } = await whoAmI(ctx);
    if (o.parts.has('dns')) await planRecordGone(ctx);
    if (o.parts.has('instances')) await planInstancesGone(ctx);
    if (o.parts.has('nat')) {
      await planS3EndpointGone(ctx);
      await planNatGone(ctx);
    }
    if (o.parts.has('network')) {
      if (!o.parts.has('nat')) await planS3EndpointGone(ctx);
      await planSecurityGroupsGone(ctx);
      await planVpcGone(ctx, { instances: !o.parts.has('instances'), nat: !o.parts.has('nat') });
    }
    if (o.parts.has('storage')) await planStorageGone(ctx, { emptyBucket: o.emptyBucket });
    return { account, changes, ctx };
  } catch (err) {
    throw asUserError(err, 'plan');
  }
}

/** A change as shown and reported: without its calls. */
const shown = ({ run: _run, needs: _needs, ...change }: PlannedChange): Change => change;

/**
 * Runs the plan's changes in order: replaces only those named in `replace`, and what follows
 * from a replace not run is not run either. Stops at the first failure with one line saying
 * where, what was done, and that a rerun resumes (everything is found again by its tags).
 */
export async function applyPlan(plan: AwsPlan, replace: ReadonlySet<string>, done: (c: Change) => void): Promise<Change[]> {
  const applied: Change[] = [];
  const skipped = new Set<PlannedChange>();
  for (const c of plan.changes) {
    if (!c.run) continue;
    if ((c.action === 'replace' && !replace.has(c.name)) || (c.needs && skipped.has(c.needs))) {
      skipped.add(c);
      continue;
    }
    let id: string | void;
    try {
      id = await c.run();
    } catch (err) {
      const why = asUserError(err);
      if (!(why instanceof UserError)) throw err;
      const so_far = applied.length ? `${applied.length} change${applied.length === 1 ? '' : 's'} made before it stay` : 'nothing was changed before it';
      throw new UserError(`apply stopped at ${describeChange(shown(c))}: ${why.message} (${so_far}; apply again resumes from what exists)`);
    }
    if (c.action === 'ok') continue;
    const change = { ...shown(c), ...(id ? { id } : {}) };
    applied.push(change);
    done(change);
  }
  return applied;
}
