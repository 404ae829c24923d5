// The reference's NAT_gateway directory: an Elastic IP, a NAT gateway in the public subnet and
// the private subnets' route tables through it; all removed when settings say nat_gateway: false.
import { CreateNatGatewayCommand, DeleteNatGatewayCommand, DescribeNatGatewaysCommand, type NatGateway } from '@aws-sdk/client-ec2';
import { UserError } from '../../errors.ts';
import { planElasticIp, planElasticIpsGone } from './elastic-ip.ts';
import { byTags, Ref, resourceName, type AwsContext } from './plan.ts';
import { planRouteTable, planRouteTablesGone } from './route-tables.ts';
import { PRIVATE_B, tagSpec, type Vpc } from './vpc.ts';
import { waitFor } from './wait.ts';

const LIVE_NAT = { Name: 'state', Values: ['pending', 'available'] };

async function liveNatGateways(ctx: AwsContext): Promise<NatGateway[]> {
  const s = ctx.settings;
  return (await ctx.clients.ec2.send(new DescribeNatGatewaysCommand({ Filter: [...byTags(s, resourceName(s, 'nat')), LIVE_NAT] }))).NatGateways ?? [];
}

async function natGatewayState(ctx: AwsContext, id: string): Promise<string> {
  const [nat] = (await ctx.clients.ec2.send(new DescribeNatGatewaysCommand({ NatGatewayIds: [id] }))).NatGateways ?? [];
  return nat?.State ?? 'deleted';
}

const waitAvailable = (ctx: AwsContext, name: string, id: string) =>
  waitFor(ctx, `NAT gateway ${name} (${id})`, async () => {
    const state = await natGatewayState(ctx, id);
    if (state === 'failed' || state === 'deleted') throw new UserError(`NAT gateway ${name} (${id}) is ${state}; run destroy --only nat, then apply again`);
    return { state, done: state === 'available' ? true : undefined };
  });

async function deleteNatGateway(ctx: AwsContext, name: string, id: string): Promise<void> {
  await ctx.clients.ec2.send(new DeleteNatGatewayCommand({ NatGatewayId: id }));
  // Its address stays in use until it is gone.
  await waitFor(ctx, `NAT gateway ${name} (${id}) to be deleted`, async () => {
    const state = await natGatewayState(ctx, id);
    return { state, done: state === 'deleted' ? true : undefined };
  });
}

/** The NAT_gateway directory when settings.natGateway, else its removal; the private subnets' route tables, when there are. */
export async function planNat(ctx: AwsContext, net: Vpc): Promise<Ref[] | undefined> {
  if (!ctx.settings.natGateway) {
    await planNatGone(ctx);
    return undefined;
  }
  const { settings: s, clients: { ec2 } } = ctx;
  const name = resourceName(s, 'nat');
  const eip = await planElasticIp(ctx, 'nat-eip', 'for the NAT gateway');
  const [nat] = await liveNatGateways(ctx);
  const detail = `in ${net.publicSubnet}`;
  const ref = new Ref(nat?.NatGatewayId);
  const create = async () => {
    const made = (await ec2.send(new CreateNatGatewayCommand({ SubnetId: net.publicSubnet.id, AllocationId: eip.allocation.id, TagSpecifications: tagSpec(s, 'natgateway', name) }))).NatGateway!;
    await waitAvailable(ctx, name, ref.set(made.NatGatewayId!));
    return ref.id;
  };
  if (!nat) ctx.add({ action: 'create', kind: 'nat gateway', name, detail, run: create });
  else if (!net.publicSubnet.known || nat.SubnetId !== net.publicSubnet.id) {
    const old = nat.NatGatewayId!;
    ctx.add({
      action: 'replace', kind: 'nat gateway', name, id: old, detail: `is in ${nat.SubnetId}, not ${net.publicSubnet}`,
      run: async () => {
        await deleteNatGateway(ctx, name, old);
        return create();
      },
    });
  } else if (nat.State !== 'available') {
    // Still pending from an apply that stopped: its routes must wait for it.
    ctx.add({ action: 'ok', kind: 'nat gateway', name, id: nat.NatGatewayId!, detail: nat.State, run: () => waitAvailable(ctx, name, nat.NatGatewayId!).then(() => undefined) });
  } else ctx.add({ action: 'ok', kind: 'nat gateway', name, id: nat.NatGatewayId! });
  const routes = [await planRouteTable(ctx, 'private-routes', net.vpc, net.privateSubnet, { NatGatewayId: ref })];
  if (net.privateSubnetB) routes.push(await planRouteTable(ctx, `${PRIVATE_B}-routes`, net.vpc, net.privateSubnetB, { NatGatewayId: ref }));
  return routes;
}

export async function planNatGone(ctx: AwsContext): Promise<void> {
  const name = resourceName(ctx.settings, 'nat');
  await planRouteTablesGone(ctx, 'private-routes');
  await planRouteTablesGone(ctx, `${PRIVATE_B}-routes`);
  for (const nat of await liveNatGateways(ctx)) {
    const id = nat.NatGatewayId!;
    ctx.add({ action: 'delete', kind: 'nat gateway', name, id, run: () => deleteNatGateway(ctx, name, id) });
  }
  await planElasticIpsGone(ctx, 'nat-eip');
}
