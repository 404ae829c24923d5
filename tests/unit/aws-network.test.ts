// The VPC and NAT_gateway directories against the EC2 mock, through the real SDK: plan, apply
// from nothing, a rerun that changes nothing, drift put right in place, the NAT gateway going
// away when not wanted, and destroy.
import t from 'tap';
import { planNat, planNatGone } from '../../lib/cloud/aws/nat.ts';
import type { Change } from '../../lib/cloud/aws/plan.ts';
import { planSecurityGroups, planSecurityGroupsGone, securityGroupRules } from '../../lib/cloud/aws/security-groups.ts';
import { planVpc, planVpcGone } from '../../lib/cloud/aws/vpc.ts';
import { mockContext, mockSettings, shownChange, type RecordingContext } from '../helpers/aws-mock/context.ts';
import { ec2State } from '../helpers/aws-mock/ec2.ts';
import { isMutating } from '../helpers/aws-mock/index.ts';
import { handleEc2 } from '../helpers/aws-mock/ec2.ts';
import { startAwsMock } from '../helpers/aws-mock/server.ts';

const mock = await startAwsMock({ ec2: handleEc2 });
t.teardown(() => mock.close());

/** Plans the VPC and NAT_gateway directories. */
async function planNetwork(ctx: RecordingContext): Promise<void> {
  const vpc = await planVpc(ctx, false);
  await planSecurityGroups(ctx, vpc.vpc, false);
  await planNat(ctx, vpc);
}

/** Plans their removal, dependents first. */
async function planNetworkGone(ctx: RecordingContext): Promise<void> {
  await planNatGone(ctx);
  await planSecurityGroupsGone(ctx);
  await planVpcGone(ctx, { instances: true, nat: false });
}

/** One plan (and unless dryRun, its apply): the plan, what was said, which calls changed something (none while planning). */
async function run(opts: { dryRun?: boolean; natGateway?: boolean; destroy?: boolean } = {}) {
  const ctx = mockContext(mock, mockSettings(mock, { natGateway: opts.natGateway ?? true }));
  const before = mock.calls.length;
  let planMutating: string[];
  try {
    await (opts.destroy ? planNetworkGone : planNetwork)(ctx);
    planMutating = mock.calls.slice(before).filter(isMutating).map((c) => c.action);
    if (!opts.dryRun) await ctx.apply();
  } finally {
    ctx.close();
  }
  const mutating = mock.calls.slice(before).filter(isMutating).map((c) => c.action);
  return { changes: ctx.planned.map(shownChange), said: ctx.said, mutating, planMutating };
}
const summary = (changes: Change[]) => changes.map((c) => `${c.action} ${c.kind} ${c.name}`);
const st = ec2State(mock);
const tagged = <T extends { tags: Record<string, string> }>(m: Map<string, T>) => [...m.values()].filter((x) => x.tags.Project === 'harbor');
const byName = <T extends { tags: Record<string, string> }>(m: Map<string, T>, name: string) => {
  const found = tagged(m).filter((x) => x.tags.Name === name);
  if (found.length !== 1) throw new Error(`${found.length} resources named ${name}`);
  return found[0]!;
};
const ALL = [
  'vpc harbor-vpc', 'subnet harbor-public', 'subnet harbor-private', 'internet gateway harbor-igw', 'route table harbor-public-routes',
  ...['ssh-in', 'ssh-out', 'ssh-in-local', 'web-out', 'web-in-local', 'web-in-admin'].map((g) => `security group harbor-${g}`),
  'elastic ip harbor-nat-eip', 'nat gateway harbor-nat', 'route table harbor-private-routes',
];

t.test('plan on an empty account: everything to create, nothing changed', async (t) => {
  const { changes, mutating } = await run({ dryRun: true });
  t.same(mutating, []);
  t.same(summary(changes), ALL.map((x) => `create ${x}`));
  t.equal(st.vpcs.size, 0);
});

