// The reference's EC2 directory: the bastion (public subnet, with an Elastic IP) and the
// registry (private subnet, fixed address, its own encrypted data volume), and with
// registry_count above 1 more registry hosts at the next addresses, alternately in the two
// private subnets, and the db host; all with encrypted root volumes and IMDSv2 required. What AWS cannot change in place is a replace, done only
// when asked for by name; the registry's data volume outlives its instance.
import {
  DescribeInstancesCommand, DescribeVolumesCommand, GetConsoleOutputCommand, ModifyInstanceAttributeCommand, ModifyInstanceMetadataOptionsCommand, RunInstancesCommand,
  StartInstancesCommand, TerminateInstancesCommand, type _InstanceType, type Instance as Ec2Instance, type Volume,
} from '@aws-sdk/client-ec2';
import { UserError } from '../../errors.ts';
import { hostKeysFromConsole } from './console.ts';
import { dataVolumeUserData, planDataVolume, volumeOf } from './data-volume.ts';
import { awsErrorCode } from './errors.ts';
import { associateAddress, planElasticIp, planElasticIpsGone, type ElasticIp } from './elastic-ip.ts';
import { chooseImage, type ChosenImage } from './image.ts';
import { planKeyPair, planKeyPairGone } from './key-pair.ts';
import { addFixes, byTags, named, nameTag, readOnce, Ref, resourceName, tagsFor, type AwsContext, type PlannedChange } from './plan.ts';
import type { SecurityGroupName } from './security-groups.ts';
import { cidrRange, ipNumber, ipString, type AwsSettings } from './settings.ts';
import { deploymentZones, type Vpc } from './vpc.ts';
import { waitFor } from './wait.ts';

export interface Instance {
  id: string;
  privateIp: string;
  /** OpenSSH public key lines, "ssh-ed25519 AAAA…", from the console output (none when it showed none in time). */
  hostKeys: string[];
}

export interface Instances {
  bastion: Instance & { /** Its Elastic IP. */ publicIp: string };
  /** registry-1 … registry-N, in that order. */
  registries: Instance[];
  db?: Instance;
}

interface InstanceSpec {
  /** Its Name tag. */
  name: string;
  /** Its name in the inventory. */
  host: string;
  subnet: Ref;
  zone: string;
  groups: SecurityGroupName[];
  type: string;
  rootGiB: number;
  /** IMDSv2's hop limit: 2 lets the registry's containers reach the metadata service. */
  hopLimit: number;
  privateIp?: string;
}

/** One planned instance: its id (set by apply when it launches one), and whether this apply launched it (its host keys are still to come). */
export interface PlannedInstance {
  name: string;
  host: string;
  id: Ref;
  fresh: boolean;
  /** The change that launches it (create or replace), when the plan has one. */
  launch?: PlannedChange;
}

export interface PlannedInstances {
  bastion: PlannedInstance;
  registries: PlannedInstance[];
  db?: PlannedInstance;
  bastionIp: ElasticIp;
}

const LIVE = { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] };

/** The project's live instances, read once per plan (the network's plan asks whether the db host exists). */
const projectInstances = (ctx: AwsContext) =>
  readOnce(ctx, 'instances', async () => ((await ctx.clients.ec2.send(new DescribeInstancesCommand({ Filters: [...byTags(ctx.settings), LIVE] }))).Reservations ?? []).flatMap((x) => x.Instances ?? []));

/** registry-1 keeps the reference's name; the others are numbered. */
const registryName = (s: AwsSettings, k: number) => resourceName(s, k === 1 ? 'registry' : `registry-${k}`);
const REGISTRY_NAME = /^registry(?:-(\d+))?$/;

/** registry-K's fixed address: registry_private_ip + K-1, in the first private subnet for odd K, the second for even K. */
export function registryAddress(s: AwsSettings, k: number): string {
  const ip = ipNumber(s.registryPrivateIp)! + k - 1;
  return ipString(k % 2 ? ip : ip - cidrRange(s.privateSubnetCidr)![0] + cidrRange(s.privateSubnetBCidr)![0]);
}

/**
 * Whether there is a db host: db_instance when given; else with several registries, and while it
 * exists (it holds Harbor's database: scaling back to one registry keeps it, db_instance: false removes it).
 */
