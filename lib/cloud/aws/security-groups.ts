// The reference's six security groups ("web-in-medina" is the admin network's HTTPS), and with
// a db host the two that admit PostgreSQL and Redis from the registry hosts only; their rules
// put back exactly as wanted: a missing rule is added, any other peer revoked.
import {
  AuthorizeSecurityGroupEgressCommand, AuthorizeSecurityGroupIngressCommand, CreateSecurityGroupCommand, DeleteSecurityGroupCommand, DescribeSecurityGroupsCommand,
  RevokeSecurityGroupEgressCommand, RevokeSecurityGroupIngressCommand, type IpPermission, type SecurityGroup,
} from '@aws-sdk/client-ec2';
import { explainInUse } from './errors.ts';
import { byTags, named, nameTag, readOnce, Ref, resourceName, type AwsContext } from './plan.ts';
import type { AwsSettings } from './settings.ts';
import { tagSpec } from './vpc.ts';

export type SecurityGroupName = 'ssh-in' | 'ssh-out' | 'ssh-in-local' | 'web-out' | 'web-in-local' | 'web-in-admin' | 'db-clients' | 'db-in';

/** Another of the project's groups as a rule's peer: its id once it exists, its name in the plan. */
export interface GroupPeer {
  name: string;
  ref: Ref;
}

/** One security group rule: a protocol and port range, from (ingress) or to (egress) one peer. */
export interface Rule {
  direction: 'in' | 'out';
  /** tcp, udp, icmp, or -1 for all (which has no ports). */
  protocol: string;
  from?: number;
  to?: number;
  /** An IPv4 or IPv6 CIDR block or one of our groups; rules found on AWS may also name a group (sg-…) or prefix list (pl-…). */
  peer: string | GroupPeer;
}

/** The reference's groups and rules; with `groups` (the db host's), the two for the database. */
export function securityGroupRules(s: AwsSettings, groups?: Record<SecurityGroupName, Ref>): Partial<Record<SecurityGroupName, Rule[]>> {
  const tcp = (direction: Rule['direction'], port: number, peer: Rule['peer']): Rule => ({ direction, protocol: 'tcp', from: port, to: port, peer });
  const clients: GroupPeer | undefined = groups && { name: resourceName(s, 'db-clients'), ref: groups['db-clients'] };
  const database = (direction: Rule['direction'], peer: Rule['peer']) => [tcp(direction, POSTGRES_PORT, peer), tcp(direction, REDIS_PORT, peer)];
  return {
    'ssh-in': [tcp('in', 22, s.adminCidr)],
    'ssh-out': [tcp('out', 22, s.vpcCidr)],
    'ssh-in-local': [tcp('in', 22, s.vpcCidr)],
    'web-out': [tcp('out', 80, '0.0.0.0/0'), tcp('out', 443, '0.0.0.0/0')],
    'web-in-local': [tcp('in', 80, s.vpcCidr), tcp('in', 443, s.vpcCidr)],
    'web-in-admin': [tcp('in', 443, s.adminCidr)],
    ...(clients ? { 'db-clients': database('out', s.vpcCidr), 'db-in': database('in', clients) } : {}),
  };
}
const GROUP_PURPOSE: Record<SecurityGroupName, string> = {
  'ssh-in': 'SSH from the admin network',
  'ssh-out': 'SSH to the VPC',
  'ssh-in-local': 'SSH from the VPC',
  'web-out': 'HTTP and HTTPS to anywhere (packages)',
  'web-in-local': 'HTTP and HTTPS from the VPC',
  'web-in-admin': 'HTTPS from the admin network',
  'db-clients': 'the registry hosts: PostgreSQL and Redis to the VPC',
  'db-in': 'PostgreSQL and Redis from the registry hosts only',
};
const GROUP_NAMES = Object.keys(GROUP_PURPOSE) as SecurityGroupName[];
/** PostgreSQL's and Redis's ports (the db roles': roles/shared/topology.ts). */
const POSTGRES_PORT = 5432;
const REDIS_PORT = 6379;

