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
  /** Where operators come from: SSH to the bastion and HTTPS to the registry. */
  adminCidr: string;
  /** The NAT gateway (with its EIP) that lets the private subnet out; it costs money while it exists. */
  natGateway: boolean;
  ami: string;
  instanceType: string;
  rootVolumeGiB: number;
  sshPublicKeyFile: string;
  sshPrivateKeyFile: string;
  /** The AMI's login user (admin on Debian, ec2-user on Amazon Linux, centos on CentOS). */
  sshUser: string;
  /** Fixed, so the certificate and the proxy's backend address stay valid across rebuilds. */
  registryPrivateIp: string;
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
  instance_type: 't3.micro',
  root_volume_gib: 8,
  ssh_public_key_file: '~/.ssh/id_ed25519.pub',
  ssh_private_key_file: '~/.ssh/id_ed25519',
  ssh_user: 'admin',
  registry_private_ip: '172.20.2.20',
  record_name: 'registry',
  s3_user: 'harbor_s3_user',
  poll_seconds: 5,
};
const REQUIRED = ['ami', 'admin_cidr', 'hosted_zone', 'bucket'] as const;
const KNOWN = new Set([...Object.keys(DEFAULTS), ...REQUIRED, 'endpoint']);

const CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;
const IP = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function ipNumber(ip: string): number | undefined {
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
  const [vpcCidr, vpc] = cidr('vpc_cidr');
  const [publicSubnetCidr, pub] = cidr('public_subnet_cidr');
  const [privateSubnetCidr, priv] = cidr('private_subnet_cidr');
  const [adminCidr] = cidr('admin_cidr');
  for (const [key, range] of [['public_subnet_cidr', pub], ['private_subnet_cidr', priv]] as const) {
    if (!within(range, vpc)) throw inputError(file, undefined, `"${key}" is not inside vpc_cidr ${vpcCidr}`);
  }
  if (within(pub, priv) || within(priv, pub)) throw inputError(file, undefined, 'the public and private subnets overlap');
  const registryPrivateIp = str('registry_private_ip');
  const ip = ipNumber(registryPrivateIp);
  // AWS keeps a subnet's first four addresses and its last one.
  if (ip === undefined || ip < priv[0] + 4 || ip > priv[1] - 1) {
    throw inputError(file, undefined, `"registry_private_ip" ${registryPrivateIp} must be a usable address of ${privateSubnetCidr}`);
  }
  const rootVolumeGiB = v.root_volume_gib;
  if (!Number.isInteger(rootVolumeGiB) || (rootVolumeGiB as number) < 1) throw inputError(file, undefined, '"root_volume_gib" must be a whole number of GiB');
  const pollSeconds = v.poll_seconds;
  if (typeof pollSeconds !== 'number' || !(pollSeconds > 0)) throw inputError(file, undefined, '"poll_seconds" must be a number of seconds above 0');
  if (typeof v.nat_gateway !== 'boolean') throw inputError(file, undefined, '"nat_gateway" must be true or false');
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
    adminCidr,
    natGateway: v.nat_gateway as boolean,
    ami: str('ami'),
    instanceType: str('instance_type'),
    rootVolumeGiB: rootVolumeGiB as number,
    sshPublicKeyFile: path('ssh_public_key_file'),
    sshPrivateKeyFile: path('ssh_private_key_file'),
    sshUser: str('ssh_user'),
    registryPrivateIp,
    hostedZone: str('hosted_zone').replace(/\.$/, ''),
    recordName: str('record_name'),
    bucket,
    s3User: str('s3_user'),
    pollSeconds,
  };
  if (v.endpoint !== undefined) settings.endpoint = str('endpoint');
  return settings;
}

/** The registry's public name: the Route53 record. */
export const publicName = (s: AwsSettings): string => `${s.recordName}.${s.hostedZone}`;
