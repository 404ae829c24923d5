// The AWS phase as a whole: the reference's four Terraform directories (network, NAT gateway,
// instances + DNS, storage) planned, applied and destroyed in dependency order, by tags.
import { UserError } from '../../errors.ts';
import type { Secret } from '../../secret.ts';
import type { AwsClients } from './clients.ts';
import { ensureRecord, destroyRecord } from './dns.ts';
import { whoAmI } from './identity.ts';
import { destroyInstances, ensureInstances, type Instances } from './instances.ts';
import { destroyNatGateway, destroyNetwork, ensureNatGateway, ensureNetwork, type Network } from './network.ts';
import { KNOWN_AFTER_APPLY, type AwsContext, type Change } from './plan.ts';
import type { AwsSettings } from './settings.ts';
import { destroyStorage, ensureStorage } from './storage.ts';
import { S3_ACCESS_KEY, S3_SECRET_KEY } from './vault-keys.ts';

export const PARTS = ['network', 'nat', 'instances', 'dns', 'storage'] as const;
export type Part = (typeof PARTS)[number];

/** The slice of lib/vault's VaultFile the AWS phase uses. */
export interface AwsVault {
  get(key: string): Secret | undefined;
  set(key: string, value: string | Secret): void;
  save(): Promise<boolean>;
}

export interface AwsRunOptions {
  dryRun: boolean;
  /** The parts to change; the others are only read (and must exist when a chosen part needs them). */
  parts: ReadonlySet<Part>;
  vault: AwsVault;
  record(change: Change): void;
  say(message: string): void;
  pollIntervalMs?: number;
  waitTimeoutMs?: number;
}

export interface AwsApplyResult {
  account: string;
  /** The instances, when they exist (what the inventory is written from). */
  instances?: Instances;
}

export function parseParts(list: string | undefined, all: readonly Part[] = PARTS): Set<Part> {
  if (list === undefined) return new Set(all);
  const parts = list.split(',').map((p) => p.trim()).filter(Boolean);
  const bad = parts.find((p) => !(PARTS as readonly string[]).includes(p));
  if (bad !== undefined) throw new UserError(`--only: no part "${bad}" (parts: ${PARTS.join(', ')})`);
  return new Set(parts as Part[]);
}

function contexts(settings: AwsSettings, clients: AwsClients, o: AwsRunOptions) {
  const base = { settings, clients, say: o.say, pollIntervalMs: o.pollIntervalMs ?? settings.pollSeconds * 1000, waitTimeoutMs: o.waitTimeoutMs ?? 15 * 60_000 };
  const acting: AwsContext = { ...base, dryRun: o.dryRun, record: o.record };
  // A part that is not chosen is read as a plan would read it, and its changes are not shown.
  const reading: AwsContext = { ...base, dryRun: true, record: () => undefined };
  return (part: Part) => (o.parts.has(part) ? acting : reading);
}

/** A part read but not chosen must exist already for a chosen one that depends on it. */
function needExisting(id: string, part: Part, o: AwsRunOptions): void {
  if (id === KNOWN_AFTER_APPLY && !o.parts.has(part) && !o.dryRun) {
    throw new UserError(`the ${part} does not exist yet: apply it first (npx zx scripts/aws.mts apply --only ${part})`);
  }
}

export async function applyAws(settings: AwsSettings, clients: AwsClients, o: AwsRunOptions): Promise<AwsApplyResult> {
  const ctx = contexts(settings, clients, o);
  const { account } = await whoAmI(ctx('network'));
  let network: Network | undefined;
  const net = async () => {
    network ??= await ensureNetwork(ctx('network'));
    needExisting(network.vpcId, 'network', o);
    return network;
  };
  if (o.parts.has('storage')) await applyStorage(ctx('storage'), o);
  if (o.parts.has('network')) await net();
  if (o.parts.has('nat')) await ensureNatGateway(ctx('nat'), await net());
  let instances: Instances | undefined;
  if (o.parts.has('instances') || o.parts.has('dns')) {
    instances = await ensureInstances(ctx('instances'), await net());
    needExisting(instances.bastion.publicIp, 'instances', o);
  }
  if (o.parts.has('dns')) await ensureRecord(ctx('dns'), instances!.bastion.publicIp);
  const made = instances && instances.bastion.id !== KNOWN_AFTER_APPLY && !o.dryRun;
  return { account, ...(made ? { instances } : {}) };
}

/** The bucket and its user; a key made now goes into the vault at once: AWS shows its secret only once. */
async function applyStorage(ctx: AwsContext, o: AwsRunOptions): Promise<void> {
  const keyId = o.vault.get(S3_ACCESS_KEY)?.reveal();
  const known = keyId && o.vault.get(S3_SECRET_KEY) ? { accessKeyId: keyId } : undefined;
  const storage = await ensureStorage(ctx, known);
  if (storage.secretAccessKey) {
    o.vault.set(S3_ACCESS_KEY, storage.accessKeyId);
    o.vault.set(S3_SECRET_KEY, storage.secretAccessKey);
    await o.vault.save();
    o.say(`vault: the S3 user's new access key saved as ${S3_ACCESS_KEY} / ${S3_SECRET_KEY}`);
  }
}

/** Removes the chosen parts, dependents first. Storage (images!) only when chosen by name. */
export async function destroyAws(settings: AwsSettings, clients: AwsClients, o: AwsRunOptions & { emptyBucket: boolean }): Promise<void> {
  const ctx = contexts(settings, clients, o);
  await whoAmI(ctx('network'));
  if (o.parts.has('dns')) await destroyRecord(ctx('dns'));
  if (o.parts.has('instances')) await destroyInstances(ctx('instances'));
  if (o.parts.has('nat')) await destroyNatGateway(ctx('nat'));
  if (o.parts.has('network')) await destroyNetwork(ctx('network'));
  if (o.parts.has('storage')) await destroyStorage(ctx('storage'), { emptyBucket: o.emptyBucket });
}
