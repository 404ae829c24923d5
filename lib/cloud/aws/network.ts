// The reference's VPC and NAT_gateway directories: a VPC with a public and a private subnet,
// an internet gateway and its route, six security groups, and (while wanted) a NAT gateway that
// lets the private subnet out. Everything is found again by its Project and Name tags.
import {
  AllocateAddressCommand, AssociateAddressCommand, AssociateRouteTableCommand, AttachInternetGatewayCommand, AuthorizeSecurityGroupEgressCommand,
  AuthorizeSecurityGroupIngressCommand, CreateInternetGatewayCommand, CreateNatGatewayCommand, CreateRouteCommand, CreateRouteTableCommand,
  CreateSecurityGroupCommand, CreateSubnetCommand, CreateVpcCommand, DeleteInternetGatewayCommand, DeleteNatGatewayCommand,
  DeleteRouteTableCommand, DeleteSecurityGroupCommand, DeleteSubnetCommand, DeleteVpcCommand, DescribeAddressesCommand,
  DescribeAvailabilityZonesCommand, DescribeInstancesCommand, DescribeInternetGatewaysCommand, DescribeNatGatewaysCommand, DescribeRouteTablesCommand,
  DescribeSecurityGroupsCommand, DescribeSubnetsCommand, DescribeVpcAttributeCommand, DescribeVpcsCommand, DetachInternetGatewayCommand,
  DisassociateAddressCommand, DisassociateRouteTableCommand, ModifySubnetAttributeCommand, ModifyVpcAttributeCommand, ReleaseAddressCommand, ReplaceRouteCommand, ReplaceRouteTableAssociationCommand,
  RevokeSecurityGroupEgressCommand, RevokeSecurityGroupIngressCommand,
  type IpPermission, type ResourceType, type RouteTable, type SecurityGroup, type Subnet,
} from '@aws-sdk/client-ec2';
import { UserError } from '../../errors.ts';
import { byTags, KNOWN_AFTER_APPLY, nameTag, resourceName, tagsFor, type AwsContext } from './plan.ts';
import type { AwsSettings } from './settings.ts';
import { explainInUse, waitFor } from './wait.ts';

export type SecurityGroupName = 'ssh-in' | 'ssh-out' | 'ssh-in-local' | 'web-out' | 'web-in-local' | 'web-in-admin';

export interface Network {
  vpcId: string;
  publicSubnetId: string;
  privateSubnetId: string;
  securityGroups: Record<SecurityGroupName, string>;
}

/** One security group rule: a protocol and port range, from (ingress) or to (egress) one peer. */
export interface Rule {
  direction: 'in' | 'out';
  /** tcp, udp, icmp, or -1 for all (which has no ports). */
  protocol: string;
  from?: number;
  to?: number;
  /** An IPv4 or IPv6 CIDR block; rules found on AWS may also name a group (sg-…) or prefix list (pl-…). */
  cidr: string;
}

/** The reference's groups and rules; "web-in-medina" is the admin network's HTTPS. */
export function securityGroupRules(s: AwsSettings): Record<SecurityGroupName, Rule[]> {
  const tcp = (direction: Rule['direction'], port: number, cidr: string): Rule => ({ direction, protocol: 'tcp', from: port, to: port, cidr });
  return {
    'ssh-in': [tcp('in', 22, s.adminCidr)],
    'ssh-out': [tcp('out', 22, s.vpcCidr)],
    'ssh-in-local': [tcp('in', 22, s.vpcCidr)],
    'web-out': [tcp('out', 80, '0.0.0.0/0'), tcp('out', 443, '0.0.0.0/0')],
    'web-in-local': [tcp('in', 80, s.vpcCidr), tcp('in', 443, s.vpcCidr)],
    'web-in-admin': [tcp('in', 443, s.adminCidr)],
  };
}
const GROUP_PURPOSE: Record<SecurityGroupName, string> = {
  'ssh-in': 'SSH from the admin network',
  'ssh-out': 'SSH to the VPC',
  'ssh-in-local': 'SSH from the VPC',
  'web-out': 'HTTP and HTTPS to anywhere (packages)',
  'web-in-local': 'HTTP and HTTPS from the VPC',
  'web-in-admin': 'HTTPS from the admin network',
};
const GROUP_NAMES = Object.keys(GROUP_PURPOSE) as SecurityGroupName[];

