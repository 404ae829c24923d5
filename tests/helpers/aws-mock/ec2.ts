// EC2 as harbormaster uses it: VPC pieces, security groups, addresses, NAT gateways, key pairs
// and instances, with AWS's ids, states that move on (pending → available/running after a
// describe or two), NotFound codes, DependencyViolation on deletes out of order, terminated
// instances that stay visible, and console output that carries fresh host keys once
// cloud-init has "run".
import { createHash, generateKeyPairSync } from 'node:crypto';
import { awsId, formParams, nestedParams, toXml, type AwsMock, type MockResponse, type Nested, type ServiceHandler, type XmlValue } from './server.ts';

type Tags = Record<string, string>;
/** `peer`: an IPv4 or IPv6 CIDR block, or a security group id. */
interface Rule { protocol: string; from?: number; to?: number; peer: string }
interface Vpc { id: string; cidr: string; state: string; polls: number; tags: Tags; dnsHostnames: boolean; dnsSupport: boolean }
interface Subnet { id: string; vpcId: string; cidr: string; az: string; state: string; polls: number; tags: Tags; mapPublicIp: boolean }
interface Igw { id: string; vpcId?: string; tags: Tags }
interface Route { cidr: string; gatewayId?: string; natGatewayId?: string; origin: string }
interface Association { id: string; subnetId?: string; main: boolean }
interface RouteTable { id: string; vpcId: string; routes: Route[]; associations: Association[]; tags: Tags }
interface SecurityGroup {
  id: string; vpcId: string; name: string; description: string; ingress: Rule[]; egress: Rule[]; tags: Tags;
  /** AWS is eventually consistent: the first rule change right after CreateSecurityGroup does not find the group. */
  settled?: boolean;
}
interface Address { allocationId: string; publicIp: string; instanceId?: string; associationId?: string; natGatewayId?: string; tags: Tags }
interface NatGateway { id: string; subnetId: string; vpcId: string; allocationId: string; state: string; polls: number; tags: Tags }
interface Volume { id: string; az: string; size: number; type: string; encrypted: boolean; state: string; instanceId?: string; device?: string; tags: Tags }
interface Endpoint { id: string; vpcId: string; service: string; routeTableIds: string[]; state: string; tags: Tags }
interface Image { id: string; name: string; owner: string; architecture: string; state: string; created: string }
interface KeyPair { id: string; name: string; publicKey: string; fingerprint: string; tags: Tags }
interface Instance {
  id: string; imageId: string; type: string; subnetId: string; vpcId: string; privateIp: string; groupIds: string[]; keyName?: string;
  rootDevice?: string; rootGiB?: number; rootType?: string; deleteOnTermination?: boolean; state: string; polls: number; consolePolls: number; launchTime: string;
  rootVolumeId: string; httpTokens: string; hopLimit: number; userData?: string;
  /** AWS is eventually consistent: the first look by id at a new instance does not find it. */
  seenById: boolean;
  hostKeys: string[]; tags: Tags;
}

export interface Ec2State {
  region: string;
  vpcs: Map<string, Vpc>;
  subnets: Map<string, Subnet>;
  igws: Map<string, Igw>;
  routeTables: Map<string, RouteTable>;
  securityGroups: Map<string, SecurityGroup>;
  addresses: Map<string, Address>;
  natGateways: Map<string, NatGateway>;
  keyPairs: Map<string, KeyPair>;
  instances: Map<string, Instance>;
  volumes: Map<string, Volume>;
  endpoints: Map<string, Endpoint>;
  /** The images the region has (ids given elsewhere are InvalidAMIID.NotFound). */
  images: Map<string, Image>;
  /** What resources with these Name tags really are (see seedMachines); else made up. */
  machines?: Machines;
}

/** Real hosts standing in for instances: an Elastic IP's address and an instance's host keys, by Name tag. */
export interface Machines {
  publicIps: Record<string, string>;
  hostKeys: Record<string, string[]>;
}

/** Makes the instances and addresses with these Name tags be real hosts (lab hosts, in tests that SSH to them). */
export function seedMachines(mock: AwsMock, machines: Machines): void {
  ec2State(mock).machines = machines;
}

export function ec2State(mock: AwsMock): Ec2State {
  return (mock.state.ec2 ??= {
    region: 'eu-west-1', vpcs: new Map(), subnets: new Map(), igws: new Map(), routeTables: new Map(), securityGroups: new Map(),
    addresses: new Map(), natGateways: new Map(), keyPairs: new Map(), instances: new Map(), volumes: new Map(), endpoints: new Map(),
    images: new Map(IMAGES.map((i) => [i.id, i])),
  } satisfies Ec2State) as Ec2State;
}

/** The tests' fixed image and two Debian 12 releases per architecture, as Debian's account publishes them. */
const IMAGES: Image[] = [
  { id: 'ami-0123456789abcdef0', name: 'test image', owner: '123456789012', architecture: 'x86_64', state: 'available', created: '2024-01-01T00:00:00.000Z' },
  { id: 'ami-0de12a0000000a001', name: 'debian-12-amd64-20240102-1614', owner: '136693071363', architecture: 'x86_64', state: 'available', created: '2024-01-02T16:14:00.000Z' },
  { id: 'ami-0de12a0000000a002', name: 'debian-12-amd64-20240717-1811', owner: '136693071363', architecture: 'x86_64', state: 'available', created: '2024-07-17T18:11:00.000Z' },
  { id: 'ami-0de12b0000000b002', name: 'debian-12-arm64-20240717-1811', owner: '136693071363', architecture: 'arm64', state: 'available', created: '2024-07-17T18:11:00.000Z' },
  { id: 'ami-0bad0000000000001', name: 'debian-12-amd64-broken', owner: '136693071363', architecture: 'x86_64', state: 'failed', created: '2024-08-01T00:00:00.000Z' },
];

/** Instance types: vCPUs, MiB, architecture; every one is offered in every zone. */
const TYPES: Record<string, [number, number, string]> = {
  't3.micro': [2, 1024, 'x86_64'], 't3.small': [2, 2048, 'x86_64'], 't3.medium': [2, 4096, 'x86_64'], 't3.large': [2, 8192, 'x86_64'],
  'm5.xlarge': [4, 16384, 'x86_64'], 't4g.micro': [2, 1024, 'arm64'], 't4g.large': [2, 8192, 'arm64'],
};
const ZONES = ['a', 'b', 'c'];

class Ec2Error extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}
const notFound = (code: string, id: string) => new Ec2Error(code, `The ID '${id}' does not exist`);

