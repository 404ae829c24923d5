// The reference's EC2 directory: the admin key pair, the bastion (public subnet, with an Elastic
// IP) and the registry (private subnet, fixed address), and each one's SSH host keys read from
// its console output so the first connection is already pinned.
import { readFile } from 'node:fs/promises';
import {
  DeleteKeyPairCommand, DescribeImagesCommand, DescribeInstancesCommand, DescribeKeyPairsCommand, GetConsoleOutputCommand, ImportKeyPairCommand,
  ModifyInstanceAttributeCommand, RunInstancesCommand, TerminateInstancesCommand, type _InstanceType, type Instance as Ec2Instance,
} from '@aws-sdk/client-ec2';
import { UserError } from '../../errors.ts';
import { hostKeysFromConsole, publicKeyOf } from './console.ts';
import { ensureElasticIp, releaseElasticIps, type Network, type SecurityGroupName } from './network.ts';
import { byTags, KNOWN_AFTER_APPLY, nameTag, resourceName, tagsFor, type AwsContext } from './plan.ts';
import { awsErrorCode, waitFor } from './wait.ts';

export interface Instance {
  id: string;
  privateIp: string;
  /** OpenSSH public key lines, "ssh-ed25519 AAAA…", from the console output. */
  hostKeys: string[];
}

export interface Instances {
  bastion: Instance & { /** Its Elastic IP. */ publicIp: string };
  registry: Instance;
}

type Role = 'bastion' | 'registry';

interface InstanceSpec {
  role: Role;
  subnetId: string;
  groups: SecurityGroupName[];
  privateIp?: string;
}

const LIVE = { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] };

// ---------------------------------------------------------------- key pair

async function readPublicKey(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UserError(`${file}: cannot read the SSH public key (${(err as NodeJS.ErrnoException).code}); set ssh_public_key_file`);
  }
  const key = publicKeyOf(text.trim());
  if (!key) throw new UserError(`${file}: not an OpenSSH public key line ("ssh-ed25519 AAAA…")`);
  return key;
}

/** The operators' public key as key pair `<project>-admin`; its name. */
async function ensureKeyPair(ctx: AwsContext): Promise<string> {
  const { settings: s, clients: { ec2 } } = ctx;
  const name = resourceName(s, 'admin');
  const key = await readPublicKey(s.sshPublicKeyFile);
  const [found] = (await ec2.send(new DescribeKeyPairsCommand({ Filters: [{ Name: 'key-name', Values: [name] }], IncludePublicKey: true }))).KeyPairs ?? [];
  const current = found?.PublicKey ? publicKeyOf(found.PublicKey) : undefined;
  if (found && current === key) {
    ctx.record({ action: 'ok', kind: 'key pair', name, id: found.KeyPairId! });
    return name;
  }
  if (!ctx.dryRun) {
    if (found) await ec2.send(new DeleteKeyPairCommand({ KeyPairId: found.KeyPairId! }));
    await ec2.send(new ImportKeyPairCommand({
      KeyName: name, PublicKeyMaterial: new TextEncoder().encode(key), TagSpecifications: [{ ResourceType: 'key-pair', Tags: tagsFor(s, name) }],
    }));
  }
  ctx.record(found
    ? { action: 'update', kind: 'key pair', name, id: found.KeyPairId!, detail: `replaced by ${s.sshPublicKeyFile} (running instances keep the key they started with)` }
    : { action: 'create', kind: 'key pair', name, detail: s.sshPublicKeyFile });
  return name;
}

// ---------------------------------------------------------------- instances

async function findInstance(ctx: AwsContext, name: string): Promise<Ec2Instance | undefined> {
  const reservations = (await ctx.clients.ec2.send(new DescribeInstancesCommand({ Filters: [...byTags(ctx.settings, name), LIVE] }))).Reservations ?? [];
  return reservations.flatMap((r) => r.Instances ?? [])[0];
}

/** The AMI's root device, which the root volume's size and type apply to. */
async function rootDeviceName(ctx: AwsContext): Promise<string> {
  const [image] = (await ctx.clients.ec2.send(new DescribeImagesCommand({ ImageIds: [ctx.settings.ami] }))).Images ?? [];
  if (!image?.RootDeviceName) throw new UserError(`${ctx.settings.file}: ami ${ctx.settings.ami} is not an image available in ${ctx.settings.region}`);
  return image.RootDeviceName;
}