const portsOf = (r: Rule) => (r.protocol === '-1' ? 'all' : `${r.protocol}/${r.from === r.to ? r.from : `${r.from}-${r.to}`}`);
export const describeRule = (r: Rule): string => `${r.direction === 'in' ? 'ingress' : 'egress'} ${portsOf(r)} ${r.direction === 'in' ? 'from' : 'to'} ${r.cidr}`;

/** A group's rules, one per peer (how AWS groups them does not matter; any peer we do not want is revoked). */
export function rulesOf(g: SecurityGroup): Rule[] {
  const expand = (direction: Rule['direction'], perms: IpPermission[] = []) =>
    perms.flatMap((p) => {
      const peers = [
        ...(p.IpRanges ?? []).map((r) => r.CidrIp), ...(p.Ipv6Ranges ?? []).map((r) => r.CidrIpv6),
        ...(p.UserIdGroupPairs ?? []).map((r) => r.GroupId), ...(p.PrefixListIds ?? []).map((r) => r.PrefixListId),
      ];
      return peers.map((cidr): Rule => ({ direction, protocol: p.IpProtocol ?? '-1', cidr: cidr ?? '', ...(p.IpProtocol === '-1' ? {} : { from: p.FromPort, to: p.ToPort }) }));
    });
  return [...expand('in', g.IpPermissions), ...expand('out', g.IpPermissionsEgress)];
}
const ruleKey = (r: Rule) => `${r.direction} ${portsOf(r)} ${r.cidr}`;
const peerOf = (peer: string): IpPermission =>
  peer.startsWith('sg-') ? { UserIdGroupPairs: [{ GroupId: peer }] }
  : peer.startsWith('pl-') ? { PrefixListIds: [{ PrefixListId: peer }] }
  : peer.includes(':') ? { Ipv6Ranges: [{ CidrIpv6: peer }] }
  : { IpRanges: [{ CidrIp: peer }] };
const permissionOf = (r: Rule): IpPermission => ({
  IpProtocol: r.protocol,
  ...(r.protocol === '-1' ? {} : { FromPort: r.from, ToPort: r.to }),
  ...peerOf(r.cidr),
});

const tagSpec = (s: AwsSettings, type: ResourceType, name: string) => [{ ResourceType: type, Tags: tagsFor(s, name) }];

// ---------------------------------------------------------------- the VPC