export async function wantsDatabase(ctx: AwsContext): Promise<boolean> {
  const s = ctx.settings;
  return s.dbInstance ?? (s.registryCount > 1 || Boolean(named(await projectInstances(ctx), resourceName(s, 'db'))));
}

function specs(s: AwsSettings, net: Vpc, zones: [string, string], database: boolean) {
  const bastion: InstanceSpec = {
    name: resourceName(s, 'bastion'), host: 'bastion', subnet: net.publicSubnet, zone: zones[0], groups: ['ssh-in', 'web-out', 'web-in-admin', 'ssh-out'],
    type: s.bastionInstanceType, rootGiB: s.bastionRootVolumeGiB, hopLimit: 1,
  };
  const registries = Array.from({ length: s.registryCount }, (_, i): InstanceSpec => ({
    name: registryName(s, i + 1), host: `registry-${i + 1}`, subnet: i % 2 ? net.privateSubnetB! : net.privateSubnet, zone: i % 2 ? net.privateZoneB : net.privateZone,
    groups: ['ssh-in-local', 'web-out', 'web-in-local', ...(database ? ['db-clients' as const] : [])], type: s.registryInstanceType,
    rootGiB: s.registryRootVolumeGiB, hopLimit: 2, privateIp: registryAddress(s, i + 1),
  }));
  const db: InstanceSpec | undefined = database ? {
    name: resourceName(s, 'db'), host: 'db-1', subnet: net.privateSubnet, zone: net.privateZone, groups: ['ssh-in-local', 'web-out', 'db-in'],
    type: s.dbInstanceType, rootGiB: s.dbRootVolumeGiB, hopLimit: 1, privateIp: s.dbPrivateIp,
  } : undefined;
  return { bastion, registries, db };
}

const describeSpec = (image: ChosenImage, want: InstanceSpec) =>
  `${image.id} ${want.type} in ${want.subnet}${want.privateIp ? ` at ${want.privateIp}` : ''}, ${want.rootGiB} GiB encrypted root, IMDSv2`;

/** One instance by id; undefined while AWS does not show a new one yet, or no longer shows an old one. */
async function describeInstance(ctx: AwsContext, id: string): Promise<Ec2Instance | undefined> {
  try {
    return ((await ctx.clients.ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations ?? []).flatMap((r) => r.Instances ?? [])[0];
  } catch (err) {
    if (awsErrorCode(err) === 'InvalidInstanceID.NotFound') return undefined;
    throw err;
  }
}

export function waitRunning(ctx: AwsContext, name: string, id: string): Promise<Ec2Instance> {
  return waitFor(ctx, `instance ${name} (${id})`, async () => {
    const i = await describeInstance(ctx, id);
    if (!i) return { state: 'not visible yet' };
    const state = i.State?.Name ?? 'unknown';
    if (state !== 'pending' && state !== 'running') throw new UserError(`instance ${name} (${id}) is ${state}; start it in the AWS console or destroy the instances`);
    return { state, done: state === 'running' ? i : undefined };
  });
}

async function terminate(ctx: AwsContext, instances: { id: string; name: string }[]): Promise<void> {
  if (!instances.length) return;
  await ctx.clients.ec2.send(new TerminateInstancesCommand({ InstanceIds: instances.map((i) => i.id) }));
  for (const i of instances) {
    await waitFor(ctx, `instance ${i.name} (${i.id}) to terminate`, async () => {
      const state = (await describeInstance(ctx, i.id))?.State?.Name ?? 'terminated';
      return { state, done: state === 'terminated' ? true : undefined };
    });
  }
}

/** What differs from the settings that only a new instance can change. */
function fixedDifferences(s: AwsSettings, i: Ec2Instance, want: InstanceSpec, image: ChosenImage, root: Volume | undefined): string[] {
  return [
    // A name pattern picks the newest image for new instances; running ones keep theirs.
    'id' in s.ami && i.ImageId !== image.id ? `ami ${i.ImageId} → ${image.id}` : '',
    i.InstanceType !== want.type ? `type ${i.InstanceType} → ${want.type}` : '',
    !want.subnet.known || i.SubnetId !== want.subnet.id ? `subnet ${i.SubnetId} → ${want.subnet}` : '',
    want.privateIp && i.PrivateIpAddress !== want.privateIp ? `private IP ${i.PrivateIpAddress} → ${want.privateIp}` : '',
    root && !root.Encrypted ? 'root volume not encrypted' : '',
  ].filter(Boolean);
}

interface Launch {
  ctx: AwsContext;
  net: Vpc;
  groups: Record<SecurityGroupName, Ref>;
  keyName: string;
  image: ChosenImage;
  dataVolume?: Ref;
}

async function launch(l: Launch, want: InstanceSpec, name: string): Promise<string> {
  const { settings: s, clients: { ec2 } } = l.ctx;
  const made = await ec2.send(new RunInstancesCommand({
    ImageId: l.image.id, InstanceType: want.type as _InstanceType, MinCount: 1, MaxCount: 1, KeyName: l.keyName, SubnetId: want.subnet.id,
    SecurityGroupIds: want.groups.map((g) => l.groups[g].id),
    ...(want.privateIp ? { PrivateIpAddress: want.privateIp } : {}),
    BlockDeviceMappings: [{ DeviceName: l.image.rootDevice, Ebs: { VolumeSize: want.rootGiB, VolumeType: 'gp3', Encrypted: true, DeleteOnTermination: true } }],
    MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: want.hopLimit },
    ...(l.dataVolume ? { UserData: Buffer.from(dataVolumeUserData(s)).toString('base64') } : {}),
    TagSpecifications: [{ ResourceType: 'instance', Tags: tagsFor(s, name) }, { ResourceType: 'volume', Tags: tagsFor(s, `${name}-root`) }],
  }));
  return made.Instances![0]!.InstanceId!;
}