// ---- parameters ----
type Params = Record<string, Nested>;
const str = (p: Params, key: string): string | undefined => (typeof p[key] === 'string' ? (p[key] as string) : undefined);
function need(p: Params, key: string): string {
  const v = str(p, key);
  if (v === undefined) throw new Ec2Error('MissingParameter', `The request must contain the parameter ${key}`);
  return v;
}
const list = (p: Params | Nested | undefined, key: string): Nested[] => {
  const v = p && typeof p === 'object' && !Array.isArray(p) ? p[key] : undefined;
  return Array.isArray(v) ? v : v === undefined ? [] : [v];
};
const field = (n: Nested, key: string): string | undefined => (n && typeof n === 'object' && !Array.isArray(n) && typeof n[key] === 'string' ? (n[key] as string) : undefined);
const ids = (p: Params, key: string) => list(p, key).map(String);
const bool = (p: Params, key: string) => {
  const v = p[key];
  const s = typeof v === 'object' && !Array.isArray(v) ? v.Value : v;
  return s === undefined ? undefined : s === 'true';
};
const tagsOf = (items: Nested[]): Tags => Object.fromEntries(items.map((t) => [field(t, 'Key') ?? '', field(t, 'Value') ?? '']));
/** The tags given for the resource an action makes; AWS refuses specifications for types the action does not make. */
function specTags(p: Params, type: string, others: string[] = []): Tags {
  const specs = list(p, 'TagSpecification');
  const wrong = specs.map((x) => field(x, 'ResourceType') ?? '').find((t) => t !== type && !others.includes(t));
  if (wrong !== undefined) throw new Ec2Error('InvalidParameterValue', `'${wrong}' is not a valid taggable resource type for this operation.`);
  return Object.assign({}, ...specs.filter((x) => field(x, 'ResourceType') === type).map((x) => tagsOf(list(x, 'Tag'))));
}
const tagSet = (tags: Tags) => Object.entries(tags).map(([key, value]) => ({ key, value }));

/** Describe* filters: tag:K, tag-key, and each resource's own attributes. */
function matches(filters: Nested[], tags: Tags, attrs: Record<string, string | string[] | undefined>): boolean {
  return filters.every((f) => {
    const name = field(f, 'Name') ?? '';
    const wanted = list(f, 'Value').map(String);
    let have: string[];
    if (name.startsWith('tag:')) have = tags[name.slice(4)] !== undefined ? [tags[name.slice(4)]!] : [];
    else if (name === 'tag-key') have = Object.keys(tags);
    else if (name in attrs) have = [attrs[name]].flat().filter((x): x is string => x !== undefined);
    else throw new Ec2Error('InvalidParameterValue', `The filter '${name}' is invalid`);
    return have.some((h) => wanted.some((w) => new RegExp(`^${w.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`).test(h)));
  });
}

/** Describe by ids (NotFound when one is missing) or all, then filtered. */
function select<T extends { tags: Tags }>(map: Map<string, T>, wanted: string[], code: string, p: Params, attrs: (x: T) => Record<string, string | string[] | undefined>): T[] {
  for (const id of wanted) if (!map.has(id)) throw notFound(code, id);
  const all = wanted.length ? wanted.map((id) => map.get(id)!) : [...map.values()];
  return all.filter((x) => matches(list(p, 'Filter'), x.tags, attrs(x)));
}

/** A resource AWS is still making becomes ready after it has been looked at twice. */
function advance(x: { state: string; polls: number }, from: string, to: string): void {
  if (x.state === from && ++x.polls >= 2) {
    x.state = to;
    x.polls = 0;
  }
}

// ---- host keys, the way cloud-init prints them ----
const sshString = (b: Buffer | string) => {
  const data = typeof b === 'string' ? Buffer.from(b) : b;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  return Buffer.concat([len, data]);
};
function freshHostKeys(): string[] {
  const ed = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
  const point = Buffer.concat([Buffer.from([4]), Buffer.from(ec.x!, 'base64url'), Buffer.from(ec.y!, 'base64url')]);
  return [
    `ecdsa-sha2-nistp256 ${Buffer.concat([sshString('ecdsa-sha2-nistp256'), sshString('nistp256'), sshString(point)]).toString('base64')}`,
    `ssh-ed25519 ${Buffer.concat([sshString('ssh-ed25519'), sshString(Buffer.from(ed.x!, 'base64url'))]).toString('base64')}`,
  ];
}
const consoleText = (i: Instance, withKeys: boolean) =>
  [
    `[    0.000000] Linux version 6.1.0-13-cloud-amd64`,
    `Cloud-init v. 22.4.2 running 'modules:config' at ${new Date().toUTCString()}.`,
    ...(withKeys
      ? ['-----BEGIN SSH HOST KEY FINGERPRINTS-----', '256 SHA256:xxxx root@localhost (ED25519)', '-----END SSH HOST KEY FINGERPRINTS-----',
         '-----BEGIN SSH HOST KEY KEYS-----', ...i.hostKeys.map((k) => `${k} root@ip-${i.privateIp.replaceAll('.', '-')}`), '-----END SSH HOST KEY KEYS-----',
         `Cloud-init v. 22.4.2 finished. Up 12.34 seconds`]
      : []),
  ].join('\r\n') + '\r\n';

// ---- addresses in a CIDR ----
const ipNum = (ip: string) => ip.split('.').reduce((n, p) => n * 256 + Number(p), 0);
const numIp = (n: number) => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
function inCidr(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  return Math.floor(ipNum(ip) / size) === Math.floor(ipNum(base!) / size);
}

// ---- wire format ----
const XMLNS = 'http://ec2.amazonaws.com/doc/2016-11-15/';
const ok = (action: string, body: Record<string, XmlValue>): MockResponse => ({
  status: 200,
  headers: { 'content-type': 'text/xml;charset=UTF-8' },
  body: `<?xml version="1.0" encoding="UTF-8"?><${action}Response xmlns="${XMLNS}"><requestId>${awsId('req')}</requestId>${toXml(body, 'item')}</${action}Response>`,
});
const fail = (e: Ec2Error): MockResponse => ({
  status: 400,
  headers: { 'content-type': 'text/xml;charset=UTF-8' },
  body: `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>${e.code}</Code><Message>${toXml(e.message, 'item')}</Message></Error></Errors><RequestID>${awsId('req')}</RequestID></Response>`,
});