async function ensureVpc(ctx: AwsContext): Promise<string> {
  const { settings: s, clients: { ec2 } } = ctx;
  const name = resourceName(s, 'vpc');
  const [vpc] = (await ec2.send(new DescribeVpcsCommand({ Filters: byTags(s, name) }))).Vpcs ?? [];
  if (!vpc) {
    if (ctx.dryRun) {
      ctx.record({ action: 'create', kind: 'vpc', name, detail: `${s.vpcCidr}, DNS hostnames on` });
      return KNOWN_AFTER_APPLY;
    }
    const id = (await ec2.send(new CreateVpcCommand({ CidrBlock: s.vpcCidr, TagSpecifications: tagSpec(s, 'vpc', name) }))).Vpc!.VpcId!;
    // DNS support is on in a new VPC; hostnames are not.
    await ec2.send(new ModifyVpcAttributeCommand({ VpcId: id, EnableDnsHostnames: { Value: true } }));
    ctx.record({ action: 'create', kind: 'vpc', name, id, detail: `${s.vpcCidr}, DNS hostnames on` });
    return id;
  }
  const id = vpc.VpcId!;
  if (vpc.CidrBlock !== s.vpcCidr) {
    ctx.record({ action: 'update', kind: 'vpc', name, id, detail: `CIDR is ${vpc.CidrBlock}, settings say ${s.vpcCidr}: destroy the network to change it` });
    return id;
  }
  const support = (await ec2.send(new DescribeVpcAttributeCommand({ VpcId: id, Attribute: 'enableDnsSupport' }))).EnableDnsSupport?.Value;
  const hostnames = (await ec2.send(new DescribeVpcAttributeCommand({ VpcId: id, Attribute: 'enableDnsHostnames' }))).EnableDnsHostnames?.Value;
  const off = [...(support ? [] : ['DNS support']), ...(hostnames ? [] : ['DNS hostnames'])];
  if (!off.length) {
    ctx.record({ action: 'ok', kind: 'vpc', name, id });
    return id;
  }
  if (!ctx.dryRun) {
    if (!support) await ec2.send(new ModifyVpcAttributeCommand({ VpcId: id, EnableDnsSupport: { Value: true } }));
    if (!hostnames) await ec2.send(new ModifyVpcAttributeCommand({ VpcId: id, EnableDnsHostnames: { Value: true } }));
  }
  ctx.record({ action: 'update', kind: 'vpc', name, id, detail: `turn on ${off.join(' and ')}` });
  return id;
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

interface SubnetSpec { what: string; cidr: string; zone: string; publicIps: boolean }

async function ensureSubnet(ctx: AwsContext, vpcId: string, want: SubnetSpec): Promise<string> {
  const { settings: s, clients: { ec2 } } = ctx;
  const name = resourceName(s, want.what);
  const detail = `${want.cidr} in ${want.zone}${want.publicIps ? ', public IPs on launch' : ''}`;
  const [subnet]: Subnet[] = (await ec2.send(new DescribeSubnetsCommand({ Filters: byTags(s, name) }))).Subnets ?? [];
  if (!subnet) {
    if (ctx.dryRun) {
      ctx.record({ action: 'create', kind: 'subnet', name, detail });
      return KNOWN_AFTER_APPLY;
    }
    const id = (await ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: want.cidr, AvailabilityZone: want.zone, TagSpecifications: tagSpec(s, 'subnet', name) }))).Subnet!.SubnetId!;
    if (want.publicIps) await ec2.send(new ModifySubnetAttributeCommand({ SubnetId: id, MapPublicIpOnLaunch: { Value: true } }));
    ctx.record({ action: 'create', kind: 'subnet', name, id, detail });
    return id;
  }
  const id = subnet.SubnetId!;
  if (subnet.CidrBlock !== want.cidr || subnet.AvailabilityZone !== want.zone || subnet.VpcId !== vpcId) {
    const is = `${subnet.CidrBlock} in ${subnet.AvailabilityZone}${subnet.VpcId !== vpcId ? ` of ${subnet.VpcId}` : ''}`;
    ctx.record({ action: 'update', kind: 'subnet', name, id, detail: `is ${is}, settings say ${detail}: destroy the network to change it` });
    return id;
  }
  if (Boolean(subnet.MapPublicIpOnLaunch) === want.publicIps) {
    ctx.record({ action: 'ok', kind: 'subnet', name, id });
    return id;
  }
  if (!ctx.dryRun) await ec2.send(new ModifySubnetAttributeCommand({ SubnetId: id, MapPublicIpOnLaunch: { Value: want.publicIps } }));
  ctx.record({ action: 'update', kind: 'subnet', name, id, detail: `public IPs on launch ${want.publicIps ? 'on' : 'off'}` });
  return id;
}