async function planInstance(l: Launch, found: Ec2Instance | undefined, volumes: Volume[], want: InstanceSpec): Promise<PlannedInstance> {
  const { ctx } = l;
  const s = ctx.settings;
  const { ec2 } = ctx.clients;
  const name = want.name;
  const planned: PlannedInstance = { name, host: want.host, id: new Ref(found?.InstanceId), fresh: false };
  const start = async () => {
    planned.fresh = true;
    return planned.id.set(await launch(l, want, name));
  };
  if (!found) {
    planned.launch = { action: 'create', kind: 'instance', name, detail: describeSpec(l.image, want), run: start };
    ctx.add(planned.launch);
    return planned;
  }
  const id = found.InstanceId!;
  const root = volumes.find((v) => v.Attachments?.some((a) => a.InstanceId === id && a.Device === found.RootDeviceName));
  const fixed = fixedDifferences(s, found, want, l.image, root);
  if (fixed.length) {
    // Replacing loses what is on the root volume; the registry's data volume is kept and moves over.
    planned.launch = {
      action: 'replace', kind: 'instance', name, id, detail: `${fixed.join(', ')} (a new instance: ${describeSpec(l.image, want)})`,
      run: async () => {
        await terminate(ctx, [{ id, name }]);
        return start();
      },
    };
    ctx.add(planned.launch);
    return planned;
  }
  const state = found.State?.Name;
  const has = (found.SecurityGroups ?? []).map((g) => g.GroupId!).sort();
  const groups = want.groups.map((g) => l.groups[g]);
  const sameGroups = groups.every((g) => g.known) && has.join(' ') === groups.map((g) => g.id).sort().join(' ');
  const meta = found.MetadataOptions;
  const imds = meta?.HttpTokens === 'required' && meta.HttpPutResponseHopLimit === want.hopLimit && meta.HttpEndpoint !== 'disabled';
  const fixes: { said: string; call: () => Promise<unknown> }[] = [];
  if (state === 'stopped' || state === 'stopping') {
    fixes.push({
      said: `start it (it is ${state})`,
      call: async () => {
      if (state === 'stopping') await waitFor(ctx, `instance ${name} (${id}) to stop`, async () => ((await describeInstance(ctx, id))?.State?.Name === 'stopped' ? { state: 'stopped', done: true } : { state: 'stopping' }));
        await ec2.send(new StartInstancesCommand({ InstanceIds: [id] }));
      },
    });
  }
  if (!sameGroups) {
    fixes.push({ said: `security groups ${has.join(', ')} → ${groups.join(', ')}`, call: () => ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: id, Groups: groups.map((g) => g.id) })) });
  }
  if (!imds) {
    fixes.push({
      said: `metadata: IMDSv2 required, hop limit ${want.hopLimit} (is ${meta?.HttpTokens ?? '?'}, ${meta?.HttpPutResponseHopLimit ?? '?'})`,
      call: () => ec2.send(new ModifyInstanceMetadataOptionsCommand({ InstanceId: id, HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: want.hopLimit })),
    });
  }
  addFixes(ctx, { kind: 'instance', name, id }, fixes);
  return planned;
}