t.test('apply from nothing makes the reference network', async (t) => {
  const from = mock.calls.length;
  const { changes, said, planMutating } = await run();
  const refused = mock.calls.slice(from).filter((c) => c.action === 'RevokeSecurityGroupEgress' && c.status === 400);
  t.equal(refused.length, 6, "each new group's first rule change is not found yet (eventual consistency) and is retried");
  t.same(planMutating, [], 'planning writes nothing');
  t.same(summary(changes), ALL.map((x) => `create ${x}`));
  t.ok(said.some((m) => /NAT gateway harbor-nat .*pending/.test(m)), 'says it waits for the NAT gateway');

  const vpc = byName(st.vpcs, 'harbor-vpc');
  t.match(vpc, { cidr: '172.20.0.0/16', dnsHostnames: true, dnsSupport: true });
  const pub = byName(st.subnets, 'harbor-public');
  const priv = byName(st.subnets, 'harbor-private');
  t.match(pub, { vpcId: vpc.id, cidr: '172.20.1.0/24', az: 'eu-west-1a', mapPublicIp: true });
  t.match(priv, { vpcId: vpc.id, cidr: '172.20.2.0/24', az: 'eu-west-1b', mapPublicIp: false });
  const igw = byName(st.igws, 'harbor-igw');
  t.equal(igw.vpcId, vpc.id);

  const routesOut = (name: string) => {
    const rt = byName(st.routeTables, name);
    return { vpc: rt.vpcId, out: rt.routes.filter((r) => r.cidr === '0.0.0.0/0').map((r) => r.gatewayId ?? r.natGatewayId), subnets: rt.associations.map((a) => a.subnetId) };
  };
  t.same(routesOut('harbor-public-routes'), { vpc: vpc.id, out: [igw.id], subnets: [pub.id] });
  const nat = byName(st.natGateways, 'harbor-nat');
  const eip = byName(st.addresses, 'harbor-nat-eip');
  t.match(nat, { subnetId: pub.id, allocationId: eip.allocationId, state: 'available' });
  t.same(routesOut('harbor-private-routes'), { vpc: vpc.id, out: [nat.id], subnets: [priv.id] });

  const rules = (name: string) => {
    const g = byName(st.securityGroups, `harbor-${name}`);
    t.equal(g.vpcId, vpc.id);
    return [...g.ingress.map((r) => `in ${r.protocol}/${r.from}-${r.to} ${r.peer}`), ...g.egress.map((r) => `out ${r.protocol}/${r.from}-${r.to} ${r.peer}`)].sort();
  };
  t.same(rules('ssh-in'), ['in tcp/22-22 185.192.0.0/10']);
  t.same(rules('ssh-out'), ['out tcp/22-22 172.20.0.0/16']);
  t.same(rules('ssh-in-local'), ['in tcp/22-22 172.20.0.0/16']);
  t.same(rules('web-out'), ['out tcp/443-443 0.0.0.0/0', 'out tcp/80-80 0.0.0.0/0']);
  t.same(rules('web-in-local'), ['in tcp/443-443 172.20.0.0/16', 'in tcp/80-80 172.20.0.0/16']);
  t.same(rules('web-in-admin'), ['in tcp/443-443 185.192.0.0/10']);
  t.equal(Object.keys(securityGroupRules(mockSettings(mock))).length, 6);
  t.equal(tagged(st.securityGroups).length, 6, 'no group made twice');
});

t.test('a second apply changes nothing', async (t) => {
  const { changes, mutating } = await run();
  t.same(summary(changes), ALL.map((x) => `ok ${x}`));
  t.same(mutating, []);
});

t.test('drift is put right in place', async (t) => {
  const sshIn = byName(st.securityGroups, 'harbor-ssh-in');
  const webOut = byName(st.securityGroups, 'harbor-web-out');
  sshIn.ingress.push({ protocol: 'tcp', from: 22, to: 22, peer: '0.0.0.0/0' }, { protocol: 'tcp', from: 22, to: 22, peer: '::/0' }, { protocol: 'tcp', from: 0, to: 65535, peer: webOut.id });
  sshIn.egress.push({ protocol: '-1', peer: '0.0.0.0/0' });
  webOut.egress = webOut.egress.filter((r) => r.from !== 443);
  const publicRoutes = byName(st.routeTables, 'harbor-public-routes');
  const igwId = publicRoutes.routes.find((r) => r.cidr === '0.0.0.0/0')!.gatewayId;
  const publicSubnet = byName(st.subnets, 'harbor-public').id;
  publicRoutes.routes.find((r) => r.cidr === '0.0.0.0/0')!.gatewayId = byName(st.natGateways, 'harbor-nat').id;
  const privateRoutes = byName(st.routeTables, 'harbor-private-routes');
  privateRoutes.routes = privateRoutes.routes.filter((r) => r.cidr !== '0.0.0.0/0');
  privateRoutes.associations.push({ id: 'rtbassoc-0123456789abcdef0', subnetId: byName(st.subnets, 'harbor-public').id, main: false });
  publicRoutes.associations = [];
  byName(st.subnets, 'harbor-public').mapPublicIp = false;
  const vpcId = byName(st.vpcs, 'harbor-vpc').id;

  const plan = await run({ dryRun: true });
  t.same(plan.mutating, []);
  const updates = plan.changes.filter((c) => c.action === 'update');
  t.same(updates.map((c) => c.name), ['harbor-public', 'harbor-public-routes', 'harbor-ssh-in', 'harbor-web-out', 'harbor-private-routes']);
  t.equal(updates.find((c) => c.name === 'harbor-ssh-in')?.detail,
    `- ingress tcp/22 from 0.0.0.0/0, - ingress tcp/22 from ::/0, - ingress tcp/0-65535 from ${webOut.id}, - egress all to 0.0.0.0/0`);
  t.match(updates.find((c) => c.name === 'harbor-web-out')?.detail, '+ egress tcp/443 to 0.0.0.0/0');
  t.match(updates.find((c) => c.name === 'harbor-public-routes')?.detail, /^0\.0\.0\.0\/0 → igw-\w+ \(was nat-\w+\), associate subnet-\w+ \(now with rtb-\w+\)$/);
  t.match(updates.find((c) => c.name === 'harbor-private-routes')?.detail, `0.0.0.0/0 → ${byName(st.natGateways, 'harbor-nat').id}, disassociate ${publicSubnet}`);

  const ids = new Set([...st.securityGroups.keys()]);
  const apply = await run();
  // The private table's stray association went with the move (ReplaceRouteTableAssociation); its disassociation then finds it gone.
  t.same(apply.mutating.filter((a) => /Route/.test(a)), ['ReplaceRoute', 'ReplaceRouteTableAssociation', 'CreateRoute', 'DisassociateRouteTable'], 'the public subnet moved back; the NAT route made again');
  t.same(apply.changes.filter((c) => c.action === 'update').map((c) => c.name), updates.map((c) => c.name));
  t.same([...st.securityGroups.keys()], [...ids], 'groups kept, not replaced');
  t.equal(byName(st.vpcs, 'harbor-vpc').id, vpcId);
  t.same(sshIn.ingress.map((r) => r.peer), ['185.192.0.0/10']);
  t.same(sshIn.egress, []);
  t.equal(webOut.egress.length, 2);
  t.equal(byName(st.subnets, 'harbor-public').mapPublicIp, true);
  t.same(publicRoutes.routes.find((r) => r.cidr === '0.0.0.0/0')?.gatewayId, igwId);
  t.same(publicRoutes.associations.map((a) => a.subnetId), [publicSubnet]);
  t.same(privateRoutes.associations.map((a) => a.subnetId), [byName(st.subnets, 'harbor-private').id]);
  t.same(summary((await run()).changes), ALL.map((x) => `ok ${x}`));
});