async function ensureInternetGateway(ctx: AwsContext, vpcId: string): Promise<string> {
  const { settings: s, clients: { ec2 } } = ctx;
  const name = resourceName(s, 'igw');
  const [igw] = (await ec2.send(new DescribeInternetGatewaysCommand({ Filters: byTags(s, name) }))).InternetGateways ?? [];
  if (!igw) {
    if (ctx.dryRun) {
      ctx.record({ action: 'create', kind: 'internet gateway', name });
      return KNOWN_AFTER_APPLY;
    }
    const id = (await ec2.send(new CreateInternetGatewayCommand({ TagSpecifications: tagSpec(s, 'internet-gateway', name) }))).InternetGateway!.InternetGatewayId!;
    await ec2.send(new AttachInternetGatewayCommand({ InternetGatewayId: id, VpcId: vpcId }));
    ctx.record({ action: 'create', kind: 'internet gateway', name, id });
    return id;
  }
  const id = igw.InternetGatewayId!;
  const attached = (igw.Attachments ?? []).map((a) => a.VpcId);
  if (attached.includes(vpcId)) {
    ctx.record({ action: 'ok', kind: 'internet gateway', name, id });
    return id;
  }
  if (!ctx.dryRun) {
    for (const other of attached) await ec2.send(new DetachInternetGatewayCommand({ InternetGatewayId: id, VpcId: other }));
    await ec2.send(new AttachInternetGatewayCommand({ InternetGatewayId: id, VpcId: vpcId }));
  }
  ctx.record({ action: 'update', kind: 'internet gateway', name, id, detail: `attach to ${vpcId}${attached.length ? ` (now on ${attached.join(', ')})` : ''}` });
  return id;
}

/** Where a route table sends 0.0.0.0/0. */
type Target = { GatewayId: string } | { NatGatewayId: string };
const targetId = (t: Target) => ('GatewayId' in t ? t.GatewayId : t.NatGatewayId);

/** The subnet's explicit association with a route table (a subnet has at most one), if any. */
async function subnetAssociation(ctx: AwsContext, subnetId: string) {
  if (subnetId === KNOWN_AFTER_APPLY) return undefined;
  const tables = (await ctx.clients.ec2.send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'association.subnet-id', Values: [subnetId] }] }))).RouteTables ?? [];
  return tables.flatMap((t) => t.Associations ?? []).find((a) => a.SubnetId === subnetId && !a.Main);
}

/** Associates the subnet with the table, taking it from the table it is with now (AWS allows one). */
async function associate(ctx: AwsContext, tableId: string, subnetId: string, current: { RouteTableAssociationId?: string } | undefined): Promise<void> {
  const { ec2 } = ctx.clients;
  if (current) await ec2.send(new ReplaceRouteTableAssociationCommand({ AssociationId: current.RouteTableAssociationId!, RouteTableId: tableId }));
  else await ec2.send(new AssociateRouteTableCommand({ RouteTableId: tableId, SubnetId: subnetId }));
}

/** A route table with 0.0.0.0/0 → target, associated with one subnet (and only that one). */
async function ensureRouteTable(ctx: AwsContext, what: string, vpcId: string, subnetId: string, target: Target): Promise<void> {
  const { settings: s, clients: { ec2 } } = ctx;
  const name = resourceName(s, what);
  const detail = `0.0.0.0/0 → ${targetId(target)}, for ${subnetId}`;
  const [table]: RouteTable[] = (await ec2.send(new DescribeRouteTablesCommand({ Filters: byTags(s, name) }))).RouteTables ?? [];
  if (!table) {
    if (ctx.dryRun) return ctx.record({ action: 'create', kind: 'route table', name, detail });
    const id = (await ec2.send(new CreateRouteTableCommand({ VpcId: vpcId, TagSpecifications: tagSpec(s, 'route-table', name) }))).RouteTable!.RouteTableId!;
    await ec2.send(new CreateRouteCommand({ RouteTableId: id, DestinationCidrBlock: '0.0.0.0/0', ...target }));
    await associate(ctx, id, subnetId, await subnetAssociation(ctx, subnetId));
    return ctx.record({ action: 'create', kind: 'route table', name, id, detail });
  }
  const id = table.RouteTableId!;
  const changes: (() => Promise<unknown>)[] = [];
  const said: string[] = [];
  const route = table.Routes?.find((r) => r.DestinationCidrBlock === '0.0.0.0/0');
  const now = route?.GatewayId ?? route?.NatGatewayId;
  if (now !== targetId(target)) {
    said.push(`0.0.0.0/0 → ${targetId(target)}${now ? ` (was ${now})` : ''}`);
    const input = { RouteTableId: id, DestinationCidrBlock: '0.0.0.0/0', ...target };
    changes.push(() => ec2.send(route ? new ReplaceRouteCommand(input) : new CreateRouteCommand(input)));
  }
  const associations = (table.Associations ?? []).filter((a) => !a.Main);
  for (const a of associations.filter((x) => x.SubnetId !== subnetId)) {
    said.push(`disassociate ${a.SubnetId}`);
    changes.push(() => ec2.send(new DisassociateRouteTableCommand({ AssociationId: a.RouteTableAssociationId! })));
  }
  if (!associations.some((a) => a.SubnetId === subnetId)) {
    const current = await subnetAssociation(ctx, subnetId);
    said.push(`associate ${subnetId}${current ? ` (now with ${current.RouteTableId})` : ''}`);
    changes.push(() => associate(ctx, id, subnetId, current));
  }
  if (!said.length) return ctx.record({ action: 'ok', kind: 'route table', name, id });
  if (!ctx.dryRun) for (const change of changes) await change();
  ctx.record({ action: 'update', kind: 'route table', name, id, detail: said.join(', ') });
}