/** The bastion's Elastic IP, associated with it once it runs. */
async function planBastionIp(ctx: AwsContext, bastion: PlannedInstance): Promise<ElasticIp> {
  const eip = await planElasticIp(ctx, 'bastion-eip', `for ${bastion.name}`);
  const associate = async () => {
    await waitRunning(ctx, bastion.name, bastion.id.id);
    await associateAddress(ctx, eip, bastion.id.id);
  };
  if (!eip.allocation.known || !bastion.id.known || eip.instanceId !== bastion.id.id || bastion.launch) {
    const name = resourceName(ctx.settings, 'bastion-eip');
    ctx.add({
      action: eip.allocation.known && bastion.id.known ? 'update' : 'create', kind: 'elastic ip association', name,
      ...(eip.allocation.known ? { id: eip.allocation.id } : {}),
      detail: `${eip.publicIp} → ${bastion.name}${eip.instanceId ? ` (now ${eip.instanceId})` : ''}`,
      run: associate,
      ...(bastion.launch ? { needs: bastion.launch } : {}),
    });
  }
  return eip;
}

/** The EC2 directory: image and types checked, key pair, bastion with its Elastic IP, registries (the first with its data volume), the db host. */
export async function planInstances(ctx: AwsContext, net: Vpc, groups: Record<SecurityGroupName, Ref>, database: boolean): Promise<PlannedInstances> {
  const s = ctx.settings;
  const zones = await deploymentZones(ctx);
  const want = specs(s, net, zones, database);
  const image = await chooseImage(ctx, [
    { type: s.bastionInstanceType, zone: want.bastion.zone, setting: 'bastion_instance_type' },
    ...[...new Set(want.registries.map((r) => r.zone))].map((zone) => ({ type: s.registryInstanceType, zone, setting: 'registry_instance_type', harbor: true })),
    ...(want.db ? [{ type: s.dbInstanceType, zone: want.db.zone, setting: 'db_instance_type' }] : []),
  ]);
  const keyName = await planKeyPair(ctx);
  const [instances, volumes] = await Promise.all([
    projectInstances(ctx),
    ctx.clients.ec2.send(new DescribeVolumesCommand({ Filters: byTags(s) })).then((r) => r.Volumes ?? []),
  ]);
  const launch: Launch = { ctx, net, groups, keyName, image };
  const bastion = await planInstance(launch, named(instances, want.bastion.name), volumes, want.bastion);
  const [first, ...others] = want.registries as [InstanceSpec, ...InstanceSpec[]];
  const dataVolume = await planDataVolume(ctx, volumeOf(s, volumes), first.zone);
  const registry = await planInstance({ ...launch, dataVolume: dataVolume.volume }, named(instances, first.name), volumes, first);
  dataVolume.attachTo(registry, () => waitRunning(ctx, registry.name, registry.id.id));
  const registries = [registry];
  for (const spec of others) registries.push(await planInstance(launch, named(instances, spec.name), volumes, spec));
  const db = want.db && (await planInstance(launch, named(instances, want.db.name), volumes, want.db));
  planSurplus(ctx, instances, database);
  const bastionIp = await planBastionIp(ctx, bastion);
  return { bastion, registries, bastionIp, ...(db ? { db } : {}) };
}

/** Registry hosts beyond registry_count, and the db host when there is to be none, are terminated. */
function planSurplus(ctx: AwsContext, instances: Ec2Instance[], database: boolean): void {
  const s = ctx.settings;
  const prefix = `${s.project}-`;
  for (const i of instances) {
    const name = nameTag(i.Tags);
    const what = name.startsWith(prefix) ? name.slice(prefix.length) : '';
    const k = REGISTRY_NAME.exec(what);
    if ((k && Number(k[1] ?? 1) > s.registryCount) || (what === 'db' && !database)) {
      ctx.add({ action: 'delete', kind: 'instance', name, id: i.InstanceId!, run: () => terminate(ctx, [{ id: i.InstanceId!, name }]) });
    }
  }
}

