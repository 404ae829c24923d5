// The AWS deployment settings: the reference's defaults, and every mistake as one line naming
// the file and the setting.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { UserError } from '../../lib/errors.ts';
import { cidrRange, loadAwsSettings, publicName } from '../../lib/cloud/aws/settings.ts';

const dir = mkdtempSync(join(tmpdir(), 'hm-aws-settings-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const REQUIRED = 'ami: ami-0abc1234\nadmin_cidr: 203.0.113.0/24\nhosted_zone: example.com.\nbucket: my-images\n';

let n = 0;
function file(text: string): string {
  const path = join(dir, `s${n++}.yaml`);
  writeFileSync(path, text);
  return path;
}

t.test('the reference defaults under the required settings', async (t) => {
  const path = file(REQUIRED);
  const s = await loadAwsSettings(path);
  t.match(s, {
    file: path,
    project: 'harbor',
    region: 'eu-west-1',
    vpcCidr: '172.20.0.0/16',
    publicSubnetCidr: '172.20.1.0/24',
    privateSubnetCidr: '172.20.2.0/24',
    adminCidr: '203.0.113.0/24',
    natGateway: true,
    registryPrivateIp: '172.20.2.20',
    hostedZone: 'example.com',
    bucket: 'my-images',
    s3User: 'harbor_s3_user',
    pollSeconds: 5,
    sshPublicKeyFile: join(homedir(), '.ssh/id_ed25519.pub'),
    ami: { id: 'ami-0abc1234' },
    bastionInstanceType: 't3.micro',
    registryInstanceType: 't3.large',
    bastionRootVolumeGiB: 8,
    registryRootVolumeGiB: 20,
    dataVolumeGiB: 100,
    dataVolume: '/data',
    hostKeyWaitSeconds: 300,
    s3Endpoint: false,
    registryCount: 1,
    dbInstance: undefined,
    privateSubnetBCidr: '172.20.3.0/24',
    dbPrivateIp: '172.20.2.10',
    dbInstanceType: 't3.medium',
  });
  const other = await loadAwsSettings(file(`${REQUIRED}vpc_cidr: 10.9.0.0/16\npublic_subnet_cidr: 10.9.0.0/24\nprivate_subnet_cidr: 10.9.4.0/23\nregistry_private_ip: 10.9.4.20\n`));
  t.match(other, { privateSubnetBCidr: '10.9.6.0/23', dbPrivateIp: '10.9.4.10' }, 'the second private subnet and the db host follow the private subnet');
  const debian = await loadAwsSettings(file(REQUIRED.replace('ami: ami-0abc1234\n', '')));
  t.same(debian.ami, { name: 'debian-12-*', owner: '136693071363' }, "without ami: Debian's official Debian 12 images");
  const pattern = await loadAwsSettings(file(`${REQUIRED.replace('ami: ami-0abc1234\n', '')}ami: { name: "my-harbor-*", owner: self }\n`));
  t.same(pattern.ami, { name: 'my-harbor-*', owner: 'self' });
  t.equal(s.endpoint, undefined);
  t.equal(publicName(s), 'registry.example.com');
  const custom = await loadAwsSettings(file(`${REQUIRED}ssh_public_key_file: keys/admin.pub\nnat_gateway: false\nendpoint: http://127.0.0.1:9\n`));
  t.equal(custom.sshPublicKeyFile, join(dir, 'keys/admin.pub'), 'relative to the settings file');
  t.equal(custom.natGateway, false);
  t.equal(custom.endpoint, 'http://127.0.0.1:9');
});

t.test('CIDR blocks', async (t) => {
  t.strictSame(cidrRange('10.0.0.0/30'), [167772160, 167772163]);
  t.equal(cidrRange('10.0.0.1/30'), undefined, 'not aligned');
  t.equal(cidrRange('10.0.0.0/33'), undefined);
  t.equal(cidrRange('300.0.0.0/8'), undefined);
});

t.test('mistakes: one line naming the file and the setting', async (t) => {
  const cases: [string, RegExp][] = [
    ['ami: x\n', /: "admin_cidr" is required$/],
    [`${REQUIRED}colour: blue\n`, /: unknown setting "colour" \(known: .*\)$/],
    [`${REQUIRED}vpc_cidr: 172.20.0.0\n`, /: "vpc_cidr": 172\.20\.0\.0 is not a CIDR block/],
    [`${REQUIRED}public_subnet_cidr: 10.1.0.0/24\n`, /: "public_subnet_cidr" is not inside vpc_cidr 172\.20\.0\.0\/16$/],
    [`${REQUIRED}public_subnet_cidr: 172.20.2.0/24\n`, /: "public_subnet_cidr" and "private_subnet_cidr" overlap$/],
    [`${REQUIRED}registry_private_ip: 172.20.2.2\n`, /: "registry_private_ip" 172\.20\.2\.2 must be a usable address of 172\.20\.2\.0\/24$/],
    [`${REQUIRED}registry_private_ip: 172.20.1.20\n`, /must be a usable address/],
    [`${REQUIRED}registry_count: 10\n`, /: "registry_count" 10 must be a whole number from 1 to 9$/],
    [`${REQUIRED}registry_count: 2.5\n`, /: "registry_count" 2\.5 must be a whole number from 1 to 9$/],
    [`${REQUIRED}registry_count: 3\ndb_instance: false\n`, /: "registry_count: 3" needs the db host the registries share: remove "db_instance: false"$/],
    [`${REQUIRED}registry_count: 9\nregistry_private_ip: 172.20.2.250\n`, /: "registry_count: 9" from "registry_private_ip" 172\.20\.2\.250 runs past the private subnets: choose a lower address$/],
    [`${REQUIRED}registry_count: 3\ndb_private_ip: 172.20.2.22\n`, /: "db_private_ip" 172\.20\.2\.22 is a registry host's address/],
    [`${REQUIRED}db_private_ip: 172.20.3.10\n`, /: "db_private_ip" 172\.20\.3\.10 must be a usable address of 172\.20\.2\.0\/24$/],
    [`${REQUIRED}private_subnet_b_cidr: 172.20.2.128/25\n`, /: "private_subnet_cidr" and "private_subnet_b_cidr" overlap$/],
    [`${REQUIRED}db_instance: yes\n`, /: "db_instance" must be true or false$/],
    [`${REQUIRED}root_volume_gib: 8\n`, /: "root_volume_gib" is now bastion_root_volume_gib and registry_root_volume_gib/],
    [`${REQUIRED}instance_type: t3.micro\n`, /: "instance_type" is now bastion_instance_type and registry_instance_type$/],
    [`${REQUIRED}registry_root_volume_gib: 4\n`, /: "registry_root_volume_gib" must be a whole number of GiB from 8 to 16384$/],
    [`${REQUIRED}data_volume_gib: 10.5\n`, /: "data_volume_gib" must be a whole number of GiB from 40 to 16384$/],
    [`${REQUIRED}data_volume: data\n`, /: "data_volume" data must be an absolute directory other than \/$/],
    [`${REQUIRED}host_key_wait_seconds: -1\n`, /: "host_key_wait_seconds" must be a number of seconds above 0$/],
    [`${REQUIRED}nat_gateway: false\ns3_endpoint: true\n`, /: "s3_endpoint: true" needs "nat_gateway: true"/],
    [REQUIRED.replace('ami-0abc1234', 'ami-x'), /: "ami" ami-x is not an image id like ami-0123456789abcdef0/],
    [REQUIRED.replace('ami-0abc1234', '{ name: debian-12-* }'), /: "ami" must be an image id, or \{ name: PATTERN, owner: ACCOUNT-ID or amazon \}$/],
    [`${REQUIRED}nat_gateway: maybe\n`, /: "nat_gateway" must be true or false$/],
    [`${REQUIRED}poll_seconds: 0\n`, /: "poll_seconds" must be a number of seconds above 0$/],
    ['ami: ami-1\nadmin_cidr: 203.0.113.0/24\nhosted_zone: z\nbucket: Not_A_Bucket\n', /: "bucket" Not_A_Bucket is not a valid S3 bucket name$/],
    [`${REQUIRED}project: "my project"\n`, /: "project" my project: letters, digits, - and _ only$/],
    ['- a list\n', /: must be a mapping of settings$/],
    ['ami: [unclosed\n', /:\d+: not valid YAML: /],
  ];
  for (const [text, message] of cases) {
    const path = file(text);
    const err = await loadAwsSettings(path).catch((e: unknown) => e);
    t.ok(err instanceof UserError, text.trim());
    t.match((err as Error).message, new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`), 'names the file');
    t.match((err as Error).message, message);
    t.notMatch((err as Error).message, /\n/, 'one line');
  }
  await t.rejects(loadAwsSettings(join(dir, 'missing.yaml')), /missing\.yaml: no such file \(copy inventory\/aws\.settings\.example\.yaml and fill it in\)$/);
});

t.test('the shipped example loads once its required values are real', async (t) => {
  const s = await loadAwsSettings(join(process.cwd(), 'inventory/aws.settings.example.yaml'));
  t.equal(s.bucket, 'example-harbor-images');
  t.equal(s.registryPrivateIp, '172.20.2.20');
});