async function ensureSecurityGroup(ctx: AwsContext, vpcId: string, group: SecurityGroupName, rules: Rule[]): Promise<string> {
  const { settings: s, clients: { ec2 } } = ctx;
  const name = resourceName(s, group);
  const [found] = (await ec2.send(new DescribeSecurityGroupsCommand({ Filters: byTags(s, name) }))).SecurityGroups ?? [];
  if (!found && ctx.dryRun) {
    ctx.record({ action: 'create', kind: 'security group', name, detail: rules.map(describeRule).join(', ') });
    return KNOWN_AFTER_APPLY;
  }
  const id = found?.GroupId
    ?? (await ec2.send(new CreateSecurityGroupCommand({ VpcId: vpcId, GroupName: name, Description: GROUP_PURPOSE[group], TagSpecifications: tagSpec(s, 'security-group', name) }))).GroupId!;
  // A new group allows all egress; it goes unless wanted, like any other extra rule.
  const actual = found ? rulesOf(found) : [{ direction: 'out' as const, protocol: '-1', cidr: '0.0.0.0/0' }];
  const wanted = new Set(rules.map(ruleKey));
  const have = new Set(actual.map(ruleKey));
  const extra = actual.filter((r) => !wanted.has(ruleKey(r)));
  const missing = rules.filter((r) => !have.has(ruleKey(r)));
  if (!ctx.dryRun) {
    const only = (rules: Rule[], direction: Rule['direction']) => rules.filter((r) => r.direction === direction).map(permissionOf);
    const send = async (IpPermissions: IpPermission[], call: (input: { GroupId: string; IpPermissions: IpPermission[] }) => Promise<unknown>) => {
      if (IpPermissions.length) await call({ GroupId: id, IpPermissions });
    };
    await send(only(extra, 'in'), (i) => ec2.send(new RevokeSecurityGroupIngressCommand(i)));
    await send(only(extra, 'out'), (i) => ec2.send(new RevokeSecurityGroupEgressCommand(i)));
    await send(only(missing, 'in'), (i) => ec2.send(new AuthorizeSecurityGroupIngressCommand(i)));
    await send(only(missing, 'out'), (i) => ec2.send(new AuthorizeSecurityGroupEgressCommand(i)));
  }
  if (!found) ctx.record({ action: 'create', kind: 'security group', name, id, detail: rules.map(describeRule).join(', ') });
  else if (extra.length || missing.length) {
    const detail = [...missing.map((r) => `+ ${describeRule(r)}`), ...extra.map((r) => `- ${describeRule(r)}`)].join(', ');
    ctx.record({ action: 'update', kind: 'security group', name, id, detail });
  } else ctx.record({ action: 'ok', kind: 'security group', name, id });
  return id;
}

