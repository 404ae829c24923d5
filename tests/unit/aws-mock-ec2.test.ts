// The EC2 mock against the real SDK: what it returns parses, filters select, errors come out as
// the SDK's exceptions with AWS's codes, and states move on as AWS's do.
import t from 'tap';
import {
  AuthorizeSecurityGroupIngressCommand, CreateInternetGatewayCommand, AttachInternetGatewayCommand, CreateSecurityGroupCommand, CreateSubnetCommand,
  CreateVpcCommand, DeleteVpcCommand, DescribeInstancesCommand, DescribeSecurityGroupsCommand, DescribeSubnetsCommand, DescribeVpcsCommand,
  EC2Client, EC2ServiceException, GetConsoleOutputCommand, ImportKeyPairCommand, RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { handleEc2, ec2State } from '../helpers/aws-mock/ec2.ts';
import { startAwsMock } from '../helpers/aws-mock/server.ts';

const mock = await startAwsMock({ ec2: handleEc2 });
t.teardown(() => mock.close());
const ec2 = new EC2Client({ region: 'eu-west-1', endpoint: mock.endpoint, credentials: mock.credentials, maxAttempts: 1 });
t.teardown(() => ec2.destroy());
const tags = (Name: string) => [{ ResourceType: 'vpc' as const, Tags: [{ Key: 'Project', Value: 'p' }, { Key: 'Name', Value: Name }] }];

t.test('VPCs: created pending, available after a look or two, found by tag', async (t) => {
  const vpc = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.1.0.0/16', TagSpecifications: tags('p-vpc') }))).Vpc!;
  t.match(vpc, { VpcId: /^vpc-[0-9a-f]{17}$/, State: 'pending', CidrBlock: '10.1.0.0/16' });
  await ec2.send(new CreateVpcCommand({ CidrBlock: '10.2.0.0/16' }));
  const byTag = async () => (await ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'tag:Name', Values: ['p-vpc'] }] }))).Vpcs ?? [];
  t.same((await byTag()).map((v) => v.VpcId), [vpc.VpcId]);
  const [again] = await byTag();
  t.equal(again!.State, 'available');
  t.same(again!.Tags?.find((x) => x.Key === 'Project')?.Value, 'p');
  t.equal((await ec2.send(new DescribeVpcsCommand({}))).Vpcs?.length, 2);
});

t.test('errors are the SDK exceptions with AWS codes', async (t) => {
  const err = await ec2.send(new DescribeVpcsCommand({ VpcIds: ['vpc-00000000000000000'] })).catch((e: unknown) => e);
  t.ok(err instanceof EC2ServiceException);
  t.equal((err as Error).name, 'InvalidVpcID.NotFound');
  t.equal((err as EC2ServiceException).$metadata.httpStatusCode, 400);
});

t.test('security groups: eventually consistent, default egress, duplicate rules refused, filter by vpc', async (t) => {
  const vpcId = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.3.0.0/16' }))).Vpc!.VpcId!;
  const { GroupId } = await ec2.send(new CreateSecurityGroupCommand({ VpcId: vpcId, GroupName: 'web', Description: 'web' }));
  const perm = { IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '10.0.0.0/8' }] };
  const early = await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId, IpPermissions: [perm] })).catch((e: Error) => e);
  t.equal((early as Error).name, 'InvalidGroup.NotFound', 'a group made a moment ago is not found yet by its first rule change, as on AWS');
  await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId, IpPermissions: [perm] }));
  const dup = await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId, IpPermissions: [perm] })).catch((e: Error) => e);
  t.equal((dup as Error).name, 'InvalidPermission.Duplicate');
  const groups = (await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }] }))).SecurityGroups!;
  t.same(groups.map((g) => g.GroupName).sort(), ['default', 'web']);
  const web = groups.find((g) => g.GroupName === 'web')!;
  t.match(web.IpPermissions, [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '10.0.0.0/8' }] }]);
  t.match(web.IpPermissionsEgress, [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }]);
  const busy = await ec2.send(new DeleteVpcCommand({ VpcId: vpcId })).catch((e: Error) => e);
  t.equal((busy as Error).name, 'DependencyViolation');
});

t.test('instances: run with a fixed IP, running after polls, host keys in the console later', async (t) => {
  const vpcId = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.4.0.0/16' }))).Vpc!.VpcId!;
  const subnetId = (await ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: '10.4.2.0/24', AvailabilityZone: 'eu-west-1b' }))).Subnet!.SubnetId!;
  t.equal((await ec2.send(new DescribeSubnetsCommand({ SubnetIds: [subnetId] }))).Subnets?.[0]?.AvailabilityZone, 'eu-west-1b');
  const igw = (await ec2.send(new CreateInternetGatewayCommand({}))).InternetGateway!.InternetGatewayId!;
  await ec2.send(new AttachInternetGatewayCommand({ InternetGatewayId: igw, VpcId: vpcId }));
  await ec2.send(new ImportKeyPairCommand({ KeyName: 'k', PublicKeyMaterial: Buffer.from('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyFakeKeyFakeKeyFakeKeyFakeKeyFake x') }));
  const run = () => ec2.send(new RunInstancesCommand({
    ImageId: 'ami-0123456789abcdef0', InstanceType: 't3.micro', MinCount: 1, MaxCount: 1, SubnetId: subnetId, PrivateIpAddress: '10.4.2.20', KeyName: 'k',
    BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 8, VolumeType: 'gp3', DeleteOnTermination: true } }],
    TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name', Value: 'reg' }] }],
  }));
  const id = (await run()).Instances![0]!.InstanceId!;
  const stored = ec2State(mock).instances.get(id)!;
  t.match(stored, { privateIp: '10.4.2.20', rootGiB: 8, rootType: 'gp3', deleteOnTermination: true, tags: { Name: 'reg' }, keyName: 'k' });
  t.equal(((await run().catch((e: Error) => e)) as Error).name, 'InvalidIPAddress.InUse');
  const states: string[] = [];
  for (let i = 0; i < 3; i++) {
    states.push((await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:Name', Values: ['reg'] }] }))).Reservations![0]!.Instances![0]!.State!.Name!);
  }
  t.same(states, ['pending', 'running', 'running']);
  const byId = () => ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
  t.equal(((await byId().catch((e: Error) => e)) as Error).name, 'InvalidInstanceID.NotFound', 'not visible by id at first, as on AWS');
  t.equal((await byId()).Reservations?.[0]?.Instances?.[0]?.InstanceId, id);
  const outputs: string[] = [];
  for (let i = 0; i < 3; i++) outputs.push(Buffer.from((await ec2.send(new GetConsoleOutputCommand({ InstanceId: id }))).Output ?? '', 'base64').toString());
  t.notMatch(outputs[0], 'BEGIN SSH HOST KEY KEYS');
  t.match(outputs[2], 'BEGIN SSH HOST KEY KEYS');
  t.equal(stored.hostKeys.length, 2);
  for (const key of stored.hostKeys) t.ok(outputs[2]!.includes(key), key.split(' ')[0]);
});
