// The registry's public name (the reference's Route53 record in its EC2 directory): an A record
// `<record_name>.<hosted_zone>` → the bastion's Elastic IP, in a hosted zone the user already
// has. harbormaster never creates or deletes the zone itself.
import {
  ChangeResourceRecordSetsCommand,
  GetChangeCommand,
  ListHostedZonesByNameCommand,
  ListResourceRecordSetsCommand,
  type ResourceRecordSet,
} from '@aws-sdk/client-route-53';
import { UserError } from '../../errors.ts';
import type { AwsContext, Ref } from './plan.ts';
import { publicName } from './settings.ts';
import { waitFor } from './wait.ts';

const TTL = 300;
const KIND = 'route53 record';

/** Route53 names end in a dot and compare without case. */
const dotted = (name: string) => `${name.toLowerCase().replace(/\.$/, '')}.`;

/** The public hosted zone named in the settings: its id without the `/hostedzone/` prefix. */
async function findZone(ctx: AwsContext): Promise<string | undefined> {
  const zone = dotted(ctx.settings.hostedZone);
  // Listed in name order from the name given: the zone, if it exists, comes first (private ones may share its name).
  const { HostedZones = [] } = await ctx.clients.route53.send(new ListHostedZonesByNameCommand({ DNSName: zone, MaxItems: 10 }));
  const found = HostedZones.find((z) => dotted(z.Name ?? '') === zone && !z.Config?.PrivateZone);
  return found?.Id?.replace(/^\/hostedzone\//, '');
}

async function requireZone(ctx: AwsContext): Promise<string> {
  const zoneId = await findZone(ctx);
  if (!zoneId) {
    const { hostedZone, file } = ctx.settings;
    throw new UserError(`Route53 has no public hosted zone ${hostedZone} in this account; harbormaster does not create it: create it (and delegate the domain to it), or set "hosted_zone" in ${file}`);
  }
  return zoneId;
}

/** The A record's current set, or undefined. */
async function currentRecord(ctx: AwsContext, zoneId: string, name: string): Promise<ResourceRecordSet | undefined> {
  const { ResourceRecordSets = [] } = await ctx.clients.route53.send(
    new ListResourceRecordSetsCommand({ HostedZoneId: zoneId, StartRecordName: name, StartRecordType: 'A', MaxItems: 1 }),
  );
  const first = ResourceRecordSets[0];
  return first && dotted(first.Name ?? '') === name && first.Type === 'A' ? first : undefined;
}

const describe = (r: ResourceRecordSet): string =>
  r.AliasTarget ? `alias ${r.AliasTarget.DNSName}` : `${(r.ResourceRecords ?? []).map((v) => v.Value).join(',')} (TTL ${r.TTL})`;

/** Applies one change and waits until Route53 says it is live on its name servers. */
async function change(ctx: AwsContext, zoneId: string, action: 'UPSERT' | 'DELETE', record: ResourceRecordSet): Promise<void> {
  const route53 = ctx.clients.route53;
  const { ChangeInfo } = await route53.send(new ChangeResourceRecordSetsCommand({ HostedZoneId: zoneId, ChangeBatch: { Changes: [{ Action: action, ResourceRecordSet: record }] } }));
  let status = ChangeInfo?.Status;
  await waitFor(ctx, `Route53 record ${record.Name}`, async () => {
    if (status !== 'INSYNC') status = (await route53.send(new GetChangeCommand({ Id: ChangeInfo!.Id! }))).ChangeInfo?.Status;
    return status === 'INSYNC' ? { state: 'in sync', done: true } : { state: `${status ?? 'unknown'} on the name servers` };
  });
}

/** `<record_name>.<hosted_zone>` → ip (TTL 300), changed only when missing or different. */
export async function planRecord(ctx: AwsContext, ip: Ref): Promise<void> {
  const zoneId = await requireZone(ctx);
  const name = publicName(ctx.settings);
  const current = await currentRecord(ctx, zoneId, dotted(name));
  const wanted = (): ResourceRecordSet => ({ Name: dotted(name), Type: 'A', TTL: TTL, ResourceRecords: [{ Value: ip.id }] });
  const same = ip.known && current && !current.AliasTarget && current.TTL === TTL && current.ResourceRecords?.length === 1 && current.ResourceRecords[0]?.Value === ip.id;
  if (same) return ctx.add({ action: 'ok', kind: KIND, name, id: zoneId });
  ctx.add({
    action: current ? 'update' : 'create', kind: KIND, name, id: zoneId,
    detail: current ? `${describe(current)} → ${ip} (TTL ${TTL})` : `A ${ip} (TTL ${TTL})`,
    run: () => change(ctx, zoneId, 'UPSERT', wanted()),
  });
}

/** Plans deleting the record when it is there; the zone stays (it is not ours). */
export async function planRecordGone(ctx: AwsContext): Promise<void> {
  const zoneId = await findZone(ctx);
  if (!zoneId) return;
  const name = publicName(ctx.settings);
  const current = await currentRecord(ctx, zoneId, dotted(name));
  if (!current) return;
  // Route53 deletes a record set only when given exactly its current values.
  ctx.add({ action: 'delete', kind: KIND, name, id: zoneId, detail: describe(current), run: () => change(ctx, zoneId, 'DELETE', current) });
}