/** The VPC directory: VPC, subnets, internet gateway, public routes, security groups. */
export async function ensureNetwork(ctx: AwsContext): Promise<Network> {
  const s = ctx.settings;
  const vpcId = await ensureVpc(ctx);
  const [first, second] = await availabilityZones(ctx);
  const publicSubnetId = await ensureSubnet(ctx, vpcId, { what: 'public', cidr: s.publicSubnetCidr, zone: first, publicIps: true });
  const privateSubnetId = await ensureSubnet(ctx, vpcId, { what: 'private', cidr: s.privateSubnetCidr, zone: second, publicIps: false });
  const igwId = await ensureInternetGateway(ctx, vpcId);
  await ensureRouteTable(ctx, 'public-routes', vpcId, publicSubnetId, { GatewayId: igwId });
  const rules = securityGroupRules(s);
  const securityGroups = {} as Record<SecurityGroupName, string>;
  for (const group of GROUP_NAMES) securityGroups[group] = await ensureSecurityGroup(ctx, vpcId, group, rules[group]);
  return { vpcId, publicSubnetId, privateSubnetId, securityGroups };
}

// ---------------------------------------------------------------- Elastic IPs

/** An Elastic IP tagged `<project>-<what>` (associated with `instanceId` when given): its allocation id and address. */
export async function ensureElasticIp(ctx: AwsContext, what: string, instanceId?: string): Promise<{ allocationId: string; publicIp: string }> {
  const { settings: s, clients: { ec2 } } = ctx;
  const name = resourceName(s, what);
  const [found] = (await ec2.send(new DescribeAddressesCommand({ Filters: byTags(s, name) }))).Addresses ?? [];
  const forInstance = instanceId ? `, for ${instanceId}` : '';
  if (!found && ctx.dryRun) {
    ctx.record({ action: 'create', kind: 'elastic ip', name, detail: forInstance.slice(2) || undefined });
    return { allocationId: KNOWN_AFTER_APPLY, publicIp: KNOWN_AFTER_APPLY };
  }
  const address = found ?? (await ec2.send(new AllocateAddressCommand({ Domain: 'vpc', TagSpecifications: tagSpec(s, 'elastic-ip', name) })));
  const allocationId = address.AllocationId!;
  const publicIp = address.PublicIp!;
  const associate = instanceId !== undefined && found?.InstanceId !== instanceId;
  if (associate && !ctx.dryRun) await ec2.send(new AssociateAddressCommand({ AllocationId: allocationId, InstanceId: instanceId, AllowReassociation: true }));
  if (!found) ctx.record({ action: 'create', kind: 'elastic ip', name, id: allocationId, detail: `${publicIp}${forInstance}` });
  else if (associate) ctx.record({ action: 'update', kind: 'elastic ip', name, id: allocationId, detail: `${publicIp}: associate with ${instanceId}${found.InstanceId ? ` (now ${found.InstanceId})` : ''}` });
  else ctx.record({ action: 'ok', kind: 'elastic ip', name, id: allocationId, detail: publicIp });
  return { allocationId, publicIp };
}

/** Releases the Elastic IPs tagged `<project>-<what>`, disassociating them first. */
export async function releaseElasticIps(ctx: AwsContext, what: string): Promise<void> {
  const { settings: s, clients: { ec2 } } = ctx;
  const name = resourceName(s, what);
  for (const a of (await ec2.send(new DescribeAddressesCommand({ Filters: byTags(s, name) }))).Addresses ?? []) {
    if (!ctx.dryRun) {
      if (a.AssociationId) await ec2.send(new DisassociateAddressCommand({ AssociationId: a.AssociationId }));
      await ec2.send(new ReleaseAddressCommand({ AllocationId: a.AllocationId! }));
    }
    ctx.record({ action: 'delete', kind: 'elastic ip', name, id: a.AllocationId!, detail: a.PublicIp });
  }
}

// ---------------------------------------------------------------- NAT gateway

const LIVE_NAT = { Name: 'state', Values: ['pending', 'available'] };

