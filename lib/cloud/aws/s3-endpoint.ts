// An S3 gateway endpoint in the VPC (settings s3_endpoint: true): the registry's image traffic
// to the bucket goes through it, not through the NAT gateway, which charges by the gigabyte.
import { CreateVpcEndpointCommand, DeleteVpcEndpointsCommand, DescribeVpcEndpointsCommand, ModifyVpcEndpointCommand } from '@aws-sdk/client-ec2';
import { byTags, named, nameTag, resourceName, type AwsContext, type Ref } from './plan.ts';
import { tagSpec } from './vpc.ts';

const KIND = 'vpc endpoint';
const LIVE = { Name: 'vpc-endpoint-state', Values: ['pendingAcceptance', 'pending', 'available'] };

const liveEndpoints = async (ctx: AwsContext) =>
  (await ctx.clients.ec2.send(new DescribeVpcEndpointsCommand({ Filters: [...byTags(ctx.settings), LIVE] }))).VpcEndpoints ?? [];

/** The endpoint routed from these route tables when wanted; else its removal. */
export async function planS3Endpoint(ctx: AwsContext, vpc: Ref, routeTables: Ref[]): Promise<void> {
  if (!ctx.settings.s3Endpoint) return planS3EndpointGone(ctx);
  const { settings: s, clients: { ec2 } } = ctx;
  const name = resourceName(s, 's3-endpoint');
  const service = `com.amazonaws.${s.region}.s3`;
  const found = named(await liveEndpoints(ctx), name);
  const tables = () => routeTables.map((r) => r.id);
  if (!found) {
    ctx.add({
      action: 'create', kind: KIND, name, detail: `${service} (gateway), routed from ${routeTables.join(', ')}`,
      run: async () =>
        (await ec2.send(new CreateVpcEndpointCommand({ VpcId: vpc.id, ServiceName: service, VpcEndpointType: 'Gateway', RouteTableIds: tables(), TagSpecifications: tagSpec(s, 'vpc-endpoint', name) }))).VpcEndpoint!.VpcEndpointId!,
    });
    return;
  }
  const id = found.VpcEndpointId!;
  if (found.ServiceName !== service || (vpc.known && found.VpcId !== vpc.id)) {
    ctx.add({
      action: 'replace', kind: KIND, name, id, detail: `is for ${found.ServiceName} in ${found.VpcId}`,
      run: async () => {
        await ec2.send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: [id] }));
        return (await ec2.send(new CreateVpcEndpointCommand({ VpcId: vpc.id, ServiceName: service, VpcEndpointType: 'Gateway', RouteTableIds: tables(), TagSpecifications: tagSpec(s, 'vpc-endpoint', name) }))).VpcEndpoint!.VpcEndpointId!;
      },
    });
    return;
  }
  const now = new Set(found.RouteTableIds ?? []);
  const missing = routeTables.filter((r) => !r.known || !now.has(r.id));
  const extra = [...now].filter((t) => !routeTables.some((r) => r.known && r.id === t));
  if (!missing.length && !extra.length) return ctx.add({ action: 'ok', kind: KIND, name, id });
  ctx.add({
    action: 'update', kind: KIND, name, id, detail: [...missing.map((r) => `+ route from ${r}`), ...extra.map((t) => `- route from ${t}`)].join(', '),
    run: async () => {
      await ec2.send(new ModifyVpcEndpointCommand({
        VpcEndpointId: id, ...(missing.length ? { AddRouteTableIds: missing.map((r) => r.id) } : {}), ...(extra.length ? { RemoveRouteTableIds: extra } : {}),
      }));
    },
  });
}

export async function planS3EndpointGone(ctx: AwsContext): Promise<void> {
  for (const e of await liveEndpoints(ctx)) {
    ctx.add({ action: 'delete', kind: KIND, name: nameTag(e.Tags), id: e.VpcEndpointId!, run: () => ctx.clients.ec2.send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: [e.VpcEndpointId!] })).then(() => undefined) });
  }
}