const vpcXml = (v: Vpc) => ({ vpcId: v.id, state: v.state, cidrBlock: v.cidr, isDefault: false, tagSet: tagSet(v.tags) });
const subnetXml = (s: Subnet) => ({ subnetId: s.id, vpcId: s.vpcId, cidrBlock: s.cidr, availabilityZone: s.az, state: s.state, mapPublicIpOnLaunch: s.mapPublicIp, tagSet: tagSet(s.tags) });
const igwXml = (g: Igw) => ({ internetGatewayId: g.id, attachmentSet: g.vpcId ? [{ vpcId: g.vpcId, state: 'available' }] : [], tagSet: tagSet(g.tags) });
const rtXml = (r: RouteTable) => ({
  routeTableId: r.id, vpcId: r.vpcId, tagSet: tagSet(r.tags),
  routeSet: r.routes.map((x) => ({ destinationCidrBlock: x.cidr, gatewayId: x.gatewayId, natGatewayId: x.natGatewayId, state: 'active', origin: x.origin })),
  associationSet: r.associations.map((a) => ({ routeTableAssociationId: a.id, routeTableId: r.id, subnetId: a.subnetId, main: a.main, associationState: { state: 'associated' } })),
});
const rulesXml = (rules: Rule[]) => rules.map((r) => ({
  ipProtocol: r.protocol, fromPort: r.from, toPort: r.to,
  ...(r.peer.startsWith('sg-') ? { groups: [{ groupId: r.peer }] } : r.peer.includes(':') ? { ipv6Ranges: [{ cidrIpv6: r.peer }] } : { ipRanges: [{ cidrIp: r.peer }] }),
}));
const sgXml = (g: SecurityGroup, owner: string) => ({
  ownerId: owner, groupId: g.id, groupName: g.name, groupDescription: g.description, vpcId: g.vpcId,
  ipPermissions: rulesXml(g.ingress), ipPermissionsEgress: rulesXml(g.egress), tagSet: tagSet(g.tags),
});
const addressXml = (a: Address, st: Ec2State) => ({
  publicIp: a.publicIp, allocationId: a.allocationId, domain: 'vpc', instanceId: a.instanceId, associationId: a.associationId,
  privateIpAddress: a.instanceId ? st.instances.get(a.instanceId)?.privateIp : undefined, tagSet: tagSet(a.tags),
});
const natXml = (n: NatGateway, st: Ec2State) => ({
  natGatewayId: n.id, subnetId: n.subnetId, vpcId: n.vpcId, state: n.state, connectivityType: 'public', tagSet: tagSet(n.tags),
  natGatewayAddressSet: [{ allocationId: n.allocationId, publicIp: st.addresses.get(n.allocationId)?.publicIp }],
});
const keyXml = (k: KeyPair, withKey: boolean) => ({ keyPairId: k.id, keyName: k.name, keyFingerprint: k.fingerprint, keyType: k.publicKey.startsWith('ssh-ed25519') ? 'ed25519' : 'rsa', publicKey: withKey ? k.publicKey : undefined, tagSet: tagSet(k.tags) });
const STATE_CODE: Record<string, number> = { pending: 0, running: 16, 'shutting-down': 32, terminated: 48, stopping: 64, stopped: 80 };
const instanceXml = (i: Instance, st: Ec2State) => ({
  instanceId: i.id, imageId: i.imageId, instanceType: i.type, keyName: i.keyName, subnetId: i.subnetId, vpcId: i.vpcId,
  instanceState: { code: STATE_CODE[i.state], name: i.state }, launchTime: i.launchTime,
  privateIpAddress: i.state === 'terminated' ? undefined : i.privateIp,
  ipAddress: [...st.addresses.values()].find((a) => a.instanceId === i.id)?.publicIp,
  groupSet: i.groupIds.map((g) => ({ groupId: g, groupName: st.securityGroups.get(g)?.name })),
  rootDeviceName: '/dev/xvda',
  blockDeviceMapping: i.state === 'terminated' ? [] : [
    { deviceName: '/dev/xvda', ebs: { volumeId: i.rootVolumeId, status: 'attached', deleteOnTermination: i.deleteOnTermination ?? true } },
    ...[...st.volumes.values()].filter((v) => v.instanceId === i.id && v.id !== i.rootVolumeId).map((v) => ({ deviceName: v.device, ebs: { volumeId: v.id, status: 'attached', deleteOnTermination: false } })),
  ],
  metadataOptions: { state: 'applied', httpTokens: i.httpTokens, httpPutResponseHopLimit: i.hopLimit, httpEndpoint: 'enabled' },
  tagSet: tagSet(i.tags),
});
const volumeXml = (v: Volume) => ({
  volumeId: v.id, size: v.size, availabilityZone: v.az, status: v.state, volumeType: v.type, encrypted: v.encrypted, createTime: new Date().toISOString(),
  attachmentSet: v.instanceId ? [{ volumeId: v.id, instanceId: v.instanceId, device: v.device, status: 'attached', deleteOnTermination: false }] : [],
  tagSet: tagSet(v.tags),
});
const endpointXml = (e: Endpoint) => ({
  vpcEndpointId: e.id, vpcEndpointType: 'Gateway', vpcId: e.vpcId, serviceName: e.service, state: e.state, routeTableIdSet: e.routeTableIds, tagSet: tagSet(e.tags),
});

// ---- the actions ----
type Action = (p: Params, st: Ec2State, mock: AwsMock) => Record<string, XmlValue>;

function getOr<T>(map: Map<string, T>, id: string | undefined, code: string): T {
  const x = id === undefined ? undefined : map.get(id);
  if (!x) throw notFound(code, id ?? '');
  return x;
}
const liveInstances = (st: Ec2State) => [...st.instances.values()].filter((i) => i.state !== 'terminated');
const liveNats = (st: Ec2State) => [...st.natGateways.values()].filter((n) => n.state !== 'deleted');

function parseRules(p: Params): Rule[] {
  return list(p, 'IpPermissions').flatMap((perm) => {
    const protocol = field(perm, 'IpProtocol') ?? '-1';
    const from = protocol === '-1' ? undefined : Number(field(perm, 'FromPort'));
    const to = protocol === '-1' ? undefined : Number(field(perm, 'ToPort'));
    const peers = [...list(perm, 'IpRanges').map((r) => field(r, 'CidrIp')), ...list(perm, 'Ipv6Ranges').map((r) => field(r, 'CidrIpv6')), ...list(perm, 'Groups').map((r) => field(r, 'GroupId'))];
    return peers.map((peer) => ({ protocol, from, to, peer: peer ?? '' }));
  });
}
const sameRule = (a: Rule, b: Rule) => a.protocol === b.protocol && a.from === b.from && a.to === b.to && a.peer === b.peer;
function changeRules(p: Params, st: Ec2State, egress: boolean, add: boolean) {
  const g = getOr(st.securityGroups, need(p, 'GroupId'), 'InvalidGroup.NotFound');
  if (!g.settled) {
    g.settled = true;
    throw new Ec2Error('InvalidGroup.NotFound', `The security group '${g.id}' does not exist`);
  }
  const rules = egress ? g.egress : g.ingress;
  for (const r of parseRules(p)) {
    const at = rules.findIndex((x) => sameRule(x, r));
    if (add && at >= 0) throw new Ec2Error('InvalidPermission.Duplicate', `the specified rule "peer: ${r.peer}, ${r.protocol.toUpperCase()}, from port: ${r.from}, to port: ${r.to}, ALLOW" already exists`);
    if (!add && at < 0) throw new Ec2Error('InvalidPermission.NotFound', 'The specified rule does not exist in this security group.');
    if (add) rules.push(r);
    else rules.splice(at, 1);
  }
  return { return: true };
}

function addRoute(p: Params, st: Ec2State, replace: boolean) {
  const rt = getOr(st.routeTables, need(p, 'RouteTableId'), 'InvalidRouteTableID.NotFound');
  const cidr = need(p, 'DestinationCidrBlock');
  const gatewayId = str(p, 'GatewayId');
  const natGatewayId = str(p, 'NatGatewayId');
  if (gatewayId) getOr(st.igws, gatewayId, 'InvalidInternetGatewayID.NotFound');
  if (natGatewayId) getOr(st.natGateways, natGatewayId, 'InvalidNatGatewayID.NotFound');
  const at = rt.routes.findIndex((r) => r.cidr === cidr);
  if (!replace && at >= 0) throw new Ec2Error('RouteAlreadyExists', `The route identified by ${cidr} already exists.`);
  if (replace && at < 0) throw new Ec2Error('InvalidRoute.NotFound', `no route with destination-cidr-block ${cidr} in route table ${rt.id}`);
  const route: Route = { cidr, gatewayId, natGatewayId, origin: 'CreateRoute' };
  if (replace) rt.routes[at] = route;
  else rt.routes.push(route);
  return { return: true };
}