async function liveNatGateways(ctx: AwsContext) {
  const s = ctx.settings;
  return (await ctx.clients.ec2.send(new DescribeNatGatewaysCommand({ Filter: [...byTags(s, resourceName(s, 'nat')), LIVE_NAT] }))).NatGateways ?? [];
}

async function natGatewayState(ctx: AwsContext, id: string): Promise<string> {
  const [nat] = (await ctx.clients.ec2.send(new DescribeNatGatewaysCommand({ NatGatewayIds: [id] }))).NatGateways ?? [];
  return nat?.State ?? 'deleted';
}

/** The NAT_gateway directory: present when settings.natGateway, else removed. */
export async function ensureNatGateway(ctx: AwsContext, net: Network): Promise<void> {
  if (!ctx.settings.natGateway) return destroyNatGateway(ctx);
  const { settings: s, clients: { ec2 } } = ctx;
  const name = resourceName(s, 'nat');
  const eip = await ensureElasticIp(ctx, 'nat-eip');
  let [nat] = await liveNatGateways(ctx);
  let id = nat?.NatGatewayId;
  if (!id && ctx.dryRun) {
    ctx.record({ action: 'create', kind: 'nat gateway', name, detail: `in ${net.publicSubnetId}` });
    id = KNOWN_AFTER_APPLY;
  } else if (!id) {
    nat = (await ec2.send(new CreateNatGatewayCommand({ SubnetId: net.publicSubnetId, AllocationId: eip.allocationId, TagSpecifications: tagSpec(s, 'natgateway', name) }))).NatGateway!;
    id = nat.NatGatewayId!;
    ctx.record({ action: 'create', kind: 'nat gateway', name, id, detail: `in ${net.publicSubnetId}` });
  } else if (nat!.SubnetId !== net.publicSubnetId) {
    ctx.record({ action: 'update', kind: 'nat gateway', name, id, detail: `is in ${nat!.SubnetId}, not ${net.publicSubnetId}: destroy it to move it` });
  } else ctx.record({ action: 'ok', kind: 'nat gateway', name, id });
  if (!ctx.dryRun && nat?.State !== 'available') {
    const natId = id;
    await waitFor(ctx, `NAT gateway ${name} (${natId})`, async () => {
      const state = await natGatewayState(ctx, natId);
      if (state === 'failed' || state === 'deleted') throw new UserError(`NAT gateway ${name} (${natId}) is ${state}; run destroy for the NAT gateway, then apply again`);
      return { state, done: state === 'available' ? true : undefined };
    });
  }
  await ensureRouteTable(ctx, 'private-routes', net.vpcId, net.privateSubnetId, { NatGatewayId: id });
}

async function deleteRouteTables(ctx: AwsContext, what: string): Promise<void> {
  const { settings: s, clients: { ec2 } } = ctx;
  const name = resourceName(s, what);
  for (const table of (await ec2.send(new DescribeRouteTablesCommand({ Filters: byTags(s, name) }))).RouteTables ?? []) {
    if (!ctx.dryRun) {
      for (const a of table.Associations ?? []) if (!a.Main) await ec2.send(new DisassociateRouteTableCommand({ AssociationId: a.RouteTableAssociationId! }));
      await ec2.send(new DeleteRouteTableCommand({ RouteTableId: table.RouteTableId! }));
    }
    ctx.record({ action: 'delete', kind: 'route table', name, id: table.RouteTableId! });
  }
}

export async function destroyNatGateway(ctx: AwsContext): Promise<void> {
  const name = resourceName(ctx.settings, 'nat');
  await deleteRouteTables(ctx, 'private-routes');
  for (const nat of await liveNatGateways(ctx)) {
    const id = nat.NatGatewayId!;
    if (!ctx.dryRun) {
      await ctx.clients.ec2.send(new DeleteNatGatewayCommand({ NatGatewayId: id }));
      // Its address stays in use until it is gone.
      await waitFor(ctx, `NAT gateway ${name} (${id}) to be deleted`, async () => {
        const state = await natGatewayState(ctx, id);
        return { state, done: state === 'deleted' ? true : undefined };
      });
    }
    ctx.record({ action: 'delete', kind: 'nat gateway', name, id });
  }
  await releaseElasticIps(ctx, 'nat-eip');
}

