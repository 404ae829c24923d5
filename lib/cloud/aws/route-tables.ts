// A route table sending 0.0.0.0/0 to a gateway, associated with exactly one subnet: the public
// one (to the internet gateway) and the private one (to the NAT gateway).
import {
  AssociateRouteTableCommand, CreateRouteCommand, CreateRouteTableCommand, DeleteRouteTableCommand, DescribeRouteTablesCommand, DisassociateRouteTableCommand,
  ReplaceRouteCommand, ReplaceRouteTableAssociationCommand, type RouteTable,
} from '@aws-sdk/client-ec2';
import { ifExists } from './errors.ts';
import { addFixes, byTags, named, readOnce, Ref, resourceName, type AwsContext } from './plan.ts';
import { tagSpec } from './vpc.ts';

/** Where a route table sends 0.0.0.0/0. */
export type Target = { GatewayId: Ref } | { NatGatewayId: Ref };
const targetRef = (t: Target) => ('GatewayId' in t ? t.GatewayId : t.NatGatewayId);
const targetInput = (t: Target) => ('GatewayId' in t ? { GatewayId: t.GatewayId.id } : { NatGatewayId: t.NatGatewayId.id });

/** The project's route tables, read once per plan. */
export const projectRouteTables = (ctx: AwsContext): Promise<RouteTable[]> =>
  readOnce(ctx, 'route-tables', async () => (await ctx.clients.ec2.send(new DescribeRouteTablesCommand({ Filters: byTags(ctx.settings) }))).RouteTables ?? []);

/** The subnet's explicit association with a route table of any owner (a subnet has at most one). */
async function subnetAssociation(ctx: AwsContext, subnet: Ref) {
  if (!subnet.known) return undefined;
  const tables = (await ctx.clients.ec2.send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'association.subnet-id', Values: [subnet.id] }] }))).RouteTables ?? [];
  return tables.flatMap((t) => t.Associations ?? []).find((a) => a.SubnetId === subnet.id && !a.Main);
}

/** Associates the subnet with the table, taking it from the table it is with now (AWS allows one). */
async function associate(ctx: AwsContext, tableId: string, subnetId: string, current: { RouteTableAssociationId?: string } | undefined): Promise<void> {
  const { ec2 } = ctx.clients;
  if (current) await ec2.send(new ReplaceRouteTableAssociationCommand({ AssociationId: current.RouteTableAssociationId!, RouteTableId: tableId }));
  else await ec2.send(new AssociateRouteTableCommand({ RouteTableId: tableId, SubnetId: subnetId }));
}

/** A route table `<project>-<what>` with 0.0.0.0/0 → target, for one subnet (and only that one). */
export async function planRouteTable(ctx: AwsContext, what: string, vpc: Ref, subnet: Ref, target: Target): Promise<Ref> {
  const { settings: s, clients: { ec2 } } = ctx;
  const name = resourceName(s, what);
  const detail = `0.0.0.0/0 → ${targetRef(target)}, for ${subnet}`;
  const table = named(await projectRouteTables(ctx), name);
  if (!table) {
    const current = await subnetAssociation(ctx, subnet);
    const ref = new Ref();
    ctx.add({
      action: 'create', kind: 'route table', name, detail,
      run: async () => {
        const id = ref.set((await ec2.send(new CreateRouteTableCommand({ VpcId: vpc.id, TagSpecifications: tagSpec(s, 'route-table', name) }))).RouteTable!.RouteTableId!);
        await ec2.send(new CreateRouteCommand({ RouteTableId: id, DestinationCidrBlock: '0.0.0.0/0', ...targetInput(target) }));
        await associate(ctx, id, subnet.id, current);
        return id;
      },
    });
    return ref;
  }
  const id = table.RouteTableId!;
  const fixes: { said: string; call: () => Promise<unknown> }[] = [];
  const route = table.Routes?.find((r) => r.DestinationCidrBlock === '0.0.0.0/0');
  const now = route?.GatewayId ?? route?.NatGatewayId;
  const to = targetRef(target);
  if (!to.known || now !== to.id) {
    fixes.push({
      said: `0.0.0.0/0 → ${to}${now ? ` (was ${now})` : ''}`,
      call: () => {
        const input = { RouteTableId: id, DestinationCidrBlock: '0.0.0.0/0', ...targetInput(target) };
        return ec2.send(route ? new ReplaceRouteCommand(input) : new CreateRouteCommand(input));
      },
    });
  }
  const associations = (table.Associations ?? []).filter((a) => !a.Main);
  for (const a of associations.filter((x) => !subnet.known || x.SubnetId !== subnet.id)) {
    // Gone already when an earlier change of this plan took that subnet to its own table.
    fixes.push({
      said: `disassociate ${a.SubnetId}`,
      call: () => ifExists(ec2.send(new DisassociateRouteTableCommand({ AssociationId: a.RouteTableAssociationId! })), 'InvalidAssociationID.NotFound'),
    });
  }
  if (!subnet.known || !associations.some((a) => a.SubnetId === subnet.id)) {
    const current = await subnetAssociation(ctx, subnet);
    fixes.push({ said: `associate ${subnet}${current ? ` (now with ${current.RouteTableId})` : ''}`, call: () => associate(ctx, id, subnet.id, current) });
  }
  addFixes(ctx, { kind: 'route table', name, id }, fixes);
  return new Ref(id);
}

/** Plans deleting the route tables `<project>-<what>`, their associations first. */
export async function planRouteTablesGone(ctx: AwsContext, what: string): Promise<void> {
  const { ec2 } = ctx.clients;
  const name = resourceName(ctx.settings, what);
  for (const table of (await projectRouteTables(ctx)).filter((t) => named([t], name))) {
    ctx.add({
      action: 'delete', kind: 'route table', name, id: table.RouteTableId!,
      run: async () => {
        for (const a of table.Associations ?? []) if (!a.Main) await ec2.send(new DisassociateRouteTableCommand({ AssociationId: a.RouteTableAssociationId! }));
        await ec2.send(new DeleteRouteTableCommand({ RouteTableId: table.RouteTableId! }));
      },
    });
  }
}
