// The reference's VPC directory, less its security groups: a VPC with DNS hostnames, a public
// and a private subnet in two zones (with a db host, a second private subnet in the public's
// zone, so the registry hosts spread over both), an internet gateway and the public route table.
import {
  AttachInternetGatewayCommand, CreateInternetGatewayCommand, CreateSubnetCommand, CreateVpcCommand, DeleteInternetGatewayCommand, DeleteSubnetCommand,
  DeleteVpcCommand, DescribeAvailabilityZonesCommand, DescribeInstancesCommand, DescribeInternetGatewaysCommand, DescribeNatGatewaysCommand, DescribeSubnetsCommand,
  DescribeVpcAttributeCommand, DescribeVpcsCommand, DetachInternetGatewayCommand, ModifySubnetAttributeCommand, ModifyVpcAttributeCommand, type ResourceType,
} from '@aws-sdk/client-ec2';
import { UserError } from '../../errors.ts';
import { explainInUse } from './errors.ts';
import { byTags, named, nameTag, readOnce, Ref, resourceName, tagsFor, type AwsContext } from './plan.ts';
import { planRouteTable, planRouteTablesGone } from './route-tables.ts';
import type { AwsSettings } from './settings.ts';

export interface Vpc {
  vpc: Ref;
  publicSubnet: Ref;
  privateSubnet: Ref;
  /** The private subnet's zone: the registry's data volume lives there. */
  privateZone: string;
  /** The second private subnet (with a db host), in `privateZoneB`. */
  privateSubnetB?: Ref;
  privateZoneB: string;
  publicRoutes: Ref;
}

export const tagSpec = (s: AwsSettings, type: ResourceType, name: string) => [{ ResourceType: type, Tags: tagsFor(s, name) }];

/** The project's VPCs (normally one), read once per plan. */
export const projectVpcs = (ctx: AwsContext) =>
  readOnce(ctx, 'vpcs', async () => (await ctx.clients.ec2.send(new DescribeVpcsCommand({ Filters: byTags(ctx.settings) }))).Vpcs ?? []);

async function planVpcItself(ctx: AwsContext): Promise<Ref> {
  const { settings: s, clients: { ec2 } } = ctx;
  const name = resourceName(s, 'vpc');
  const vpc = named(await projectVpcs(ctx), name);
  const detail = `${s.vpcCidr}, DNS hostnames on`;
  if (!vpc) {
    const ref = new Ref();
    ctx.add({
      action: 'create', kind: 'vpc', name, detail,
      run: async () => {
        const id = ref.set((await ec2.send(new CreateVpcCommand({ CidrBlock: s.vpcCidr, TagSpecifications: tagSpec(s, 'vpc', name) }))).Vpc!.VpcId!);
        // DNS support is on in a new VPC; hostnames are not.
        await ec2.send(new ModifyVpcAttributeCommand({ VpcId: id, EnableDnsHostnames: { Value: true } }));
        return id;
      },
    });
    return ref;
  }
  const id = vpc.VpcId!;
  if (vpc.CidrBlock !== s.vpcCidr) {
    ctx.add({ action: 'replace', kind: 'vpc', name, id, detail: `CIDR ${vpc.CidrBlock} → ${s.vpcCidr}: destroy the network, then apply` });
    return new Ref(id);
  }
  const [support, hostnames] = await Promise.all(
    (['enableDnsSupport', 'enableDnsHostnames'] as const).map(async (Attribute) => {
      const a = await ec2.send(new DescribeVpcAttributeCommand({ VpcId: id, Attribute }));
      return Boolean((Attribute === 'enableDnsSupport' ? a.EnableDnsSupport : a.EnableDnsHostnames)?.Value);
    }),
  );
  const off = [...(support ? [] : ['DNS support']), ...(hostnames ? [] : ['DNS hostnames'])];
  if (!off.length) ctx.add({ action: 'ok', kind: 'vpc', name, id });
  else {
    ctx.add({
      action: 'update', kind: 'vpc', name, id, detail: `turn on ${off.join(' and ')}`,
      run: async () => {
        if (!support) await ec2.send(new ModifyVpcAttributeCommand({ VpcId: id, EnableDnsSupport: { Value: true } }));
        if (!hostnames) await ec2.send(new ModifyVpcAttributeCommand({ VpcId: id, EnableDnsHostnames: { Value: true } }));
      },
    });
  }
  return new Ref(id);
}

/** The region's first two availability zones (public subnet in the first, private in the second). */
async function availabilityZones(ctx: AwsContext): Promise<[string, string]> {
  const zones = ((await ctx.clients.ec2.send(new DescribeAvailabilityZonesCommand({ Filters: [{ Name: 'state', Values: ['available'] }] }))).AvailabilityZones ?? [])
    .filter((z) => !z.ZoneType || z.ZoneType === 'availability-zone')
    .map((z) => z.ZoneName!)
    .sort();
  if (zones.length < 2) throw new UserError(`${ctx.settings.file}: region ${ctx.settings.region} has fewer than two availability zones`);
  return [zones[0]!, zones[1]!];
}

