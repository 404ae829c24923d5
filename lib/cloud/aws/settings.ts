// What an AWS deployment is made of: one YAML file of settings (the reference's Terraform
// variables, snake_case like Ansible vars), checked whole before any API call.
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, resolve } from 'node:path';
import { parse } from 'yaml';
import { inputError, UserError } from '../../errors.ts';

export interface AwsSettings {
  /** The settings file, for messages. */
  file: string;
  /** Tag `Project=<project>` on everything, and the prefix of every `Name`. */
  project: string;
  region: string;
  /** Another endpoint for every service (a compatible cloud, or the test mock). */
  endpoint?: string;
  vpcCidr: string;
  publicSubnetCidr: string;
  privateSubnetCidr: string;
  /** The second private subnet, in the other zone, when there is a db host: every other registry host. By default the block after the private subnet. */
  privateSubnetBCidr: string;
  /** Where operators come from: SSH to the bastion and HTTPS to the registry. */
  adminCidr: string;
  /** The NAT gateway (with its EIP) that lets the private subnet out; it costs money while it exists. */
  natGateway: boolean;
  /** The image: an id, or the newest available image whose name matches a pattern, from an owner (resolved at plan time). */
  ami: AmiSpec;
  bastionInstanceType: string;
  /** Harbor needs at least 2 vCPU and 4 GiB. */
  registryInstanceType: string;
  bastionRootVolumeGiB: number;
  registryRootVolumeGiB: number;
  /** The registry's separate encrypted data volume, kept when the instance is replaced. */
  dataVolumeGiB: number;
  /** Where it is mounted: Harbor's data_volume. */
  dataVolume: string;
  /** How long apply waits for a new instance's host keys on its console before writing the inventory without them. */
  hostKeyWaitSeconds: number;
  /** A gateway VPC endpoint for S3, so image traffic does not go through (and pay for) the NAT gateway. */
  s3Endpoint: boolean;
  sshPublicKeyFile: string;
  sshPrivateKeyFile: string;
  /** The AMI's login user (admin on Debian, ec2-user on Amazon Linux, centos on CentOS). */
  sshUser: string;
  /** Fixed, so the certificate and the proxy's backend address stay valid across rebuilds. */
  registryPrivateIp: string;
  /** Registry hosts behind the proxy; registry-K sits at registry_private_ip + K-1 (its last octet), alternately in the two private subnets. */
  registryCount: number;
  /**
   * The db host (PostgreSQL and Redis for the registries): given as db_instance, else wanted with
   * several registries, and kept (it holds Harbor's database) while it exists unless db_instance: false.
   */
  dbInstance: boolean | undefined;
  dbInstanceType: string;
  dbRootVolumeGiB: number;
  dbPrivateIp: string;
  /** An existing Route53 hosted zone, e.g. example.com. */
  hostedZone: string;
  /** The A record made in it for the bastion's Elastic IP: `<record_name>.<hosted_zone>`. */
  recordName: string;
  /** Image storage (a globally unique name). */
  bucket: string;
  /** The IAM user whose key the registry uses for the bucket, and nothing else. */
  s3User: string;
  /** Between two looks at something AWS is still making (NAT gateway, instances, DNS). */
  pollSeconds: number;
}

export type AmiSpec = { id: string } | { name: string; owner: string };

/** Debian's own account publishes the official Debian images. */
export const DEBIAN_12: AmiSpec = { name: 'debian-12-*', owner: '136693071363' };

export const describeAmi = (a: AmiSpec): string => ('id' in a ? a.id : `the newest ${a.name} of owner ${a.owner}`);

/** Where a deployment's settings are read and its inventory written, unless told otherwise. */
export const AWS_DEFAULTS = { settings: 'inventory/aws.settings.yaml', inventory: 'inventory/aws.yaml' };

