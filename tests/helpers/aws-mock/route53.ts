// Route53 for the mock (REST-XML): hosted zones made by `seedHostedZone` (harbormaster never
// creates one), record sets changed in atomic batches with AWS's validation messages, and
// changes that are PENDING until they have been polled.
import { randomBytes } from 'node:crypto';
import { xmlElements, xmlText } from './s3.ts';
import { type AwsMock, type MockResponse, type ServiceHandler, toXml, type XmlValue, xmlEscape } from './server.ts';

export interface RecordSet {
  /** Lower case, with the trailing dot, as Route53 returns it. */
  name: string;
  type: string;
  ttl?: number;
  values: string[];
  /** Alias records point at an AWS resource instead of holding values. */
  alias?: { hostedZoneId: string; dnsName: string; evaluateTargetHealth: boolean };
}

export interface HostedZone {
  id: string;
  name: string;
  callerReference: string;
  privateZone: boolean;
  records: RecordSet[];
}

interface Route53Change {
  id: string;
  submittedAt: string;
  /** GetChange calls so far: a change is INSYNC from the second one on. */
  polls: number;
}

export interface Route53State {
  zones: Map<string, HostedZone>;
  changes: Map<string, Route53Change>;
}

export const route53State = (mock: AwsMock): Route53State => (mock.state.route53 ??= { zones: new Map(), changes: new Map() }) as Route53State;

const NS = 'https://route53.amazonaws.com/doc/2013-04-01/';
const zoneIdOf = () => `Z${randomBytes(10).toString('hex').toUpperCase().slice(0, 19)}`;
const fqdn = (name: string) => `${name.toLowerCase().replace(/\.$/, '')}.`;

/** Creates the hosted zone a deployment expects to exist (with its SOA and NS records); returns its id. */
export function seedHostedZone(mock: AwsMock, name: string, privateZone = false): string {
  const id = zoneIdOf();
  const zone = fqdn(name);
  const servers = ['ns-1.awsdns-01.org.', 'ns-2.awsdns-02.net.'];
  route53State(mock).zones.set(id, {
    id,
    name: zone,
    callerReference: randomBytes(8).toString('hex'),
    privateZone,
    records: [
      { name: zone, type: 'NS', ttl: 172800, values: servers },
      { name: zone, type: 'SOA', ttl: 900, values: [`${servers[0]} awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400`] },
    ],
  });
  return id;
}

const ok = (root: string, value: XmlValue): MockResponse => ({
  status: 200,
  headers: { 'content-type': 'text/xml' },
  body: `<?xml version="1.0" encoding="UTF-8"?>\n<${root} xmlns="${NS}">${toXml(value, 'member')}</${root}>`,
});

/** Elements of one tag around each of these XML fragments. */
const list = (tag: string, fragments: string[]): string => fragments.map((f) => `<${tag}>${f}</${tag}>`).join('');

function r53Error(status: number, code: string, message: string): MockResponse {
  return {
    status,
    headers: { 'content-type': 'text/xml' },
    body: `<?xml version="1.0"?>\n<ErrorResponse xmlns="${NS}"><Error><Type>Sender</Type><Code>${code}</Code><Message>${xmlEscape(message)}</Message></Error><RequestId>${randomBytes(8).toString('hex')}</RequestId></ErrorResponse>`,
  };
}

/** Route53's order: by name with its labels reversed (com.example.www), then by type. */
const sortKey = (name: string, type = '') => `${name.replace(/\.$/, '').split('.').reverse().join('.')}\u0000${type}`;

function zoneXml(z: HostedZone): string {
  return `<Id>/hostedzone/${z.id}</Id><Name>${xmlEscape(z.name)}</Name><CallerReference>${z.callerReference}</CallerReference><Config><PrivateZone>${z.privateZone}</PrivateZone></Config><ResourceRecordSetCount>${z.records.length}</ResourceRecordSetCount>`;
}