/** What differs between a running instance and the settings that AWS cannot change in place. */
function fixedDifferences(ctx: AwsContext, i: Ec2Instance, want: InstanceSpec): string[] {
  const s = ctx.settings;
  return [
    i.ImageId !== s.ami ? `ami ${i.ImageId} → ${s.ami}` : '',
    i.InstanceType !== s.instanceType ? `type ${i.InstanceType} → ${s.instanceType}` : '',
    i.SubnetId !== want.subnetId ? `subnet ${i.SubnetId} → ${want.subnetId}` : '',
    want.privateIp && i.PrivateIpAddress !== want.privateIp ? `private IP ${i.PrivateIpAddress} → ${want.privateIp}` : '',
  ].filter(Boolean);
}

/** One instance as ensureInstance left it: its id (KNOWN_AFTER_APPLY while planning one to launch), and what was there before. */
interface Placed {
  id: string;
  found?: Ec2Instance;
}

/** Finds or launches one instance, not waiting for it. */
async function ensureInstance(ctx: AwsContext, net: Network, keyName: string, want: InstanceSpec, root: () => Promise<string>): Promise<Placed> {
  const { settings: s, clients: { ec2 } } = ctx;
  const name = resourceName(s, want.role);
  const groupIds = want.groups.map((g) => net.securityGroups[g]);
  const found = await findInstance(ctx, name);
  if (!found) {
    const detail = `${s.ami} ${s.instanceType} in ${want.subnetId}${want.privateIp ? ` at ${want.privateIp}` : ''}`;
    if (ctx.dryRun) {
      ctx.record({ action: 'create', kind: 'instance', name, detail });
      return { id: KNOWN_AFTER_APPLY };
    }
    const made = await ec2.send(new RunInstancesCommand({
      ImageId: s.ami, InstanceType: s.instanceType as _InstanceType, MinCount: 1, MaxCount: 1, KeyName: keyName, SubnetId: want.subnetId, SecurityGroupIds: groupIds,
      ...(want.privateIp ? { PrivateIpAddress: want.privateIp } : {}),
      BlockDeviceMappings: [{ DeviceName: await root(), Ebs: { VolumeSize: s.rootVolumeGiB, VolumeType: 'gp3', DeleteOnTermination: true } }],
      TagSpecifications: [{ ResourceType: 'instance', Tags: tagsFor(s, name) }, { ResourceType: 'volume', Tags: tagsFor(s, `${name}-root`) }],
    }));
    const id = made.Instances![0]!.InstanceId!;
    ctx.record({ action: 'create', kind: 'instance', name, id, detail });
    return { id };
  }
  const id = found.InstanceId!;
  const fixed = fixedDifferences(ctx, found, want);
  if (fixed.length) {
    // Replacing an instance loses what is on it (the registry's database): only on request.
    ctx.record({ action: 'update', kind: 'instance', name, id, detail: `${fixed.join(', ')}: not changed in place; destroy the instances to apply it` });
    return { id, found };
  }
  const has = (found.SecurityGroups ?? []).map((g) => g.GroupId!).sort();
  if (has.join(' ') === [...groupIds].sort().join(' ')) {
    ctx.record({ action: 'ok', kind: 'instance', name, id });
    return { id, found };
  }
  if (!ctx.dryRun) await ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: id, Groups: groupIds }));
  ctx.record({ action: 'update', kind: 'instance', name, id, detail: `security groups ${has.join(', ')} → ${groupIds.join(', ')}` });
  return { id, found };
}