t.test('nat_gateway false removes the NAT gateway, its address and its routes', async (t) => {
  const { changes } = await run({ natGateway: false });
  t.same(summary(changes.filter((c) => c.action !== 'ok')), ['delete route table harbor-private-routes', 'delete nat gateway harbor-nat', 'delete elastic ip harbor-nat-eip']);
  t.same(tagged(st.addresses), []);
  t.same(tagged(st.natGateways).map((n) => n.state), ['deleted'], 'deleted NAT gateways stay visible for a while, like on AWS');
  t.same(tagged(st.routeTables).map((r) => r.tags.Name), ['harbor-public-routes']);
  const again = await run({ natGateway: false });
  t.same(again.mutating, []);
  t.ok(again.changes.every((c) => c.action === 'ok'));
});

t.test('destroy removes everything tagged; a second destroy has nothing to do', async (t) => {
  await run();
  const { changes } = await run({ destroy: true });
  t.ok(changes.every((c) => c.action === 'delete'));
  t.equal(changes.length, ALL.length);
  for (const m of [st.vpcs, st.subnets, st.igws, st.routeTables, st.securityGroups, st.addresses]) t.same(tagged(m as Map<string, { tags: Record<string, string> }>), []);
  t.ok(tagged(st.natGateways).every((n) => n.state === 'deleted'));
  t.equal(st.vpcs.size, 0, "the VPC's main route table and default group went with it");
  const again = await run({ destroy: true });
  t.same(again.changes, []);
  t.same(again.mutating, []);
});

t.test('destroy of a network still in use names what is in use', async (t) => {
  await run();
  const ctx = mockContext(mock, mockSettings(mock, { natGateway: true }));
  const before = [st.subnets.size, st.securityGroups.size, st.routeTables.size];
  await t.rejects(planVpcGone(ctx, { instances: true, nat: true }), { name: 'UserError', message: /^vpc harbor-vpc is still in use by NAT gateway nat-\w+ \(destroy the instances and the NAT gateway first\)$/ });
  ctx.close();
  t.same([st.subnets.size, st.securityGroups.size, st.routeTables.size], before, 'nothing deleted');
  await run({ destroy: true });
  t.equal(st.vpcs.size, 0);
});

t.test('a NAT gateway that does not come up in time is one line naming it', async (t) => {
  const recording = mockContext(mock, mockSettings(mock));
  const ctx = { ...recording, waitTimeoutMs: 0 };
  await planNetwork(ctx);
  await t.rejects(recording.apply(), {
    name: 'UserError',
    message: /^apply stopped at \+ nat gateway harbor-nat: in \(known after apply\): NAT gateway harbor-nat \(nat-\w+\) is still pending after 0 s; check it in the AWS console, then run again \(\d+ changes made before it stay; apply again resumes from what exists\)$/,
  });
  recording.close();
  const next = await run();
  t.same(summary(next.changes.filter((c) => c.action !== 'ok')), ['create route table harbor-private-routes'], 'the next run finds it, waits for it, then routes through it');
  t.equal(tagged(st.natGateways).filter((n) => n.state !== 'deleted').length, 1, 'not made twice');
  await run({ destroy: true });
  t.equal(st.vpcs.size, 0);
});