/** The reference deployment's values, where a default makes sense. */
const DEFAULTS = {
  project: 'harbor',
  region: 'eu-west-1',
  vpc_cidr: '172.20.0.0/16',
  public_subnet_cidr: '172.20.1.0/24',
  private_subnet_cidr: '172.20.2.0/24',
  nat_gateway: true,
  bastion_instance_type: 't3.micro',
  registry_instance_type: 't3.large',
  bastion_root_volume_gib: 8,
  registry_root_volume_gib: 20,
  data_volume_gib: 100,
  data_volume: '/data',
  host_key_wait_seconds: 300,
  s3_endpoint: false,
  ssh_public_key_file: '~/.ssh/id_ed25519.pub',
  ssh_private_key_file: '~/.ssh/id_ed25519',
  ssh_user: 'admin',
  registry_private_ip: '172.20.2.20',
  registry_count: 1,
  db_instance_type: 't3.medium',
  db_root_volume_gib: 20,
  record_name: 'registry',
  s3_user: 'harbor_s3_user',
  poll_seconds: 5,
};
const REQUIRED = ['admin_cidr', 'hosted_zone', 'bucket'] as const;
const KNOWN = new Set([...Object.keys(DEFAULTS), ...REQUIRED, 'ami', 'endpoint', 'db_instance', 'private_subnet_b_cidr', 'db_private_ip']);
/** A balancer of a few hosts; more want a load balancer of AWS's own. */
export const MAX_REGISTRIES = 9;
/** Settings of earlier releases, and what took their place. */
const RENAMED: Record<string, string> = {
  instance_type: 'bastion_instance_type and registry_instance_type',
  root_volume_gib: 'bastion_root_volume_gib and registry_root_volume_gib (and data_volume_gib for the registry\'s data)',
};

const CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;
const IP = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function ipNumber(ip: string): number | undefined {
  const m = IP.exec(ip);
  if (!m) return undefined;
  const parts = m.slice(1, 5).map(Number);
  return parts.some((p) => p > 255) ? undefined : parts.reduce((n, p) => n * 256 + p, 0);
}

/** [first, last] address of a CIDR block, or undefined when it is not one. */
export function cidrRange(cidr: string): [number, number] | undefined {
  const m = CIDR.exec(cidr);
  const bits = Number(m?.[5]);
  const base = m ? ipNumber(m.slice(1, 5).join('.')) : undefined;
  if (base === undefined || bits > 32) return undefined;
  const size = 2 ** (32 - bits);
  return base % size === 0 ? [base, base + size - 1] : undefined;
}

export const ipString = (n: number): string => [24, 16, 8, 0].map((b) => (n >>> b) & 255).join('.');

const within = (inner: [number, number], outer: [number, number]) => inner[0] >= outer[0] && inner[1] <= outer[1];