/** One instance by id; undefined while AWS does not show a new one yet, or no longer shows an old one. */
async function describeInstance(ctx: AwsContext, id: string): Promise<Ec2Instance | undefined> {
  try {
    return ((await ctx.clients.ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations ?? []).flatMap((r) => r.Instances ?? [])[0];
  } catch (err) {
    if (awsErrorCode(err) === 'InvalidInstanceID.NotFound') return undefined;
    throw err;
  }
}

async function waitRunning(ctx: AwsContext, name: string, id: string): Promise<Ec2Instance> {
  return waitFor(ctx, `instance ${name} (${id})`, async () => {
    const i = await describeInstance(ctx, id);
    if (!i) return { state: 'not visible yet' };
    const state = i.State?.Name ?? 'unknown';
    if (state !== 'pending' && state !== 'running') throw new UserError(`instance ${name} (${id}) is ${state}; start it in the AWS console or destroy the instances`);
    return { state, done: state === 'running' ? i : undefined };
  });
}

async function consoleHostKeys(ctx: AwsContext, id: string): Promise<string[]> {
  const output = (await ctx.clients.ec2.send(new GetConsoleOutputCommand({ InstanceId: id }))).Output;
  return output ? hostKeysFromConsole(Buffer.from(output, 'base64').toString('utf8')) : [];
}

/**
 * The instance's host keys. A new one prints them once cloud-init has run; an old one's
 * console may have rolled past them, and then the keys pinned at its creation stay in use.
 */
async function hostKeys(ctx: AwsContext, name: string, id: string, isNew: boolean): Promise<string[]> {
  if (!isNew) {
    const keys = await consoleHostKeys(ctx, id);
    if (!keys.length) ctx.say(`instance ${name} (${id}): no host keys in its console output any more; the pinned ones stay in use`);
    return keys;
  }
  return waitFor(ctx, `host keys of instance ${name} (${id}) in its console output`, async () => {
    const keys = await consoleHostKeys(ctx, id);
    return { state: 'cloud-init not done', done: keys.length ? keys : undefined };
  });
}

/** The EC2 directory: key pair, bastion with its Elastic IP, registry; waits until both run and show their host keys. */
export async function ensureInstances(ctx: AwsContext, net: Network): Promise<Instances> {
  const s = ctx.settings;
  const keyName = await ensureKeyPair(ctx);
  let root: Promise<string> | undefined;
  const rootOnce = () => (root ??= rootDeviceName(ctx));
  const specs: InstanceSpec[] = [
    { role: 'bastion', subnetId: net.publicSubnetId, groups: ['ssh-in', 'web-out', 'web-in-admin', 'ssh-out'] },
    { role: 'registry', subnetId: net.privateSubnetId, groups: ['ssh-in-local', 'web-out', 'web-in-local'], privateIp: s.registryPrivateIp },
  ];
  const placed: Placed[] = [];
  for (const spec of specs) placed.push(await ensureInstance(ctx, net, keyName, spec, rootOnce));
  const [bastion, registry] = placed as [Placed, Placed];
  if (ctx.dryRun) {
    const planned = (p: Placed, spec: InstanceSpec): Instance => ({ id: p.id, privateIp: p.found?.PrivateIpAddress ?? spec.privateIp ?? KNOWN_AFTER_APPLY, hostKeys: [] });
    const eip = await ensureElasticIp(ctx, 'bastion-eip', bastion.id);
    return { bastion: { ...planned(bastion, specs[0]!), publicIp: eip.publicIp }, registry: planned(registry, specs[1]!) };
  }
  const running = await Promise.all(specs.map((spec, n) => waitRunning(ctx, resourceName(s, spec.role), placed[n]!.id)));
  const eip = await ensureElasticIp(ctx, 'bastion-eip', bastion.id);
  const [bastionKeys, registryKeys] = await Promise.all(specs.map((spec, n) => {
    const { id, found } = placed[n]!;
    // Launched now or lately: cloud-init's keys are still to come, or still on the console.
    const isNew = !found || Date.now() - (running[n]!.LaunchTime?.getTime() ?? 0) < 30 * 60_000;
    return hostKeys(ctx, resourceName(s, spec.role), id, isNew);
  }));
  return {
    bastion: { id: bastion.id, privateIp: running[0]!.PrivateIpAddress!, hostKeys: bastionKeys!, publicIp: eip.publicIp },
    registry: { id: registry.id, privateIp: running[1]!.PrivateIpAddress!, hostKeys: registryKeys! },
  };
}

/** Terminates the project's instances and waits until they are gone, then releases the bastion's address and deletes the key pair. */
export async function destroyInstances(ctx: AwsContext): Promise<void> {
  const { settings: s, clients: { ec2 } } = ctx;
  const notGone = { Name: 'instance-state-name', Values: [...LIVE.Values, 'shutting-down'] };
  const instances = ((await ec2.send(new DescribeInstancesCommand({ Filters: [...byTags(s), notGone] }))).Reservations ?? []).flatMap((r) => r.Instances ?? []);
  if (instances.length && !ctx.dryRun) {
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: instances.map((i) => i.InstanceId!) }));
    for (const i of instances) {
      await waitFor(ctx, `instance ${nameTag(i.Tags)} (${i.InstanceId}) to terminate`, async () => {
        const state = (await describeInstance(ctx, i.InstanceId!))?.State?.Name ?? 'terminated';
        return { state, done: state === 'terminated' ? true : undefined };
      });
    }
  }
  for (const i of instances) ctx.record({ action: 'delete', kind: 'instance', name: nameTag(i.Tags), id: i.InstanceId! });
  await releaseElasticIps(ctx, 'bastion-eip');
  const name = resourceName(s, 'admin');
  for (const k of (await ec2.send(new DescribeKeyPairsCommand({ Filters: [{ Name: 'key-name', Values: [name] }] }))).KeyPairs ?? []) {
    if (!ctx.dryRun) await ec2.send(new DeleteKeyPairCommand({ KeyPairId: k.KeyPairId! }));
    ctx.record({ action: 'delete', kind: 'key pair', name, id: k.KeyPairId! });
  }
}
