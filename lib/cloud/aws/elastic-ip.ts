// Elastic IPs by Name tag: the NAT gateway's and the bastion's.
import { AllocateAddressCommand, AssociateAddressCommand, DescribeAddressesCommand, DisassociateAddressCommand, ReleaseAddressCommand, type Address } from '@aws-sdk/client-ec2';
import { byTags, named, nameTag, readOnce, Ref, resourceName, type AwsContext } from './plan.ts';
import { tagSpec } from './vpc.ts';

export interface ElasticIp {
  allocation: Ref;
  /** The address (a Ref too: it is known once allocated). */
  publicIp: Ref;
  /** What it is associated with now, if anything. */
  instanceId?: string;
}

const projectAddresses = (ctx: AwsContext): Promise<Address[]> =>
  readOnce(ctx, 'addresses', async () => (await ctx.clients.ec2.send(new DescribeAddressesCommand({ Filters: byTags(ctx.settings) }))).Addresses ?? []);

/** The Elastic IP `<project>-<what>`, allocated when missing (associations are the caller's). */
export async function planElasticIp(ctx: AwsContext, what: string, purpose: string): Promise<ElasticIp> {
  const { settings: s, clients: { ec2 } } = ctx;
  const name = resourceName(s, what);
  const found = named(await projectAddresses(ctx), name);
  if (found) {
    ctx.add({ action: 'ok', kind: 'elastic ip', name, id: found.AllocationId!, detail: found.PublicIp });
    return { allocation: new Ref(found.AllocationId!), publicIp: new Ref(found.PublicIp!), ...(found.InstanceId ? { instanceId: found.InstanceId } : {}) };
  }
  const allocation = new Ref();
  const publicIp = new Ref();
  ctx.add({
    action: 'create', kind: 'elastic ip', name, detail: purpose,
    run: async () => {
      const made = await ec2.send(new AllocateAddressCommand({ Domain: 'vpc', TagSpecifications: tagSpec(s, 'elastic-ip', name) }));
      publicIp.set(made.PublicIp!);
      return allocation.set(made.AllocationId!);
    },
  });
  return { allocation, publicIp };
}

/** Associates the address with an instance (taking it from any other). */
export const associateAddress = (ctx: AwsContext, eip: ElasticIp, instanceId: string) =>
  ctx.clients.ec2.send(new AssociateAddressCommand({ AllocationId: eip.allocation.id, InstanceId: instanceId, AllowReassociation: true }));

/** Plans releasing the Elastic IPs `<project>-<what>`, disassociating them first. */
export async function planElasticIpsGone(ctx: AwsContext, what: string): Promise<void> {
  const { ec2 } = ctx.clients;
  const name = resourceName(ctx.settings, what);
  for (const a of (await projectAddresses(ctx)).filter((x) => nameTag(x.Tags) === name)) {
    ctx.add({
      action: 'delete', kind: 'elastic ip', name, id: a.AllocationId!, detail: a.PublicIp,
      run: async () => {
        // The association may have gone with its instance meanwhile.
        const [now] = (await ec2.send(new DescribeAddressesCommand({ AllocationIds: [a.AllocationId!] }))).Addresses ?? [];
        if (now?.AssociationId) await ec2.send(new DisassociateAddressCommand({ AssociationId: now.AssociationId }));
        await ec2.send(new ReleaseAddressCommand({ AllocationId: a.AllocationId! }));
      },
    });
  }
}