/** The zones the instances go to, read once per plan (the instance type check needs them too). */
export const deploymentZones = (ctx: AwsContext) => readOnce(ctx, 'zones', () => availabilityZones(ctx));

/** The second private subnet's `what`; its route table is `<what>-routes`. */
export const PRIVATE_B = 'private-b';

/** The project's subnets, read once per plan. */
const projectSubnets = (ctx: AwsContext) =>
  readOnce(ctx, 'subnets', async () => (await ctx.clients.ec2.send(new DescribeSubnetsCommand({ Filters: byTags(ctx.settings) }))).Subnets ?? []);

interface SubnetSpec { what: string; cidr: string; zone: string; publicIps: boolean }

async function planSubnet(ctx: AwsContext, vpc: Ref, want: SubnetSpec): Promise<Ref> {
  const { settings: s, clients: { ec2 } } = ctx;
  const name = resourceName(s, want.what);
  const detail = `${want.cidr} in ${want.zone}${want.publicIps ? ', public IPs on launch' : ''}`;
  const subnet = named(await projectSubnets(ctx), name);
  const setPublicIps = (SubnetId: string) => ec2.send(new ModifySubnetAttributeCommand({ SubnetId, MapPublicIpOnLaunch: { Value: want.publicIps } }));
  if (!subnet) {
    const ref = new Ref();
    ctx.add({
      action: 'create', kind: 'subnet', name, detail,
      run: async () => {
        const id = ref.set((await ec2.send(new CreateSubnetCommand({ VpcId: vpc.id, CidrBlock: want.cidr, AvailabilityZone: want.zone, TagSpecifications: tagSpec(s, 'subnet', name) }))).Subnet!.SubnetId!);
        if (want.publicIps) await setPublicIps(id);
        return id;
      },
    });
    return ref;
  }
  const id = subnet.SubnetId!;
  if (subnet.CidrBlock !== want.cidr || subnet.AvailabilityZone !== want.zone || (vpc.known && subnet.VpcId !== vpc.id)) {
    const is = `${subnet.CidrBlock} in ${subnet.AvailabilityZone}${vpc.known && subnet.VpcId !== vpc.id ? ` of ${subnet.VpcId}` : ''}`;
    ctx.add({ action: 'replace', kind: 'subnet', name, id, detail: `is ${is}, settings say ${detail}: destroy the network, then apply` });
  } else if (Boolean(subnet.MapPublicIpOnLaunch) === want.publicIps) ctx.add({ action: 'ok', kind: 'subnet', name, id });
  else ctx.add({ action: 'update', kind: 'subnet', name, id, detail: `public IPs on launch ${want.publicIps ? 'on' : 'off'}`, run: () => setPublicIps(id).then(() => undefined) });
  return new Ref(id);
}

async function planInternetGateway(ctx: AwsContext, vpc: Ref): Promise<Ref> {
  const { settings: s, clients: { ec2 } } = ctx;
  const name = resourceName(s, 'igw');
  const igw = named((await ec2.send(new DescribeInternetGatewaysCommand({ Filters: byTags(s) }))).InternetGateways, name);
  if (!igw) {
    const ref = new Ref();
    ctx.add({
      action: 'create', kind: 'internet gateway', name,
      run: async () => {
        const id = ref.set((await ec2.send(new CreateInternetGatewayCommand({ TagSpecifications: tagSpec(s, 'internet-gateway', name) }))).InternetGateway!.InternetGatewayId!);
        await ec2.send(new AttachInternetGatewayCommand({ InternetGatewayId: id, VpcId: vpc.id }));
        return id;
      },
    });
    return ref;
  }
  const id = igw.InternetGatewayId!;
  const attached = (igw.Attachments ?? []).map((a) => a.VpcId!);
  if (vpc.known && attached.includes(vpc.id)) ctx.add({ action: 'ok', kind: 'internet gateway', name, id });
  else {
    ctx.add({
      action: 'update', kind: 'internet gateway', name, id, detail: `attach to ${vpc}${attached.length ? ` (now on ${attached.join(', ')})` : ''}`,
      run: async () => {
        for (const other of attached) await ec2.send(new DetachInternetGatewayCommand({ InternetGatewayId: id, VpcId: other }));
        await ec2.send(new AttachInternetGatewayCommand({ InternetGatewayId: id, VpcId: vpc.id }));
      },
    });
  }
  return new Ref(id);
}