const ACTIONS: Record<string, Action> = {
  DescribeAvailabilityZones: (_p, st) => ({
    availabilityZoneInfo: ['a', 'b', 'c'].map((z, i) => ({ zoneName: `${st.region}${z}`, zoneState: 'available', regionName: st.region, zoneId: `euw1-az${i + 1}`, zoneType: 'availability-zone' })),
  }),

  CreateVpc: (p, st) => {
    const vpc: Vpc = { id: awsId('vpc'), cidr: need(p, 'CidrBlock'), state: 'pending', polls: 0, tags: specTags(p, 'vpc'), dnsHostnames: false, dnsSupport: true };
    st.vpcs.set(vpc.id, vpc);
    // Every VPC comes with a main route table and a default security group, neither tagged.
    const main: RouteTable = { id: awsId('rtb'), vpcId: vpc.id, routes: [{ cidr: vpc.cidr, gatewayId: 'local', origin: 'CreateRouteTable' }], associations: [{ id: awsId('rtbassoc'), main: true }], tags: {} };
    st.routeTables.set(main.id, main);
    const sg: SecurityGroup = { id: awsId('sg'), vpcId: vpc.id, name: 'default', description: 'default VPC security group', ingress: [], egress: [{ protocol: '-1', peer: '0.0.0.0/0' }], tags: {} };
    st.securityGroups.set(sg.id, sg);
    return { vpc: vpcXml(vpc) };
  },
  DescribeVpcs: (p, st) => {
    const found = select(st.vpcs, ids(p, 'VpcId'), 'InvalidVpcID.NotFound', p, (v) => ({ 'vpc-id': v.id, 'cidr-block': v.cidr, state: v.state }));
    found.forEach((v) => advance(v, 'pending', 'available'));
    return { vpcSet: found.map(vpcXml) };
  },
  ModifyVpcAttribute: (p, st) => {
    const vpc = getOr(st.vpcs, need(p, 'VpcId'), 'InvalidVpcID.NotFound');
    const hostnames = bool(p, 'EnableDnsHostnames');
    const support = bool(p, 'EnableDnsSupport');
    if ((hostnames === undefined) === (support === undefined)) throw new Ec2Error('InvalidParameterCombination', 'exactly one attribute may be modified at a time');
    if (hostnames !== undefined) vpc.dnsHostnames = hostnames;
    if (support !== undefined) vpc.dnsSupport = support;
    return { return: true };
  },
  DescribeVpcAttribute: (p, st) => {
    const vpc = getOr(st.vpcs, need(p, 'VpcId'), 'InvalidVpcID.NotFound');
    const attr = need(p, 'Attribute');
    if (attr === 'enableDnsHostnames') return { vpcId: vpc.id, enableDnsHostnames: { value: vpc.dnsHostnames } };
    if (attr === 'enableDnsSupport') return { vpcId: vpc.id, enableDnsSupport: { value: vpc.dnsSupport } };
    throw new Ec2Error('InvalidParameterValue', `unknown attribute ${attr}`);
  },
  DeleteVpc: (p, st) => {
    const vpc = getOr(st.vpcs, need(p, 'VpcId'), 'InvalidVpcID.NotFound');
    const busy = [...st.subnets.values()].some((s) => s.vpcId === vpc.id) || [...st.igws.values()].some((g) => g.vpcId === vpc.id)
      || [...st.securityGroups.values()].some((g) => g.vpcId === vpc.id && g.name !== 'default')
      || [...st.routeTables.values()].some((r) => r.vpcId === vpc.id && !r.associations.some((a) => a.main))
      || [...st.endpoints.values()].some((e) => e.vpcId === vpc.id);
    if (busy) throw new Ec2Error('DependencyViolation', `The vpc '${vpc.id}' has dependencies and cannot be deleted.`);
    st.vpcs.delete(vpc.id);
    for (const [id, r] of st.routeTables) if (r.vpcId === vpc.id) st.routeTables.delete(id);
    for (const [id, g] of st.securityGroups) if (g.vpcId === vpc.id) st.securityGroups.delete(id);
    return { return: true };
  },

  CreateSubnet: (p, st) => {
    const vpc = getOr(st.vpcs, need(p, 'VpcId'), 'InvalidVpcID.NotFound');
    const cidr = need(p, 'CidrBlock');
    if (!inCidr(cidr.split('/')[0]!, vpc.cidr)) throw new Ec2Error('InvalidSubnet.Range', `The CIDR '${cidr}' is invalid.`);
    if ([...st.subnets.values()].some((s) => s.vpcId === vpc.id && (inCidr(s.cidr.split('/')[0]!, cidr) || inCidr(cidr.split('/')[0]!, s.cidr)))) {
      throw new Ec2Error('InvalidSubnet.Conflict', `The CIDR '${cidr}' conflicts with another subnet`);
    }
    const az = str(p, 'AvailabilityZone') ?? `${st.region}a`;
    if (!new RegExp(`^${st.region}[abc]$`).test(az)) throw new Ec2Error('InvalidParameterValue', `Value (${az}) for parameter availabilityZone is invalid.`);
    const subnet: Subnet = { id: awsId('subnet'), vpcId: vpc.id, cidr, az, state: 'pending', polls: 0, tags: specTags(p, 'subnet'), mapPublicIp: false };
    st.subnets.set(subnet.id, subnet);
    return { subnet: subnetXml(subnet) };
  },
  DescribeSubnets: (p, st) => {
    const found = select(st.subnets, ids(p, 'SubnetId'), 'InvalidSubnetID.NotFound', p, (s) => ({ 'vpc-id': s.vpcId, 'subnet-id': s.id, 'cidr-block': s.cidr, 'availability-zone': s.az, state: s.state }));
    found.forEach((s) => advance(s, 'pending', 'available'));
    return { subnetSet: found.map(subnetXml) };
  },
  ModifySubnetAttribute: (p, st) => {
    const subnet = getOr(st.subnets, need(p, 'SubnetId'), 'InvalidSubnetID.NotFound');
    const map = bool(p, 'MapPublicIpOnLaunch');
    if (map !== undefined) subnet.mapPublicIp = map;
    return { return: true };
  },
  DeleteSubnet: (p, st) => {
    const subnet = getOr(st.subnets, need(p, 'SubnetId'), 'InvalidSubnetID.NotFound');
    if (liveInstances(st).some((i) => i.subnetId === subnet.id) || liveNats(st).some((n) => n.subnetId === subnet.id)) {
      throw new Ec2Error('DependencyViolation', `The subnet '${subnet.id}' has dependencies and cannot be deleted.`);
    }
    st.subnets.delete(subnet.id);
    for (const r of st.routeTables.values()) r.associations = r.associations.filter((a) => a.subnetId !== subnet.id);
    return { return: true };
  },

  CreateInternetGateway: (p, st) => {
    const igw: Igw = { id: awsId('igw'), tags: specTags(p, 'internet-gateway') };
    st.igws.set(igw.id, igw);
    return { internetGateway: igwXml(igw) };
  },
  AttachInternetGateway: (p, st) => {
    const igw = getOr(st.igws, need(p, 'InternetGatewayId'), 'InvalidInternetGatewayID.NotFound');
    const vpc = getOr(st.vpcs, need(p, 'VpcId'), 'InvalidVpcID.NotFound');
    if (igw.vpcId) throw new Ec2Error('Resource.AlreadyAssociated', `resource ${igw.id} is already attached to network ${igw.vpcId}`);
    igw.vpcId = vpc.id;
    return { return: true };
  },
  DetachInternetGateway: (p, st) => {
    const igw = getOr(st.igws, need(p, 'InternetGatewayId'), 'InvalidInternetGatewayID.NotFound');
    const vpcId = need(p, 'VpcId');
    if (igw.vpcId !== vpcId) throw new Ec2Error('Gateway.NotAttached', `resource ${igw.id} is not attached to network ${vpcId}`);
    // Public addresses in the VPC: Elastic IPs on its instances, NAT gateways, instances with a public IP from their subnet.
    const inVpc = liveInstances(st).filter((i) => i.vpcId === vpcId);
    const mapped = inVpc.some((i) => st.subnets.get(i.subnetId)?.mapPublicIp || [...st.addresses.values()].some((a) => a.instanceId === i.id))
      || liveNats(st).some((n) => n.vpcId === vpcId);
    if (mapped) throw new Ec2Error('DependencyViolation', `Network ${vpcId} has some mapped public address(es). Please unmap those public address(es) before detaching the gateway.`);
    delete igw.vpcId;
    return { return: true };
  },
  DescribeInternetGateways: (p, st) => ({
    internetGatewaySet: select(st.igws, ids(p, 'InternetGatewayId'), 'InvalidInternetGatewayID.NotFound', p, (g) => ({ 'attachment.vpc-id': g.vpcId, 'internet-gateway-id': g.id })).map(igwXml),
  }),
  DeleteInternetGateway: (p, st) => {
    const igw = getOr(st.igws, need(p, 'InternetGatewayId'), 'InvalidInternetGatewayID.NotFound');
    if (igw.vpcId) throw new Ec2Error('DependencyViolation', `The internetGateway '${igw.id}' has dependencies and cannot be deleted.`);
    st.igws.delete(igw.id);
    return { return: true };
  },

  CreateRouteTable: (p, st) => {
    const vpc = getOr(st.vpcs, need(p, 'VpcId'), 'InvalidVpcID.NotFound');
    const rt: RouteTable = { id: awsId('rtb'), vpcId: vpc.id, routes: [{ cidr: vpc.cidr, gatewayId: 'local', origin: 'CreateRouteTable' }], associations: [], tags: specTags(p, 'route-table') };
    st.routeTables.set(rt.id, rt);
    return { routeTable: rtXml(rt) };
  },
  DescribeRouteTables: (p, st) => ({
    routeTableSet: select(st.routeTables, ids(p, 'RouteTableId'), 'InvalidRouteTableID.NotFound', p, (r) => ({
      'vpc-id': r.vpcId, 'route-table-id': r.id, 'association.subnet-id': r.associations.map((a) => a.subnetId).filter((x): x is string => !!x),
      'association.main': r.associations.some((a) => a.main) ? 'true' : 'false',
    })).map(rtXml),
  }),
  CreateRoute: (p, st) => addRoute(p, st, false),
  ReplaceRoute: (p, st) => addRoute(p, st, true),
  DeleteRoute: (p, st) => {
    const rt = getOr(st.routeTables, need(p, 'RouteTableId'), 'InvalidRouteTableID.NotFound');
    const at = rt.routes.findIndex((r) => r.cidr === need(p, 'DestinationCidrBlock') && r.gatewayId !== 'local');
    if (at < 0) throw new Ec2Error('InvalidRoute.NotFound', 'no such route');
    rt.routes.splice(at, 1);
    return { return: true };
  },
  AssociateRouteTable: (p, st) => {
    const rt = getOr(st.routeTables, need(p, 'RouteTableId'), 'InvalidRouteTableID.NotFound');
    const subnet = getOr(st.subnets, need(p, 'SubnetId'), 'InvalidSubnetID.NotFound');
    if ([...st.routeTables.values()].some((r) => r.associations.some((a) => a.subnetId === subnet.id))) {
      throw new Ec2Error('Resource.AlreadyAssociated', `the specified association for route table ${rt.id} conflicts with an existing association`);
    }
    const association = { id: awsId('rtbassoc'), subnetId: subnet.id, main: false };
    rt.associations.push(association);
    return { associationId: association.id, associationState: { state: 'associated' } };
  },
  DisassociateRouteTable: (p, st) => {
    const id = need(p, 'AssociationId');
    const rt = [...st.routeTables.values()].find((r) => r.associations.some((a) => a.id === id && !a.main));
    if (!rt) throw notFound('InvalidAssociationID.NotFound', id);
    rt.associations = rt.associations.filter((a) => a.id !== id);
    return { return: true };
  },
  ReplaceRouteTableAssociation: (p, st) => {
    const id = need(p, 'AssociationId');
    const to = getOr(st.routeTables, need(p, 'RouteTableId'), 'InvalidRouteTableID.NotFound');
    const from = [...st.routeTables.values()].find((r) => r.associations.some((a) => a.id === id));
    if (!from) throw notFound('InvalidAssociationID.NotFound', id);
    const old = from.associations.find((a) => a.id === id)!;
    from.associations = from.associations.filter((a) => a !== old);
    const moved = { ...old, id: awsId('rtbassoc') };
    to.associations.push(moved);
    return { newAssociationId: moved.id, associationState: { state: 'associated' } };
  },
  DeleteRouteTable: (p, st) => {
    const rt = getOr(st.routeTables, need(p, 'RouteTableId'), 'InvalidRouteTableID.NotFound');
    if (rt.associations.length) throw new Ec2Error('DependencyViolation', `The routeTable '${rt.id}' has dependencies and cannot be deleted.`);
    st.routeTables.delete(rt.id);
    return { return: true };
  },

  CreateSecurityGroup: (p, st) => {
    const vpc = getOr(st.vpcs, need(p, 'VpcId'), 'InvalidVpcID.NotFound');
    const name = need(p, 'GroupName');
    if ([...st.securityGroups.values()].some((g) => g.vpcId === vpc.id && g.name === name)) throw new Ec2Error('InvalidGroup.Duplicate', `The security group '${name}' already exists for VPC '${vpc.id}'`);
    const sg: SecurityGroup = { id: awsId('sg'), vpcId: vpc.id, name, description: need(p, 'GroupDescription'), ingress: [], egress: [{ protocol: '-1', peer: '0.0.0.0/0' }], tags: specTags(p, 'security-group') };
    st.securityGroups.set(sg.id, sg);
    return { groupId: sg.id, tagSet: tagSet(sg.tags) };
  },
  DescribeSecurityGroups: (p, st, mock) => ({
    securityGroupInfo: select(st.securityGroups, ids(p, 'GroupId'), 'InvalidGroup.NotFound', p, (g) => ({ 'vpc-id': g.vpcId, 'group-id': g.id, 'group-name': g.name })).map((g) => sgXml(g, mock.accountId)),
  }),
  AuthorizeSecurityGroupIngress: (p, st) => changeRules(p, st, false, true),
  AuthorizeSecurityGroupEgress: (p, st) => changeRules(p, st, true, true),
  RevokeSecurityGroupIngress: (p, st) => changeRules(p, st, false, false),
  RevokeSecurityGroupEgress: (p, st) => changeRules(p, st, true, false),
  DeleteSecurityGroup: (p, st) => {
    const sg = getOr(st.securityGroups, need(p, 'GroupId'), 'InvalidGroup.NotFound');
    if (liveInstances(st).some((i) => i.groupIds.includes(sg.id))) throw new Ec2Error('DependencyViolation', `resource ${sg.id} has a dependent object`);
    st.securityGroups.delete(sg.id);
    return { return: true };
  },

  AllocateAddress: (p, st) => {
    const n = st.addresses.size + 10;
    const tags = specTags(p, 'elastic-ip');
    const a: Address = { allocationId: awsId('eipalloc'), publicIp: st.machines?.publicIps[tags.Name ?? ''] ?? `203.0.113.${n % 250}`, tags };
    st.addresses.set(a.allocationId, a);
    return { publicIp: a.publicIp, allocationId: a.allocationId, domain: 'vpc' };
  },
  DescribeAddresses: (p, st) => ({
    addressesSet: select(st.addresses, ids(p, 'AllocationId'), 'InvalidAllocationID.NotFound', p, (a) => ({ 'allocation-id': a.allocationId, 'instance-id': a.instanceId, 'public-ip': a.publicIp, domain: 'vpc' })).map((a) => addressXml(a, st)),
  }),
  AssociateAddress: (p, st) => {
    const a = getOr(st.addresses, need(p, 'AllocationId'), 'InvalidAllocationID.NotFound');
    const i = getOr(st.instances, need(p, 'InstanceId'), 'InvalidInstanceID.NotFound');
    if (i.state !== 'running') throw new Ec2Error('IncorrectInstanceState', `The instance '${i.id}' is not in a valid state for this operation.`);
    if (a.natGatewayId) throw new Ec2Error('Resource.AlreadyAssociated', `resource ${a.allocationId} is already associated`);
    a.instanceId = i.id;
    a.associationId = awsId('eipassoc');
    return { associationId: a.associationId };
  },
  DisassociateAddress: (p, st) => {
    const id = need(p, 'AssociationId');
    const a = [...st.addresses.values()].find((x) => x.associationId === id);
    if (!a) throw notFound('InvalidAssociationID.NotFound', id);
    delete a.instanceId;
    delete a.associationId;
    return { return: true };
  },
  ReleaseAddress: (p, st) => {
    const a = getOr(st.addresses, need(p, 'AllocationId'), 'InvalidAllocationID.NotFound');
    if (a.associationId || a.natGatewayId) throw new Ec2Error('InvalidIPAddress.InUse', `Address ${a.publicIp} is in use.`);
    st.addresses.delete(a.allocationId);
    return { return: true };
  },

  CreateNatGateway: (p, st) => {
    const subnet = getOr(st.subnets, need(p, 'SubnetId'), 'InvalidSubnetID.NotFound');
    const a = getOr(st.addresses, need(p, 'AllocationId'), 'InvalidAllocationID.NotFound');
    if (a.associationId || a.natGatewayId) throw new Ec2Error('Resource.AlreadyAssociated', `Elastic IP address [${a.allocationId}] is already associated`);
    const nat: NatGateway = { id: awsId('nat'), subnetId: subnet.id, vpcId: subnet.vpcId, allocationId: a.allocationId, state: 'pending', polls: 0, tags: specTags(p, 'natgateway') };
    a.natGatewayId = nat.id;
    st.natGateways.set(nat.id, nat);
    return { natGateway: natXml(nat, st) };
  },
  DescribeNatGateways: (p, st) => {
    const found = select(st.natGateways, ids(p, 'NatGatewayId'), 'NatGatewayNotFound', p, (n) => ({ 'vpc-id': n.vpcId, 'subnet-id': n.subnetId, state: n.state, 'nat-gateway-id': n.id }));
    for (const n of found) {
      advance(n, 'pending', 'available');
      advance(n, 'deleting', 'deleted');
      if (n.state === 'deleted') delete st.addresses.get(n.allocationId)?.natGatewayId;
    }
    return { natGatewaySet: found.map((n) => natXml(n, st)) };
  },
  DeleteNatGateway: (p, st) => {
    const nat = getOr(st.natGateways, need(p, 'NatGatewayId'), 'NatGatewayNotFound');
    if (nat.state === 'deleted') throw notFound('NatGatewayNotFound', nat.id);
    nat.state = 'deleting';
    nat.polls = 0;
    return { natGatewayId: nat.id };
  },

  ImportKeyPair: (p, st) => {
    const name = need(p, 'KeyName');
    if ([...st.keyPairs.values()].some((k) => k.name === name)) throw new Ec2Error('InvalidKeyPair.Duplicate', `The keypair already exists`);
    const publicKey = Buffer.from(need(p, 'PublicKeyMaterial'), 'base64').toString('utf8').trim();
    const [type, blob] = publicKey.split(/\s+/);
    if (!type || !blob) throw new Ec2Error('InvalidKey.Format', 'Key is not in valid OpenSSH public key format');
    const k: KeyPair = { id: awsId('key'), name, publicKey: `${type} ${blob}`, fingerprint: `SHA256:${createHash('sha256').update(Buffer.from(blob, 'base64')).digest('base64').replace(/=+$/, '')}`, tags: specTags(p, 'key-pair') };
    st.keyPairs.set(k.id, k);
    return { keyName: k.name, keyFingerprint: k.fingerprint, keyPairId: k.id, tagSet: tagSet(k.tags) };
  },
  DescribeKeyPairs: (p, st) => {
    const names = ids(p, 'KeyName');
    const missing = names.find((n) => ![...st.keyPairs.values()].some((k) => k.name === n));
    if (missing) throw new Ec2Error('InvalidKeyPair.NotFound', `The key pair '${missing}' does not exist`);
    const found = select(st.keyPairs, ids(p, 'KeyPairId'), 'InvalidKeyPair.NotFound', p, (k) => ({ 'key-name': k.name, 'key-pair-id': k.id }))
      .filter((k) => !names.length || names.includes(k.name));
    return { keySet: found.map((k) => keyXml(k, str(p, 'IncludePublicKey') === 'true')) };
  },
  DeleteKeyPair: (p, st) => {
    // Like AWS: deleting a key pair that is not there succeeds.
    const name = str(p, 'KeyName');
    const id = str(p, 'KeyPairId');
    for (const k of st.keyPairs.values()) if (k.name === name || k.id === id) st.keyPairs.delete(k.id);
    return { return: true };
  },

  RunInstances: (p, st) => {
    const subnet = getOr(st.subnets, need(p, 'SubnetId'), 'InvalidSubnetID.NotFound');
    if (need(p, 'MinCount') !== '1' || need(p, 'MaxCount') !== '1') throw new Ec2Error('InvalidParameterValue', 'the mock runs one instance at a time');
    const groupIds = ids(p, 'SecurityGroupId');
    for (const g of groupIds) {
      if (getOr(st.securityGroups, g, 'InvalidGroup.NotFound').vpcId !== subnet.vpcId) throw new Ec2Error('InvalidParameter', `Security group ${g} and subnet ${subnet.id} belong to different networks.`);
    }
    const keyName = str(p, 'KeyName');
    if (keyName && ![...st.keyPairs.values()].some((k) => k.name === keyName)) throw new Ec2Error('InvalidKeyPair.NotFound', `The key pair '${keyName}' does not exist`);
    const used = new Set(liveInstances(st).map((i) => i.privateIp));
    let privateIp = str(p, 'PrivateIpAddress');
    if (privateIp) {
      if (!inCidr(privateIp, subnet.cidr)) throw new Ec2Error('InvalidParameterValue', `Address ${privateIp} does not fall within the subnet's address range`);
      if (used.has(privateIp)) throw new Ec2Error('InvalidIPAddress.InUse', `Address ${privateIp} is in use.`);
    } else {
      let n = ipNum(subnet.cidr.split('/')[0]!) + 4;
      while (used.has(numIp(n))) n++;
      privateIp = numIp(n);
    }
    const root = list(p, 'BlockDeviceMapping')[0];
    const ebs = root && typeof root === 'object' && !Array.isArray(root) ? root.Ebs : undefined;
    const imageId = need(p, 'ImageId');
    const image = st.images.get(imageId);
    if (!image) throw new Ec2Error('InvalidAMIID.NotFound', `The image id '[${imageId}]' does not exist`);
    const type = str(p, 'InstanceType') ?? 'm1.small';
    if (!TYPES[type]) throw new Ec2Error('InvalidParameterValue', `Invalid value '${type}' for InstanceType.`);
    if (TYPES[type]![2] !== image.architecture) throw new Ec2Error('InvalidParameterValue', `The architecture '${TYPES[type]![2]}' of the specified instance type does not match the architecture '${image.architecture}' of the specified AMI.`);
    const meta = p.MetadataOptions && typeof p.MetadataOptions === 'object' && !Array.isArray(p.MetadataOptions) ? p.MetadataOptions : undefined;
    const rootVolume: Volume = {
      id: awsId('vol'), az: subnet.az, size: ebs ? Number(field(ebs, 'VolumeSize')) : 8, type: (ebs && field(ebs, 'VolumeType')) || 'gp2',
      encrypted: ebs ? field(ebs, 'Encrypted') === 'true' : false, state: 'in-use', device: '/dev/xvda', tags: specTags(p, 'volume', ['instance', 'network-interface']),
    };
    const instance: Instance = {
      rootVolumeId: rootVolume.id, httpTokens: (meta && field(meta, 'HttpTokens')) || 'optional', hopLimit: Number((meta && field(meta, 'HttpPutResponseHopLimit')) || 1),
      ...(str(p, 'UserData') ? { userData: Buffer.from(str(p, 'UserData')!, 'base64').toString('utf8') } : {}),
      id: awsId('i'), imageId, type, subnetId: subnet.id, vpcId: subnet.vpcId, privateIp, groupIds, keyName,
      rootDevice: field(root ?? '', 'DeviceName'), rootGiB: ebs ? Number(field(ebs, 'VolumeSize')) : undefined, rootType: ebs ? field(ebs, 'VolumeType') : undefined,
      deleteOnTermination: ebs ? field(ebs, 'DeleteOnTermination') === 'true' : undefined,
      state: 'pending', polls: 0, consolePolls: 0, launchTime: new Date().toISOString(), seenById: false, hostKeys: [], tags: specTags(p, 'instance', ['volume', 'network-interface']),
    };
    instance.hostKeys = st.machines?.hostKeys[instance.tags.Name ?? ''] ?? freshHostKeys();
    st.instances.set(instance.id, instance);
    rootVolume.instanceId = instance.id;
    st.volumes.set(rootVolume.id, rootVolume);
    return { reservationId: awsId('r'), ownerId: '123456789012', groupSet: [], instancesSet: [instanceXml(instance, st)] };
  },
  DescribeInstances: (p, st, mock) => {
    for (const id of ids(p, 'InstanceId')) {
      const i = st.instances.get(id);
      if (i && !i.seenById) {
        i.seenById = true;
        throw notFound('InvalidInstanceID.NotFound', id);
      }
    }
    const found = select(st.instances, ids(p, 'InstanceId'), 'InvalidInstanceID.NotFound', p, (i) => ({
      'instance-state-name': i.state, 'vpc-id': i.vpcId, 'subnet-id': i.subnetId, 'instance-id': i.id, 'private-ip-address': i.privateIp, 'image-id': i.imageId,
    }));
    for (const i of found) {
      advance(i, 'pending', 'running');
      advance(i, 'shutting-down', 'terminated');
    }
    return { reservationSet: found.map((i) => ({ reservationId: awsId('r'), ownerId: mock.accountId, groupSet: [], instancesSet: [instanceXml(i, st)] })) };
  },
  TerminateInstances: (p, st) => {
    const instances = ids(p, 'InstanceId').map((id) => getOr(st.instances, id, 'InvalidInstanceID.NotFound'));
    return {
      instancesSet: instances.map((i) => {
        const previous = i.state;
        if (i.state !== 'terminated') {
          i.state = 'shutting-down';
          i.polls = 0;
        }
        for (const v of [...st.volumes.values()].filter((x) => x.instanceId === i.id)) {
          if (v.id === i.rootVolumeId && (i.deleteOnTermination ?? true)) st.volumes.delete(v.id);
          else {
            delete v.instanceId;
            delete v.device;
            v.state = 'available';
          }
        }
        for (const a of st.addresses.values()) {
          if (a.instanceId === i.id) {
            delete a.instanceId;
            delete a.associationId;
          }
        }
        return { instanceId: i.id, previousState: { code: STATE_CODE[previous], name: previous }, currentState: { code: STATE_CODE[i.state], name: i.state } };
      }),
    };
  },
  GetConsoleOutput: (p, st) => {
    const i = getOr(st.instances, need(p, 'InstanceId'), 'InvalidInstanceID.NotFound');
    // Nothing until the instance runs; cloud-init prints the keys a little later.
    if (i.state === 'pending') return { instanceId: i.id, timestamp: new Date().toISOString() };
    const withKeys = i.state === 'running' ? ++i.consolePolls > 2 : true;
    return { instanceId: i.id, timestamp: new Date().toISOString(), output: Buffer.from(consoleText(i, withKeys)).toString('base64') };
  },

  DescribeImages: (p, st) => {
    const wanted = ids(p, 'ImageId');
    for (const id of wanted) {
      if (!/^ami-[0-9a-f]{8,17}$/.test(id)) throw new Ec2Error('InvalidAMIID.Malformed', `Invalid id: "${id}"`);
      if (!st.images.has(id)) throw new Ec2Error('InvalidAMIID.NotFound', `The image id '[${id}]' does not exist`);
    }
    const owners = ids(p, 'Owner');
    const images = (wanted.length ? wanted.map((id) => st.images.get(id)!) : [...st.images.values()])
      .filter((i) => !owners.length || owners.includes(i.owner) || (owners.includes('self') && i.owner === '123456789012'))
      .filter((i) => matches(list(p, 'Filter'), {}, { name: i.name, state: i.state, architecture: i.architecture, 'owner-id': i.owner, 'image-id': i.id }));
    return {
      imagesSet: images.map((i) => ({
        imageId: i.id, name: i.name, imageOwnerId: i.owner, imageState: i.state, architecture: i.architecture, creationDate: i.created, rootDeviceName: '/dev/xvda', rootDeviceType: 'ebs',
      })),
    };
  },
  DescribeInstanceTypes: (p) => {
    const wanted = ids(p, 'InstanceType');
    const bad = wanted.find((t) => !TYPES[t]);
    if (bad) throw new Ec2Error('InvalidInstanceType', `The following supplied instance types do not exist: [${bad}]`);
    return {
      instanceTypeSet: wanted.map((t) => {
        const [vcpus, mib, arch] = TYPES[t]!;
        return { instanceType: t, vCpuInfo: { defaultVCpus: vcpus }, memoryInfo: { sizeInMiB: mib }, processorInfo: { supportedArchitectures: [arch] } };
      }),
    };
  },
  DescribeInstanceTypeOfferings: (p, st) => {
    if (str(p, 'LocationType') !== 'availability-zone') throw new Ec2Error('InvalidParameterValue', 'the mock offers by availability-zone only');
    const offerings = Object.keys(TYPES).flatMap((t) => ZONES.map((z) => ({ instanceType: t, locationType: 'availability-zone', location: `${st.region}${z}` })));
    return { instanceTypeOfferingSet: offerings.filter((o) => matches(list(p, 'Filter'), {}, { 'instance-type': o.instanceType, location: o.location })) };
  },
  CreateVolume: (p, st) => {
    const az = need(p, 'AvailabilityZone');
    if (!ZONES.some((z) => az === `${st.region}${z}`)) throw new Ec2Error('InvalidParameterValue', `Invalid availability zone: [${az}]`);
    const v: Volume = { id: awsId('vol'), az, size: Number(need(p, 'Size')), type: str(p, 'VolumeType') ?? 'gp2', encrypted: str(p, 'Encrypted') === 'true', state: 'creating', tags: specTags(p, 'volume') };
    st.volumes.set(v.id, v);
    return volumeXml(v);
  },
  DescribeVolumes: (p, st) => {
    const found = select(st.volumes, ids(p, 'VolumeId'), 'InvalidVolume.NotFound', p, (v) => ({ 'volume-id': v.id, status: v.state, 'availability-zone': v.az, 'attachment.instance-id': v.instanceId }));
    for (const v of found) if (v.state === 'creating') v.state = 'available';
    return { volumeSet: found.map(volumeXml) };
  },
  AttachVolume: (p, st) => {
    const v = getOr(st.volumes, need(p, 'VolumeId'), 'InvalidVolume.NotFound');
    const i = getOr(st.instances, need(p, 'InstanceId'), 'InvalidInstanceID.NotFound');
    if (v.state !== 'available') throw new Ec2Error('VolumeInUse', `vol ${v.id} is ${v.state}`);
    if (i.state !== 'running' && i.state !== 'stopped') throw new Ec2Error('IncorrectState', `Instance '${i.id}' is not 'running'.`);
    if (st.subnets.get(i.subnetId)?.az !== v.az) throw new Ec2Error('InvalidVolume.ZoneMismatch', `The volume '${v.id}' is not in the same availability zone as instance '${i.id}'`);
    v.instanceId = i.id;
    v.device = need(p, 'Device');
    v.state = 'in-use';
    return { volumeId: v.id, instanceId: i.id, device: v.device, status: 'attaching' };
  },
  DeleteVolume: (p, st) => {
    const v = getOr(st.volumes, need(p, 'VolumeId'), 'InvalidVolume.NotFound');
    if (v.instanceId) throw new Ec2Error('VolumeInUse', `Volume ${v.id} is currently attached to ${v.instanceId}`);
    st.volumes.delete(v.id);
    return { return: true };
  },
  ModifyInstanceMetadataOptions: (p, st) => {
    const i = getOr(st.instances, need(p, 'InstanceId'), 'InvalidInstanceID.NotFound');
    i.httpTokens = str(p, 'HttpTokens') ?? i.httpTokens;
    i.hopLimit = Number(str(p, 'HttpPutResponseHopLimit') ?? i.hopLimit);
    return { instanceId: i.id, instanceMetadataOptions: { state: 'pending', httpTokens: i.httpTokens, httpPutResponseHopLimit: i.hopLimit } };
  },
  StartInstances: (p, st) => ({
    instancesSet: ids(p, 'InstanceId').map((id) => {
      const i = getOr(st.instances, id, 'InvalidInstanceID.NotFound');
      if (i.state !== 'stopped' && i.state !== 'running') throw new Ec2Error('IncorrectInstanceState', `The instance '${id}' is not in a state from which it can be started.`);
      const previous = i.state;
      if (i.state === 'stopped') {
        i.state = 'pending';
        i.polls = 0;
      }
      return { instanceId: id, previousState: { code: STATE_CODE[previous], name: previous }, currentState: { code: STATE_CODE[i.state], name: i.state } };
    }),
  }),
  CreateVpcEndpoint: (p, st) => {
    const vpc = getOr(st.vpcs, need(p, 'VpcId'), 'InvalidVpcID.NotFound');
    const service = need(p, 'ServiceName');
    if (service !== `com.amazonaws.${st.region}.s3`) throw new Ec2Error('InvalidServiceName', `The Vpc Endpoint Service '${service}' does not exist`);
    const routeTableIds = ids(p, 'RouteTableId');
    for (const r of routeTableIds) getOr(st.routeTables, r, 'InvalidRouteTableId.NotFound');
    const e: Endpoint = { id: awsId('vpce'), vpcId: vpc.id, service, routeTableIds, state: 'available', tags: specTags(p, 'vpc-endpoint') };
    st.endpoints.set(e.id, e);
    return { vpcEndpoint: endpointXml(e) };
  },
  DescribeVpcEndpoints: (p, st) => ({
    vpcEndpointSet: select(st.endpoints, ids(p, 'VpcEndpointId'), 'InvalidVpcEndpointId.NotFound', p, (e) => ({ 'vpc-id': e.vpcId, 'service-name': e.service, 'vpc-endpoint-state': e.state })).map(endpointXml),
  }),
  ModifyVpcEndpoint: (p, st) => {
    const e = getOr(st.endpoints, need(p, 'VpcEndpointId'), 'InvalidVpcEndpointId.NotFound');
    const remove = ids(p, 'RemoveRouteTableId');
    e.routeTableIds = [...e.routeTableIds.filter((r) => !remove.includes(r)), ...ids(p, 'AddRouteTableId')];
    return { return: true };
  },
  DeleteVpcEndpoints: (p, st) => {
    for (const id of ids(p, 'VpcEndpointId')) st.endpoints.delete(getOr(st.endpoints, id, 'InvalidVpcEndpointId.NotFound').id);
    return { unsuccessful: [] };
  },
  ModifyInstanceAttribute: (p, st) => {
    const i = getOr(st.instances, need(p, 'InstanceId'), 'InvalidInstanceID.NotFound');
    const groups = ids(p, 'GroupId');
    if (!groups.length) throw new Ec2Error('InvalidParameterCombination', 'the mock only modifies security groups');
    for (const g of groups) getOr(st.securityGroups, g, 'InvalidGroup.NotFound');
    i.groupIds = groups;
    return { return: true };
  },

  CreateTags: (p, st) => {
    const tags = tagsOf(list(p, 'Tag'));
    const maps = [st.vpcs, st.subnets, st.igws, st.routeTables, st.securityGroups, st.addresses, st.natGateways, st.keyPairs, st.instances, st.volumes, st.endpoints] as Map<string, { tags: Tags }>[];
    for (const id of ids(p, 'ResourceId')) {
      const x = maps.map((m) => m.get(id)).find(Boolean);
      if (!x) throw notFound(`Invalid${id.split('-')[0]}ID.NotFound`, id);
      Object.assign(x.tags, tags);
    }
    return { return: true };
  },
};

export const handleEc2: ServiceHandler = (req, mock) => {
  const params = nestedParams(formParams(req));
  const action = String(params.Action ?? '');
  const st = ec2State(mock);
  st.region = req.region;
  const run = ACTIONS[action];
  if (!run) return fail(new Ec2Error('InvalidAction', `The action ${action} is not valid for this web service.`));
  try {
    return ok(action, run(params, st, mock));
  } catch (err) {
    if (err instanceof Ec2Error) return fail(err);
    throw err;
  }
};