async function consoleHostKeys(ctx: AwsContext, id: string): Promise<string[]> {
  const output = (await ctx.clients.ec2.send(new GetConsoleOutputCommand({ InstanceId: id }))).Output;
  return output ? hostKeysFromConsole(Buffer.from(output, 'base64').toString('utf8')) : [];
}

/**
 * The instance's host keys. A new one prints them once cloud-init has run, within
 * host_key_wait_seconds or never (an image that does not print them); an old one's console may
 * have rolled past them, and then the keys pinned at its creation stay in use.
 */
async function hostKeys(ctx: AwsContext, p: PlannedInstance, host: string): Promise<string[]> {
  const id = p.id.id;
  if (!p.fresh) {
    // One look: a no-op apply does not wait (what an earlier apply pinned stays).
    const keys = await consoleHostKeys(ctx, id);
    if (!keys.length) ctx.say(`instance ${p.name} (${id}): no host keys in its console output now; the ones pinned before (if any) stay in use`);
    return keys;
  }
  const wait = ctx.settings.hostKeyWaitSeconds;
  try {
    return await waitFor(ctx, `host keys of instance ${p.name} (${id}) in its console output`, async () => {
      const keys = await consoleHostKeys(ctx, id);
      return { state: 'cloud-init not done', done: keys.length ? keys : undefined };
    }, wait * 1000);
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    ctx.say(
      `instance ${p.name} (${id}) showed no host keys on its console within host_key_wait_seconds (${wait} s): its key is not pinned. ` +
        `Pin it: paste the host's key (ssh-keyscan from a trusted network, or the AWS console) into the known_hosts file, ` +
        `or accept it once on first contact with --host-key-checking accept-new -l ${host}`,
    );
    return [];
  }
}

/** After apply: the instances running, their addresses and host keys (what the inventory is written from). */
export async function collectInstances(ctx: AwsContext, p: PlannedInstances): Promise<Instances> {
  const all = [p.bastion, ...p.registries, ...(p.db ? [p.db] : [])];
  const found = await Promise.all(all.map(async (i): Promise<Instance> => {
    const running = await waitRunning(ctx, i.name, i.id.id);
    return { id: i.id.id, privateIp: running.PrivateIpAddress!, hostKeys: await hostKeys(ctx, i, i.host) };
  }));
  const [bastion, ...rest] = found as [Instance, ...Instance[]];
  return {
    bastion: { ...bastion, publicIp: p.bastionIp.publicIp.id },
    registries: rest.slice(0, p.registries.length),
    ...(p.db ? { db: rest[p.registries.length]! } : {}),
  };
}

/** Terminates the project's instances, then releases the bastion's address and deletes the key pair. The data volume stays (see data-volume.ts). */
export async function planInstancesGone(ctx: AwsContext): Promise<void> {
  const { settings: s, clients: { ec2 } } = ctx;
  const notGone = { Name: 'instance-state-name', Values: [...LIVE.Values, 'shutting-down'] };
  const instances = ((await ec2.send(new DescribeInstancesCommand({ Filters: [...byTags(s), notGone] }))).Reservations ?? []).flatMap((r) => r.Instances ?? []);
  for (const i of instances) {
    const name = nameTag(i.Tags);
    ctx.add({ action: 'delete', kind: 'instance', name, id: i.InstanceId!, run: () => terminate(ctx, [{ id: i.InstanceId!, name }]) });
  }
  await planElasticIpsGone(ctx, 'bastion-eip');
  await planKeyPairGone(ctx);
}

/** The addresses apply knows as soon as the bastion's Elastic IP exists (the others are fixed), before host keys. */
export function plannedAddresses(s: AwsSettings, p: PlannedInstances): Instances | undefined {
  const all = [p.bastion, ...p.registries, ...(p.db ? [p.db] : [])];
  if (!p.bastionIp.publicIp.known || all.some((i) => !i.id.known)) return undefined;
  return {
    bastion: { id: p.bastion.id.id, privateIp: '', hostKeys: [], publicIp: p.bastionIp.publicIp.id },
    registries: p.registries.map((r, i) => ({ id: r.id.id, privateIp: registryAddress(s, i + 1), hostKeys: [] })),
    ...(p.db ? { db: { id: p.db.id.id, privateIp: s.dbPrivateIp, hostKeys: [] } } : {}),
  };
}
