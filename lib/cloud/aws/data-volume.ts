// The registry's data (Harbor's database, job logs, and images when not on S3) on a volume of
// its own: encrypted gp3, in the registry's zone, attached at /dev/sdf and mounted at
// data_volume by the instance's first boot; terminating or replacing the instance keeps it.
import { AttachVolumeCommand, CreateVolumeCommand, DeleteVolumeCommand, DescribeVolumesCommand, type Volume } from '@aws-sdk/client-ec2';
import { UserError } from '../../errors.ts';
import { named, Ref, resourceName, type AwsContext } from './plan.ts';
import type { AwsSettings } from './settings.ts';
import { tagSpec } from './vpc.ts';
import { waitFor } from './wait.ts';
import type { PlannedInstance } from './instances.ts';

const KIND = 'ebs volume';
const DEVICE = '/dev/sdf';
const LABEL = 'harbor-data';

const dataVolumeName = (s: AwsSettings) => resourceName(s, 'registry-data');

/** The data volume among the project's volumes, unless it is going. */
export const volumeOf = (s: AwsSettings, volumes: Volume[]): Volume | undefined =>
  named(volumes.filter((v) => v.State !== 'deleting' && v.State !== 'deleted'), dataVolumeName(s));

/**
 * cloud-init user data: wait for the one disk that is neither the root disk nor partitioned
 * (its name differs between Xen and Nitro instances), make its file system once, mount it by
 * label at every boot (nofail: an instance without it still boots).
 */
export function dataVolumeUserData(s: AwsSettings): string {
  return `#!/bin/sh
# harbormaster: the registry's data volume (${dataVolumeName(s)}) at ${s.dataVolume}
set -eu
root=$(lsblk -no PKNAME "$(findmnt -no SOURCE /)")
for _ in $(seq 600); do
  disk=$(lsblk -dnpo NAME,TYPE | awk -v root="/dev/$root" '$2 == "disk" && $1 != root { print $1; exit }')
  [ -n "$disk" ] && break
  sleep 1
done
[ -n "$disk" ] || { echo "harbormaster: no data volume attached" >&2; exit 1; }
blkid "$disk" >/dev/null || mkfs.ext4 -q -L ${LABEL} "$disk"
mkdir -p ${s.dataVolume}
grep -q 'LABEL=${LABEL}' /etc/fstab || echo 'LABEL=${LABEL} ${s.dataVolume} ext4 defaults,nofail 0 2' >> /etc/fstab
mount -a
`;
}

export interface PlannedDataVolume {
  volume: Ref;
  /** Plans attaching it to the registry when it is not attached there (or the registry is new). */
  attachTo(registry: PlannedInstance, running: () => Promise<unknown>): void;
}

const waitAvailable = (ctx: AwsContext, id: string) =>
  waitFor(ctx, `ebs volume ${dataVolumeName(ctx.settings)} (${id})`, async () => {
    const [v] = (await ctx.clients.ec2.send(new DescribeVolumesCommand({ VolumeIds: [id] }))).Volumes ?? [];
    return { state: v?.State ?? 'not visible yet', done: v?.State === 'available' ? true : undefined };
  });

export async function planDataVolume(ctx: AwsContext, found: Volume | undefined, zone: string): Promise<PlannedDataVolume> {
  const { settings: s, clients: { ec2 } } = ctx;
  const name = dataVolumeName(s);
  const volume = new Ref(found?.VolumeId);
  if (!found) {
    ctx.add({
      action: 'create', kind: KIND, name, detail: `${s.dataVolumeGiB} GiB gp3, encrypted, in ${zone}, for ${s.dataVolume}`,
      run: async () => {
        const id = volume.set((await ec2.send(new CreateVolumeCommand({ AvailabilityZone: zone, Size: s.dataVolumeGiB, VolumeType: 'gp3', Encrypted: true, TagSpecifications: tagSpec(s, 'volume', name) }))).VolumeId!);
        await waitAvailable(ctx, id);
        return id;
      },
    });
  } else if (!found.Encrypted || found.AvailabilityZone !== zone) {
    // Its data cannot be moved by apply: a snapshot copied encrypted (or to the zone) and restored as a new volume can.
    const why = [!found.Encrypted ? 'not encrypted' : '', found.AvailabilityZone !== zone ? `in ${found.AvailabilityZone}, the registry runs in ${zone}` : ''].filter(Boolean).join(', ');
    ctx.add({ action: 'replace', kind: KIND, name, id: found.VolumeId!, detail: `${why}: snapshot it, restore the snapshot as an encrypted volume in ${zone} tagged Name=${name}, delete this one` });
  } else ctx.add({ action: 'ok', kind: KIND, name, id: found.VolumeId!, detail: `${found.Size} GiB` });
  return {
    volume,
    attachTo(registry, running) {
      const attached = found?.Attachments?.find((a) => a.State === 'attached' || a.State === 'attaching');
      if (attached && registry.id.known && attached.InstanceId === registry.id.id && !registry.launch) return;
      ctx.add({
        action: 'create', kind: 'volume attachment', name: `${name} → ${registry.name}`, detail: DEVICE,
        ...(registry.launch ? { needs: registry.launch } : {}),
        run: async () => {
          await running();
          // A replaced registry's volume comes free as its old instance terminates.
          await waitAvailable(ctx, volume.id);
          await ec2.send(new AttachVolumeCommand({ VolumeId: volume.id, InstanceId: registry.id.id, Device: DEVICE }));
        },
      });
    },
  };
}

/** Deleted only with the image storage (destroy --only storage): it holds Harbor's database. */
export async function planDataVolumeGone(ctx: AwsContext): Promise<void> {
  const s = ctx.settings;
  const found = volumeOf(s, (await ctx.clients.ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'tag:Project', Values: [s.project] }, { Name: 'tag:Name', Values: [dataVolumeName(s)] }] }))).Volumes ?? []);
  if (!found) return;
  if (found.State === 'in-use') throw new UserError(`ebs volume ${dataVolumeName(s)} (${found.VolumeId}) is attached to ${found.Attachments?.[0]?.InstanceId}: destroy the instances first`);
  ctx.add({
    action: 'delete', kind: KIND, name: dataVolumeName(s), id: found.VolumeId!, detail: `${found.Size} GiB: Harbor's data`,
    run: async () => {
      await waitAvailable(ctx, found.VolumeId!);
      await ctx.clients.ec2.send(new DeleteVolumeCommand({ VolumeId: found.VolumeId! }));
    },
  });
}