const portsOf = (r: Rule) => (r.protocol === '-1' ? 'all' : `${r.protocol}/${r.from === r.to ? r.from : `${r.from}-${r.to}`}`);
const peerName = (p: Rule['peer']) => (typeof p === 'string' ? p : p.name);
export const describeRule = (r: Rule): string => `${r.direction === 'in' ? 'ingress' : 'egress'} ${portsOf(r)} ${r.direction === 'in' ? 'from' : 'to'} ${peerName(r.peer)}`;

/** A group's rules, one per peer (how AWS groups them does not matter; any peer we do not want is revoked). */
export function rulesOf(g: SecurityGroup): Rule[] {
  const expand = (direction: Rule['direction'], perms: IpPermission[] = []) =>
    perms.flatMap((p) => {
      const peers = [
        ...(p.IpRanges ?? []).map((r) => r.CidrIp), ...(p.Ipv6Ranges ?? []).map((r) => r.CidrIpv6),
        ...(p.UserIdGroupPairs ?? []).map((r) => r.GroupId), ...(p.PrefixListIds ?? []).map((r) => r.PrefixListId),
      ];
      return peers.map((peer): Rule => ({ direction, protocol: p.IpProtocol ?? '-1', peer: peer ?? '', ...(p.IpProtocol === '-1' ? {} : { from: p.FromPort, to: p.ToPort }) }));
    });
  return [...expand('in', g.IpPermissions), ...expand('out', g.IpPermissionsEgress)];
}
/** A group not made yet is a peer no rule on AWS has. */
const peerId = (p: Rule['peer']) => (typeof p === 'string' ? p : p.ref.known ? p.ref.id : `new ${p.name}`);
const ruleKey = (r: Rule) => `${r.direction} ${portsOf(r)} ${peerId(r.peer)}`;
const peerOf = (peer: string): IpPermission =>
  peer.startsWith('sg-') ? { UserIdGroupPairs: [{ GroupId: peer }] }
  : peer.startsWith('pl-') ? { PrefixListIds: [{ PrefixListId: peer }] }
  : peer.includes(':') ? { Ipv6Ranges: [{ CidrIpv6: peer }] }
  : { IpRanges: [{ CidrIp: peer }] };
const permissionOf = (r: Rule): IpPermission => ({
  IpProtocol: r.protocol,
  ...(r.protocol === '-1' ? {} : { FromPort: r.from, ToPort: r.to }),
  ...peerOf(typeof r.peer === 'string' ? r.peer : r.peer.ref.id),
});

/** The project's security groups, read once per plan. */
const projectGroups = (ctx: AwsContext) =>
  readOnce(ctx, 'security-groups', async () => (await ctx.clients.ec2.send(new DescribeSecurityGroupsCommand({ Filters: byTags(ctx.settings) }))).SecurityGroups ?? []);

/** Sends the rule changes that make `extra` go and `missing` come. */
async function changeRules(ctx: AwsContext, id: string, extra: Rule[], missing: Rule[]): Promise<void> {
  const { ec2 } = ctx.clients;
  const only = (rules: Rule[], direction: Rule['direction']) => rules.filter((r) => r.direction === direction).map(permissionOf);
  const send = async (IpPermissions: IpPermission[], call: (input: { GroupId: string; IpPermissions: IpPermission[] }) => Promise<unknown>) => {
    if (IpPermissions.length) await call({ GroupId: id, IpPermissions });
  };
  await send(only(extra, 'in'), (i) => ec2.send(new RevokeSecurityGroupIngressCommand(i)));
  await send(only(extra, 'out'), (i) => ec2.send(new RevokeSecurityGroupEgressCommand(i)));
  await send(only(missing, 'in'), (i) => ec2.send(new AuthorizeSecurityGroupIngressCommand(i)));
  await send(only(missing, 'out'), (i) => ec2.send(new AuthorizeSecurityGroupEgressCommand(i)));
}

