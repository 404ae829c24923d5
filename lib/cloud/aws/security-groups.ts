// The reference's six security groups ("web-in-medina" is the admin network's HTTPS), their
// rules put back exactly as wanted: a missing rule is added, any other peer revoked.
import {
  AuthorizeSecurityGroupEgressCommand, AuthorizeSecurityGroupIngressCommand, CreateSecurityGroupCommand, DeleteSecurityGroupCommand, DescribeSecurityGroupsCommand,
  RevokeSecurityGroupEgressCommand, RevokeSecurityGroupIngressCommand, type IpPermission, type SecurityGroup,
} from '@aws-sdk/client-ec2';
import { explainInUse } from './errors.ts';
import { byTags, named, nameTag, readOnce, Ref, resourceName, type AwsContext } from './plan.ts';
import type { AwsSettings } from './settings.ts';
import { tagSpec } from './vpc.ts';

export type SecurityGroupName = 'ssh-in' | 'ssh-out' | 'ssh-in-local' | 'web-out' | 'web-in-local' | 'web-in-admin';

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

/** The reference's groups and rules. */
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

async function planSecurityGroup(ctx: AwsContext, vpc: Ref, group: SecurityGroupName, rules: Rule[]): Promise<Ref> {
  const { settings: s, clients: { ec2 } } = ctx;
  const name = resourceName(s, group);
  const found = named(await projectGroups(ctx), name);
  if (!found) {
    const ref = new Ref();
    ctx.add({
      action: 'create', kind: 'security group', name, detail: rules.map(describeRule).join(', '),
      run: async () => {
        const id = ref.set((await ec2.send(new CreateSecurityGroupCommand({ VpcId: vpc.id, GroupName: name, Description: GROUP_PURPOSE[group], TagSpecifications: tagSpec(s, 'security-group', name) }))).GroupId!);
        // A new group allows all egress; it goes unless wanted, like any other extra rule.
        const allOut: Rule = { direction: 'out', protocol: '-1', cidr: '0.0.0.0/0' };
        const keep = rules.some((r) => ruleKey(r) === ruleKey(allOut));
        await changeRules(ctx, id, keep ? [] : [allOut], rules.filter((r) => ruleKey(r) !== ruleKey(allOut)));
        return id;
      },
    });
    return ref;
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
  return new Ref(id);
}

export async function planSecurityGroups(ctx: AwsContext, vpc: Ref): Promise<Record<SecurityGroupName, Ref>> {
  const rules = securityGroupRules(ctx.settings);
  const groups = {} as Record<SecurityGroupName, Ref>;
  for (const group of GROUP_NAMES) groups[group] = await planSecurityGroup(ctx, vpc, group, rules[group]);
  return groups;
}

export async function planSecurityGroupsGone(ctx: AwsContext): Promise<void> {
  const { ec2 } = ctx.clients;
  for (const g of await projectGroups(ctx)) {
    const what = `security group ${g.GroupName}`;
    ctx.add({
      action: 'delete', kind: 'security group', name: nameTag(g.Tags), id: g.GroupId!,
      run: async () => {
        try {
          await ec2.send(new DeleteSecurityGroupCommand({ GroupId: g.GroupId! }));
        } catch (err) {
          throw explainInUse(err, what, 'destroy the instances and the NAT gateway first');
        }
      },
    });
  }
}