// ---------------------------------------------------------------- destroy

const IN_USE_HINT = 'destroy the instances and the NAT gateway first';

/** Refuses, before deleting anything, to take down a VPC that still has instances or a NAT gateway. */
async function refuseWhileInUse(ctx: AwsContext, vpcIds: string[]): Promise<void> {
  if (!vpcIds.length) return;
  const { ec2 } = ctx.clients;
  const inVpcs = { Name: 'vpc-id', Values: vpcIds };
  const nats = (await ec2.send(new DescribeNatGatewaysCommand({ Filter: [inVpcs, LIVE_NAT] }))).NatGateways ?? [];
  const instances = ((await ec2.send(new DescribeInstancesCommand({ Filters: [inVpcs, { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped', 'shutting-down'] }] }))).Reservations ?? [])
    .flatMap((r) => r.Instances ?? []);
  const users = [...instances.map((i) => `instance ${i.InstanceId}`), ...nats.map((n) => `NAT gateway ${n.NatGatewayId}`)];
  if (users.length) throw new UserError(`vpc ${resourceName(ctx.settings, 'vpc')} is still in use by ${users.join(', ')} (${IN_USE_HINT})`);
}

/** Removes the VPC directory's resources, dependents first; what is already gone is skipped. */
export async function destroyNetwork(ctx: AwsContext): Promise<void> {
  const { settings: s, clients: { ec2 } } = ctx;
  const project = byTags(s);
  const run = async (what: string, call: () => Promise<unknown>) => {
    if (ctx.dryRun) return;
    try {
      await call();
    } catch (err) {
      throw explainInUse(err, what, IN_USE_HINT);
    }
  };
  const vpcs = (await ec2.send(new DescribeVpcsCommand({ Filters: project }))).Vpcs ?? [];
  if (!ctx.dryRun) await refuseWhileInUse(ctx, vpcs.map((v) => v.VpcId!));

  for (const g of (await ec2.send(new DescribeSecurityGroupsCommand({ Filters: project }))).SecurityGroups ?? []) {
    await run(`security group ${g.GroupName}`, () => ec2.send(new DeleteSecurityGroupCommand({ GroupId: g.GroupId! })));
    ctx.record({ action: 'delete', kind: 'security group', name: nameTag(g.Tags), id: g.GroupId! });
  }
  await deleteRouteTables(ctx, 'public-routes');
  for (const igw of (await ec2.send(new DescribeInternetGatewaysCommand({ Filters: project }))).InternetGateways ?? []) {
    const name = nameTag(igw.Tags);
    for (const a of igw.Attachments ?? []) {
      await run(`internet gateway ${name}`, () => ec2.send(new DetachInternetGatewayCommand({ InternetGatewayId: igw.InternetGatewayId!, VpcId: a.VpcId! })));
    }
    await run(`internet gateway ${name}`, () => ec2.send(new DeleteInternetGatewayCommand({ InternetGatewayId: igw.InternetGatewayId! })));
    ctx.record({ action: 'delete', kind: 'internet gateway', name, id: igw.InternetGatewayId! });
  }
  for (const subnet of (await ec2.send(new DescribeSubnetsCommand({ Filters: project }))).Subnets ?? []) {
    const name = nameTag(subnet.Tags);
    await run(`subnet ${name}`, () => ec2.send(new DeleteSubnetCommand({ SubnetId: subnet.SubnetId! })));
    ctx.record({ action: 'delete', kind: 'subnet', name, id: subnet.SubnetId! });
  }
  for (const vpc of vpcs) {
    const name = nameTag(vpc.Tags);
    await run(`vpc ${name}`, () => ec2.send(new DeleteVpcCommand({ VpcId: vpc.VpcId! })));
    ctx.record({ action: 'delete', kind: 'vpc', name, id: vpc.VpcId! });
  }
}