async function planSecurityGroup(ctx: AwsContext, vpc: Ref, group: SecurityGroupName, rules: Rule[], ref: Ref, found: SecurityGroup | undefined): Promise<void> {
  const { settings: s, clients: { ec2 } } = ctx;
  const name = resourceName(s, group);
  if (!found) {
    ctx.add({
      action: 'create', kind: 'security group', name, detail: rules.map(describeRule).join(', '),
      run: async () => {
        const id = ref.set((await ec2.send(new CreateSecurityGroupCommand({ VpcId: vpc.id, GroupName: name, Description: GROUP_PURPOSE[group], TagSpecifications: tagSpec(s, 'security-group', name) }))).GroupId!);
        // A new group allows all egress; it goes unless wanted, like any other extra rule.
        const allOut: Rule = { direction: 'out', protocol: '-1', peer: '0.0.0.0/0' };
        const keep = rules.some((r) => ruleKey(r) === ruleKey(allOut));
        await changeRules(ctx, id, keep ? [] : [allOut], rules.filter((r) => ruleKey(r) !== ruleKey(allOut)));
        return id;
      },
    });
    return;
  }
  const id = found.GroupId!;
  const actual = rulesOf(found);
  const wanted = new Set(rules.map(ruleKey));
  const have = new Set(actual.map(ruleKey));
  const extra = actual.filter((r) => !wanted.has(ruleKey(r)));
  const missing = rules.filter((r) => !have.has(ruleKey(r)));
  if (!extra.length && !missing.length) ctx.add({ action: 'ok', kind: 'security group', name, id });
  else {
    const detail = [...missing.map((r) => `+ ${describeRule(r)}`), ...extra.map((r) => `- ${describeRule(r)}`)].join(', ');
    ctx.add({ action: 'update', kind: 'security group', name, id, detail, run: () => changeRules(ctx, id, extra, missing) });
  }
}

/** The groups (the db's two when `database`), each an id now or once apply made it: a rule may name another group. */
export async function planSecurityGroups(ctx: AwsContext, vpc: Ref, database: boolean): Promise<Record<SecurityGroupName, Ref>> {
  const s = ctx.settings;
  const found = await projectGroups(ctx);
  const groups = Object.fromEntries(GROUP_NAMES.map((g) => [g, new Ref(named(found, resourceName(s, g))?.GroupId)])) as Record<SecurityGroupName, Ref>;
  const rules = securityGroupRules(s, database ? groups : undefined);
  for (const group of GROUP_NAMES) {
    const want = rules[group];
    const is = named(found, resourceName(s, group));
    if (want) await planSecurityGroup(ctx, vpc, group, want, groups[group], is);
  }
  return groups;
}

/** Deletes a group; a group another one's rules name goes after it (see planSecurityGroupsGone). */
function planGroupGone(ctx: AwsContext, g: SecurityGroup): void {
  const what = `security group ${g.GroupName}`;
  ctx.add({
    action: 'delete', kind: 'security group', name: nameTag(g.Tags), id: g.GroupId!,
    run: async () => {
      try {
        await ctx.clients.ec2.send(new DeleteSecurityGroupCommand({ GroupId: g.GroupId! }));
      } catch (err) {
        throw explainInUse(err, what, 'destroy the instances and the NAT gateway first');
      }
    },
  });
}

/** Groups deleted, those whose rules name another group first (AWS refuses to delete a group a rule names). */
function planGroupsGone(ctx: AwsContext, groups: SecurityGroup[]): void {
  const namesGroup = (g: SecurityGroup) => rulesOf(g).some((r) => typeof r.peer === 'string' && r.peer.startsWith('sg-'));
  for (const g of [...groups.filter(namesGroup), ...groups.filter((g) => !namesGroup(g))]) planGroupGone(ctx, g);
}

export async function planSecurityGroupsGone(ctx: AwsContext): Promise<void> {
  planGroupsGone(ctx, await projectGroups(ctx));
}

/** Without a db host, its two groups go (planned after the instances, which leave them first). */
export async function planDatabaseGroupsGone(ctx: AwsContext): Promise<void> {
  const names = (['db-clients', 'db-in'] as const).map((g) => resourceName(ctx.settings, g));
  planGroupsGone(ctx, (await projectGroups(ctx)).filter((g) => names.includes(nameTag(g.Tags))));
}