/** The VPC directory's resources but the security groups: VPC, subnets, internet gateway, public routes. */
export async function planVpc(ctx: AwsContext, database: boolean): Promise<Vpc> {
  const s = ctx.settings;
  const vpc = await planVpcItself(ctx);
  const [first, second] = await deploymentZones(ctx);
  const publicSubnet = await planSubnet(ctx, vpc, { what: 'public', cidr: s.publicSubnetCidr, zone: first, publicIps: true });
  const privateSubnet = await planSubnet(ctx, vpc, { what: 'private', cidr: s.privateSubnetCidr, zone: second, publicIps: false });
  const privateSubnetB = database ? await planSubnet(ctx, vpc, { what: PRIVATE_B, cidr: s.privateSubnetBCidr, zone: first, publicIps: false }) : undefined;
  const igw = await planInternetGateway(ctx, vpc);
  const publicRoutes = await planRouteTable(ctx, 'public-routes', vpc, publicSubnet, { GatewayId: igw });
  return { vpc, publicSubnet, privateSubnet, privateZone: second, privateZoneB: first, publicRoutes, ...(privateSubnetB ? { privateSubnetB } : {}) };
}

/** Without a db host, the second private subnet goes (planned after the instances in it). */
export async function planPrivateSubnetBGone(ctx: AwsContext): Promise<void> {
  const s = ctx.settings;
  const subnet = named(await projectSubnets(ctx), resourceName(s, PRIVATE_B));
  if (subnet) ctx.add({ action: 'delete', kind: 'subnet', name: resourceName(s, PRIVATE_B), id: subnet.SubnetId!, run: () => ctx.clients.ec2.send(new DeleteSubnetCommand({ SubnetId: subnet.SubnetId! })).then(() => undefined) });
}

// ---------------------------------------------------------------- destroy

const IN_USE_HINT = 'destroy the instances and the NAT gateway first';

/** Refuses to plan taking down a VPC that keeps instances or a NAT gateway which this destroy leaves. */
async function refuseWhileInUse(ctx: AwsContext, vpcIds: string[], check: { instances: boolean; nat: boolean }): Promise<void> {
  if (!vpcIds.length) return;
  const { ec2 } = ctx.clients;
  const inVpcs = { Name: 'vpc-id', Values: vpcIds };
  const nats = check.nat ? ((await ec2.send(new DescribeNatGatewaysCommand({ Filter: [inVpcs, { Name: 'state', Values: ['pending', 'available'] }] }))).NatGateways ?? []) : [];
  const states = ['pending', 'running', 'stopping', 'stopped', 'shutting-down'];
  const instances = check.instances
    ? ((await ec2.send(new DescribeInstancesCommand({ Filters: [inVpcs, { Name: 'instance-state-name', Values: states }] }))).Reservations ?? []).flatMap((r) => r.Instances ?? [])
    : [];
  const users = [...instances.map((i) => `instance ${i.InstanceId}`), ...nats.map((n) => `NAT gateway ${n.NatGatewayId}`)];
  if (users.length) throw new UserError(`vpc ${resourceName(ctx.settings, 'vpc')} is still in use by ${users.join(', ')} (${IN_USE_HINT})`);
}

/**
 * Plans removing the VPC directory's resources (the security groups are planned before, by
 * their module), dependents first. `check` says which users of the VPC this destroy leaves.
 */
export async function planVpcGone(ctx: AwsContext, check: { instances: boolean; nat: boolean }): Promise<void> {
  const { settings: s, clients: { ec2 } } = ctx;
  const project = byTags(s);
  const vpcs = await projectVpcs(ctx);
  await refuseWhileInUse(ctx, vpcs.map((v) => v.VpcId!), check);
  const guarded = (what: string, call: () => Promise<unknown>) => async () => {
    try {
      await call();
    } catch (err) {
      throw explainInUse(err, what, IN_USE_HINT);
    }
  };
  await planRouteTablesGone(ctx, 'public-routes');
  for (const igw of (await ec2.send(new DescribeInternetGatewaysCommand({ Filters: project }))).InternetGateways ?? []) {
    const name = nameTag(igw.Tags);
    const id = igw.InternetGatewayId!;
    ctx.add({
      action: 'delete', kind: 'internet gateway', name, id,
      run: guarded(`internet gateway ${name}`, async () => {
        for (const a of igw.Attachments ?? []) await ec2.send(new DetachInternetGatewayCommand({ InternetGatewayId: id, VpcId: a.VpcId! }));
        await ec2.send(new DeleteInternetGatewayCommand({ InternetGatewayId: id }));
      }),
    });
  }
  for (const subnet of (await ec2.send(new DescribeSubnetsCommand({ Filters: project }))).Subnets ?? []) {
    const name = nameTag(subnet.Tags);
    ctx.add({ action: 'delete', kind: 'subnet', name, id: subnet.SubnetId!, run: guarded(`subnet ${name}`, () => ec2.send(new DeleteSubnetCommand({ SubnetId: subnet.SubnetId! }))) });
  }
  for (const vpc of vpcs) {
    const name = nameTag(vpc.Tags);
    ctx.add({ action: 'delete', kind: 'vpc', name, id: vpc.VpcId!, run: guarded(`vpc ${name}`, () => ec2.send(new DeleteVpcCommand({ VpcId: vpc.VpcId! }))) });
  }
}
