// What the instances are made of, checked before anything is made: the instance types exist,
// are offered in the zones they go to and can hold Harbor; the image exists, is available and
// has an architecture the types run. An image given as a name pattern is resolved here, at plan.
import { DescribeImagesCommand, DescribeInstanceTypeOfferingsCommand, DescribeInstanceTypesCommand, type _InstanceType, type Image, type InstanceTypeInfo } from '@aws-sdk/client-ec2';
import { UserError } from '../../errors.ts';
import { awsErrorCode } from './errors.ts';
import { readOnce, type AwsContext } from './plan.ts';
import { describeAmi } from './settings.ts';

export interface ChosenImage {
  id: string;
  name: string;
  architecture: string;
  rootDevice: string;
}

/** Harbor's documented minimum for its host. */
const HARBOR_MIN = { vcpus: 2, memoryMiB: 4096 };

/** Each instance type with the zone it goes to. */
export interface Placement {
  type: string;
  zone: string;
  /** For messages: the setting that names it. */
  setting: string;
  harbor?: boolean;
}

/** The architectures every type runs; refuses unknown, unoffered and (for Harbor) too small types. */
async function checkTypes(ctx: AwsContext, placements: Placement[]): Promise<string[]> {
  const { settings: s, clients: { ec2 } } = ctx;
  const types = [...new Set(placements.map((p) => p.type))];
  const describe = async (names: string[]): Promise<InstanceTypeInfo[]> => {
    try {
      return (await ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: names as _InstanceType[] }))).InstanceTypes ?? [];
    } catch (err) {
      if (awsErrorCode(err) !== 'InvalidInstanceType') throw err;
      // One of them does not exist: find which, one by one.
      return names.length > 1 ? (await Promise.all(names.map((n) => describe([n])))).flat() : [];
    }
  };
  const found = await describe(types);
  const info = new Map(found.map((t) => [t.InstanceType as string, t]));
  const offered = (await ec2.send(new DescribeInstanceTypeOfferingsCommand({
    LocationType: 'availability-zone',
    Filters: [{ Name: 'instance-type', Values: types }, { Name: 'location', Values: [...new Set(placements.map((p) => p.zone))] }],
  }))).InstanceTypeOfferings ?? [];
  for (const p of placements) {
    const t = info.get(p.type);
    if (!t) throw new UserError(`${s.file}: "${p.setting}" ${p.type} is not an EC2 instance type in ${s.region}`);
    if (!offered.some((o) => o.InstanceType === p.type && o.Location === p.zone)) {
      throw new UserError(`${s.file}: "${p.setting}" ${p.type} is not offered in ${p.zone}, where it would run: choose another type`);
    }
    const vcpus = t.VCpuInfo?.DefaultVCpus ?? 0;
    const memory = t.MemoryInfo?.SizeInMiB ?? 0;
    if (p.harbor && (vcpus < HARBOR_MIN.vcpus || memory < HARBOR_MIN.memoryMiB)) {
      throw new UserError(`${s.file}: "${p.setting}" ${p.type} has ${vcpus} vCPU and ${memory / 1024} GiB; Harbor needs at least 2 vCPU and 4 GiB (e.g. t3.large)`);
    }
  }
  const archs = placements.map((p) => info.get(p.type)?.ProcessorInfo?.SupportedArchitectures ?? []);
  const common = archs.reduce((a, b) => a.filter((x) => b.includes(x)));
  if (!common.length) throw new UserError(`${s.file}: ${types.join(' and ')} run on no common architecture, and both instances use one image: choose types of one architecture`);
  return common;
}

async function findImage(ctx: AwsContext, architectures: string[]): Promise<Image> {
  const { settings: s, clients: { ec2 } } = ctx;
  const ami = s.ami;
  if ('id' in ami) {
    try {
      const [image] = (await ec2.send(new DescribeImagesCommand({ ImageIds: [ami.id] }))).Images ?? [];
      if (image) return image;
    } catch (err) {
      if (!/^InvalidAMIID\./.test(awsErrorCode(err) ?? '')) throw err;
    }
    throw new UserError(`${s.file}: "ami" ${ami.id} is not an image in ${s.region} (for this account): check the id and the region`);
  }
  const images = (await ec2.send(new DescribeImagesCommand({
    Owners: [ami.owner],
    Filters: [{ Name: 'name', Values: [ami.name] }, { Name: 'state', Values: ['available'] }, { Name: 'architecture', Values: architectures }],
  }))).Images ?? [];
  const newest = images.sort((a, b) => (b.CreationDate ?? '').localeCompare(a.CreationDate ?? ''))[0];
  if (!newest) throw new UserError(`${s.file}: no available ${architectures.join('/')} image named ${ami.name} from owner ${ami.owner} in ${s.region}: set "ami"`);
  return newest;
}

/** The image both instances use, checked against the instance types and zones (read once per plan). */
export function chooseImage(ctx: AwsContext, placements: Placement[]): Promise<ChosenImage> {
  return readOnce(ctx, 'image', async () => {
    const s = ctx.settings;
    const architectures = await checkTypes(ctx, placements);
    const image = await findImage(ctx, architectures);
    const id = image.ImageId!;
    if (image.State !== 'available') throw new UserError(`${s.file}: "ami" ${id} is ${image.State ?? 'not available'}, not available`);
    if (!architectures.includes(image.Architecture ?? '')) {
      throw new UserError(`${s.file}: "ami" ${id} is for ${image.Architecture}, the instance types run ${architectures.join('/')}`);
    }
    if (image.RootDeviceType && image.RootDeviceType !== 'ebs') throw new UserError(`${s.file}: "ami" ${id} is not EBS-backed, so its root volume cannot be sized or encrypted`);
    if (!('id' in s.ami)) ctx.say(`image: ${describeAmi(s.ami)} is ${id} (${image.Name})`);
    return { id, name: image.Name ?? id, architecture: image.Architecture!, rootDevice: image.RootDeviceName ?? '/dev/xvda' };
  });
}