function recordXml(r: RecordSet): string {
  const body = r.alias
    ? `<AliasTarget><HostedZoneId>${r.alias.hostedZoneId}</HostedZoneId><DNSName>${xmlEscape(r.alias.dnsName)}</DNSName><EvaluateTargetHealth>${r.alias.evaluateTargetHealth}</EvaluateTargetHealth></AliasTarget>`
    : `<TTL>${r.ttl}</TTL><ResourceRecords>${r.values.map((v) => `<ResourceRecord><Value>${xmlEscape(v)}</Value></ResourceRecord>`).join('')}</ResourceRecords>`;
  return `<ResourceRecordSet><Name>${xmlEscape(r.name)}</Name><Type>${r.type}</Type>${body}</ResourceRecordSet>`;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function parseRecord(xml: string): RecordSet {
  const aliasXml = xmlElements(xml, 'AliasTarget')[0];
  const ttl = xmlText(xml, 'TTL');
  const record: RecordSet = {
    name: fqdn(xmlText(xml, 'Name') ?? ''),
    type: xmlText(xml, 'Type') ?? '',
    values: xmlElements(xml, 'ResourceRecord').map((r) => xmlText(r, 'Value') ?? ''),
  };
  if (ttl !== undefined) record.ttl = Number(ttl);
  if (aliasXml !== undefined) {
    record.alias = { hostedZoneId: xmlText(aliasXml, 'HostedZoneId') ?? '', dnsName: fqdn(xmlText(aliasXml, 'DNSName') ?? ''), evaluateTargetHealth: xmlText(aliasXml, 'EvaluateTargetHealth') === 'true' };
  }
  return record;
}

const same = (a: RecordSet, b: RecordSet) =>
  a.ttl === b.ttl && JSON.stringify(a.alias) === JSON.stringify(b.alias) && JSON.stringify([...a.values].sort()) === JSON.stringify([...b.values].sort());

/** Validates a whole batch against the zone as it is, then applies it: all or nothing, as in AWS. */
function changeRecordSets(zone: HostedZone, body: string, state: Route53State): MockResponse {
  const changes = xmlElements(body, 'Change').map((c) => ({ action: xmlText(c, 'Action') ?? '', record: parseRecord(xmlElements(c, 'ResourceRecordSet')[0] ?? '') }));
  if (!changes.length) return r53Error(400, 'InvalidInput', 'Invalid request: Expected at least one Change');
  const records = [...zone.records];
  const problems: string[] = [];
  for (const { action, record } of changes) {
    const what = `[name='${record.name}', type='${record.type}']`;
    if (!record.alias && (record.ttl === undefined || !record.values.length)) {
      return r53Error(400, 'InvalidInput', `Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found none in Change with [Action=${action}, Name=${record.name}, Type=${record.type}, SetIdentifier=null]`);
    }
    if (record.name !== zone.name && !record.name.endsWith(`.${zone.name}`)) {
      problems.push(`RRSet with DNS name ${record.name} is not permitted in zone ${zone.name}`);
      continue;
    }
    const bad = record.type === 'A' ? record.values.find((v) => !IPV4.test(v)) : undefined;
    if (bad !== undefined) {
      problems.push(`ARRDATAIllegalIPv4Address (Value is not a valid IPv4 address) encountered with '${bad}'`);
      continue;
    }
    const at = records.findIndex((r) => r.name === record.name && r.type === record.type);
    if (action === 'CREATE') {
      if (at >= 0) problems.push(`Tried to create resource record set ${what} but it already exists`);
      else records.push(record);
    } else if (action === 'UPSERT') {
      if (at >= 0) records[at] = record;
      else records.push(record);
    } else if (action === 'DELETE') {
      if (at < 0) problems.push(`Tried to delete resource record set ${what} but it was not found`);
      else if (!same(records[at]!, record)) problems.push(`Tried to delete resource record set ${what} but the values provided do not match the current values`);
      else records.splice(at, 1);
    } else {
      return r53Error(400, 'InvalidInput', `Invalid request: unknown Action ${action}`);
    }
  }
  if (problems.length) return r53Error(400, 'InvalidChangeBatch', `[${problems.join(', ')}]`);
  zone.records = records;
  const change: Route53Change = { id: `C${randomBytes(10).toString('hex').toUpperCase().slice(0, 19)}`, submittedAt: new Date().toISOString(), polls: 0 };
  state.changes.set(change.id, change);
  return ok('ChangeResourceRecordSetsResponse', { ChangeInfo: { Id: `/change/${change.id}`, Status: 'PENDING', SubmittedAt: change.submittedAt } });
}

function listRecordSets(zone: HostedZone, q: URLSearchParams): MockResponse {
  const name = q.get('name');
  const type = q.get('type');
  const max = Math.min(Number(q.get('maxitems') ?? 300), 300);
  const sorted = [...zone.records].sort((a, b) => (sortKey(a.name, a.type) < sortKey(b.name, b.type) ? -1 : 1));
  const from = name ? sortKey(fqdn(name), type ?? '') : '';
  const rest = sorted.filter((r) => sortKey(r.name, r.type) >= from);
  const page = rest.slice(0, max);
  const next = rest[max];
  const tail = next ? `<IsTruncated>true</IsTruncated><NextRecordName>${xmlEscape(next.name)}</NextRecordName><NextRecordType>${next.type}</NextRecordType>` : '<IsTruncated>false</IsTruncated>';
  return {
    status: 200,
    headers: { 'content-type': 'text/xml' },
    body: `<?xml version="1.0" encoding="UTF-8"?>\n<ListResourceRecordSetsResponse xmlns="${NS}"><ResourceRecordSets>${page.map(recordXml).join('')}</ResourceRecordSets>${tail}<MaxItems>${max}</MaxItems></ListResourceRecordSetsResponse>`,
  };
}

export const handleRoute53: ServiceHandler = (req, mock) => {
  const state = route53State(mock);
  const parts = req.path.replace(/^\/2013-04-01\//, '').replace(/\/$/, '').split('/');
  if (parts[0] === 'hostedzonesbyname' && req.method === 'GET') {
    const dnsName = req.query.get('dnsname');
    const max = Math.min(Number(req.query.get('maxitems') ?? 100), 100);
    // Zones in name order, from the one named (AWS lists by name, not by match).
    const zones = [...state.zones.values()].sort((a, b) => (sortKey(a.name) < sortKey(b.name) ? -1 : 1)).filter((z) => !dnsName || sortKey(z.name) >= sortKey(fqdn(dnsName)));
    const page = zones.slice(0, max);
    return {
      status: 200,
      headers: { 'content-type': 'text/xml' },
      body: `<?xml version="1.0" encoding="UTF-8"?>\n<ListHostedZonesByNameResponse xmlns="${NS}"><HostedZones>${list('HostedZone', page.map(zoneXml))}</HostedZones>${dnsName ? `<DNSName>${xmlEscape(fqdn(dnsName))}</DNSName>` : ''}<IsTruncated>${zones.length > max}</IsTruncated><MaxItems>${max}</MaxItems></ListHostedZonesByNameResponse>`,
    };
  }
  if (parts[0] === 'change' && parts[1] && req.method === 'GET') {
    const change = state.changes.get(parts[1]);
    if (!change) return r53Error(404, 'NoSuchChange', `A change with the specified change ID does not exist: ${parts[1]}`);
    change.polls += 1;
    return ok('GetChangeResponse', { ChangeInfo: { Id: `/change/${change.id}`, Status: change.polls >= 2 ? 'INSYNC' : 'PENDING', SubmittedAt: change.submittedAt } });
  }
  if (parts[0] === 'hostedzone' && parts[1]) {
    const zone = state.zones.get(parts[1]);
    if (!zone) return r53Error(404, 'NoSuchHostedZone', `No hosted zone found with ID: ${parts[1]}`);
    if (parts.length === 2 && req.method === 'GET') {
      const servers = zone.records.find((r) => r.type === 'NS' && r.name === zone.name)?.values ?? [];
      return {
        status: 200,
        headers: { 'content-type': 'text/xml' },
        body: `<?xml version="1.0" encoding="UTF-8"?>\n<GetHostedZoneResponse xmlns="${NS}"><HostedZone>${zoneXml(zone)}</HostedZone><DelegationSet><NameServers>${list('NameServer', servers.map(xmlEscape))}</NameServers></DelegationSet></GetHostedZoneResponse>`,
      };
    }
    if (parts[2] === 'rrset' && req.method === 'POST') return changeRecordSets(zone, req.body.toString('utf8'), state);
    if (parts[2] === 'rrset' && req.method === 'GET') return listRecordSets(zone, req.query);
  }
  return r53Error(400, 'InvalidInput', `the mock does not implement ${req.method} ${req.path}`);
};