export async function loadAwsSettings(file: string): Promise<AwsSettings> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(`${file}: ${code === 'ENOENT' ? 'no such file (copy inventory/aws.settings.example.yaml and fill it in)' : `cannot read (${code})`}`);
  }
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    const e = err as Error & { linePos?: { line: number }[] };
    throw inputError(file, e.linePos?.[0]?.line, `not valid YAML: ${e.message.split('\n')[0]}`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw inputError(file, undefined, 'must be a mapping of settings');
  const given = raw as Record<string, unknown>;
  const renamed = Object.keys(given).find((k) => RENAMED[k]);
  if (renamed) throw inputError(file, undefined, `"${renamed}" is now ${RENAMED[renamed]}`);
  const unknown = Object.keys(given).find((k) => !KNOWN.has(k));
  if (unknown) throw inputError(file, undefined, `unknown setting "${unknown}" (known: ${[...KNOWN].sort().join(', ')})`);
  const missing = REQUIRED.find((k) => given[k] === undefined || given[k] === null || given[k] === '');
  if (missing) throw inputError(file, undefined, `"${missing}" is required`);
  const v: Record<string, unknown> = { ...DEFAULTS, ...given };
  const str = (key: string): string => {
    if (typeof v[key] !== 'string' || !(v[key] as string).trim()) throw inputError(file, undefined, `"${key}" must be a non-empty string`);
    return (v[key] as string).trim();
  };
  const path = (key: string) => resolve(dirname(file), str(key).replace(/^~(?=\/)/, homedir()));
  const cidr = (key: string): [string, [number, number]] => {
    const value = str(key);
    const range = cidrRange(value);
    if (!range) throw inputError(file, undefined, `"${key}": ${value} is not a CIDR block like 10.0.0.0/16`);
    return [value, range];
  };
  const gib = (key: string, min: number): number => {
    const n = v[key];
    if (!Number.isInteger(n) || (n as number) < min || (n as number) > 16384) throw inputError(file, undefined, `"${key}" must be a whole number of GiB from ${min} to 16384`);
    return n as number;
  };
  const seconds = (key: string): number => {
    const n = v[key];
    if (typeof n !== 'number' || !(n > 0)) throw inputError(file, undefined, `"${key}" must be a number of seconds above 0`);
    return n;
  };
  const flag = (key: string): boolean => {
    if (typeof v[key] !== 'boolean') throw inputError(file, undefined, `"${key}" must be true or false`);
    return v[key] as boolean;
  };
  const [vpcCidr, vpc] = cidr('vpc_cidr');
  const [publicSubnetCidr, pub] = cidr('public_subnet_cidr');
  const [privateSubnetCidr, priv] = cidr('private_subnet_cidr');
  // By default the block after the private subnet, of its size (172.20.3.0/24 after 172.20.2.0/24).
  v.private_subnet_b_cidr ??= `${ipString(priv[1] + 1)}/${privateSubnetCidr.split('/')[1]}`;
  const [privateSubnetBCidr, privB] = cidr('private_subnet_b_cidr');
  const [adminCidr] = cidr('admin_cidr');
  const subnets = [['public_subnet_cidr', pub], ['private_subnet_cidr', priv], ['private_subnet_b_cidr', privB]] as const;
  for (const [key, range] of subnets) {
    if (!within(range, vpc)) throw inputError(file, undefined, `"${key}" is not inside vpc_cidr ${vpcCidr}`);
  }
  for (const [i, [a, ra]] of subnets.entries()) {
    for (const [b, rb] of subnets.slice(i + 1)) if (within(ra, rb) || within(rb, ra)) throw inputError(file, undefined, `"${a}" and "${b}" overlap`);
  }
  const registryCount = v.registry_count;
  if (!Number.isInteger(registryCount) || (registryCount as number) < 1 || (registryCount as number) > MAX_REGISTRIES) {
    throw inputError(file, undefined, `"registry_count" ${JSON.stringify(registryCount)} must be a whole number from 1 to ${MAX_REGISTRIES}`);
  }
  const dbInstance = v.db_instance === undefined || v.db_instance === null ? undefined : flag('db_instance');
  if (dbInstance === false && (registryCount as number) > 1) throw inputError(file, undefined, `"registry_count: ${registryCount}" needs the db host the registries share: remove "db_instance: false"`);
  const registryPrivateIp = str('registry_private_ip');
  const ip = ipNumber(registryPrivateIp);
  // AWS keeps a subnet's first four addresses and its last one.
  const usable = (n: number, range: [number, number]) => n >= range[0] + 4 && n <= range[1] - 1;
  if (ip === undefined || !usable(ip, priv)) {
    throw inputError(file, undefined, `"registry_private_ip" ${registryPrivateIp} must be a usable address of ${privateSubnetCidr}`);
  }
  const last = ip + (registryCount as number) - 1;
  if (!usable(last, priv) || !usable(last - priv[0] + privB[0], privB)) {
    throw inputError(file, undefined, `"registry_count: ${registryCount}" from "registry_private_ip" ${registryPrivateIp} runs past the private subnets: choose a lower address`);
  }
  // By default the private subnet's tenth address (172.20.2.10), below the registry's.
  v.db_private_ip ??= ipString(priv[0] + 10);
  const dbPrivateIp = str('db_private_ip');
  const dbIp = ipNumber(dbPrivateIp);
  if (dbIp === undefined || !usable(dbIp, priv)) throw inputError(file, undefined, `"db_private_ip" ${dbPrivateIp} must be a usable address of ${privateSubnetCidr}`);
  if (dbIp >= ip && dbIp <= last) throw inputError(file, undefined, `"db_private_ip" ${dbPrivateIp} is a registry host's address (registry_private_ip ${registryPrivateIp} and the next ${(registryCount as number) - 1})`);
  const natGateway = flag('nat_gateway');
  const s3Endpoint = flag('s3_endpoint');
  // The endpoint is a route in the private subnet's route table, which exists with the NAT gateway.
  if (s3Endpoint && !natGateway) throw inputError(file, undefined, '"s3_endpoint: true" needs "nat_gateway: true" (the endpoint is routed from the private route table)');
  const dataVolume = str('data_volume');
  if (!/^\/[A-Za-z0-9._/-]+$/.test(dataVolume) || dataVolume === '/') throw inputError(file, undefined, `"data_volume" ${dataVolume} must be an absolute directory other than /`);
  const bucket = str('bucket');
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw inputError(file, undefined, `"bucket" ${bucket} is not a valid S3 bucket name`);
  const project = str('project');
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(project)) throw inputError(file, undefined, `"project" ${project}: letters, digits, - and _ only`);
  const settings: AwsSettings = {
    file,
    project,
    region: str('region'),
    vpcCidr,
    publicSubnetCidr,
    privateSubnetCidr,
    privateSubnetBCidr,
    adminCidr,
    natGateway,
    ami: amiOf(file, given.ami),
    bastionInstanceType: str('bastion_instance_type'),
    registryInstanceType: str('registry_instance_type'),
    bastionRootVolumeGiB: gib('bastion_root_volume_gib', 1),
    registryRootVolumeGiB: gib('registry_root_volume_gib', 8),
    dataVolumeGiB: gib('data_volume_gib', 40),
    dataVolume,
    hostKeyWaitSeconds: seconds('host_key_wait_seconds'),
    s3Endpoint,
    sshPublicKeyFile: path('ssh_public_key_file'),
    sshPrivateKeyFile: path('ssh_private_key_file'),
    sshUser: str('ssh_user'),
    registryPrivateIp,
    registryCount: registryCount as number,
    dbInstance,
    dbInstanceType: str('db_instance_type'),
    dbRootVolumeGiB: gib('db_root_volume_gib', 8),
    dbPrivateIp,
    hostedZone: str('hosted_zone').replace(/\.$/, ''),
    recordName: str('record_name'),
    bucket,
    s3User: str('s3_user'),
    pollSeconds: seconds('poll_seconds'),
  };
  if (v.endpoint !== undefined) settings.endpoint = str('endpoint');
  return settings;
}

/** `ami:` as an id (ami-…), or `{ name: PATTERN, owner: ACCOUNT }`; by default Debian 12's official images. */
function amiOf(file: string, given: unknown): AmiSpec {
  if (given === undefined || given === null) return DEBIAN_12;
  if (typeof given === 'string') {
    if (!/^ami-[0-9a-f]{8,17}$/.test(given.trim())) throw inputError(file, undefined, `"ami" ${given} is not an image id like ami-0123456789abcdef0 (or give { name: PATTERN, owner: ACCOUNT })`);
    return { id: given.trim() };
  }
  const m = given as Record<string, unknown>;
  if (typeof given !== 'object' || Array.isArray(given) || typeof m.name !== 'string' || !m.name || !['string', 'number'].includes(typeof m.owner) || Object.keys(m).some((k) => k !== 'name' && k !== 'owner')) {
    throw inputError(file, undefined, '"ami" must be an image id, or { name: PATTERN, owner: ACCOUNT-ID or amazon }');
  }
  return { name: m.name, owner: String(m.owner) };
}

/** The registry's public name: the Route53 record. */
export const publicName = (s: AwsSettings): string => `${s.recordName}.${s.hostedZone}`;
