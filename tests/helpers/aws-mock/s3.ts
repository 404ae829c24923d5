// S3 for the mock, path-style (`/<bucket>/<key>?<subresource>`), REST-XML like AWS: the bucket
// calls harbormaster makes for the registry's storage, and enough objects to test emptying it.
import { createHash } from 'node:crypto';
import { iamState } from './iam.ts';
import { type AwsMock, type MockRequest, type MockResponse, type ServiceHandler, xmlEscape } from './server.ts';

export interface S3Object {
  body: Buffer;
  lastModified: Date;
}

export interface S3Bucket {
  name: string;
  region: string;
  /** The account that owns it; another one's bucket answers AccessDenied. */
  owner: string;
  tags?: { Key: string; Value: string }[];
  publicAccessBlock?: Record<string, boolean>;
  /** The default encryption's algorithm; AWS gives every new bucket AES256 (SSE-S3) since 2023. */
  encryption?: string;
  policy?: string;
  objects: Map<string, S3Object>;
}

export interface S3State {
  buckets: Map<string, S3Bucket>;
}

export const s3State = (mock: AwsMock): S3State => (mock.state.s3 ??= { buckets: new Map() }) as S3State;

/** A bucket name taken by another account (names are global): CreateBucket says BucketAlreadyExists. */
export function seedForeignBucket(mock: AwsMock, name: string, region = 'us-east-1'): void {
  s3State(mock).buckets.set(name, { name, region, owner: '999999999999', objects: new Map() });
}

const decode = (s: string): string =>
  s.replace(/&(lt|gt|amp|apos|quot|#(\d+)|#x([0-9a-fA-F]+));/g, (_, name: string, dec?: string, hex?: string) =>
    dec ? String.fromCodePoint(Number(dec)) : hex ? String.fromCodePoint(parseInt(hex, 16)) : ({ lt: '<', gt: '>', amp: '&', apos: "'", quot: '"' })[name]!,
  );

/** The inner XML of every `<tag>` element (not nested in one of its own kind), in order. */
export function xmlElements(xml: string, tag: string): string[] {
  const re = new RegExp(`<${tag}(?:\\s[^>]*)?>([\\s\\S]*?)</${tag}>`, 'g');
  return [...xml.matchAll(re)].map((m) => m[1]!);
}

/** The text of the first `<tag>` element, unescaped, or undefined. */
export const xmlText = (xml: string, tag: string): string | undefined => {
  const inner = xmlElements(xml, tag)[0];
  return inner === undefined ? undefined : decode(inner.trim());
};

const NS = 'http://s3.amazonaws.com/doc/2006-03-01/';
const xml = (status: number, body: string, headers: Record<string, string> = {}): MockResponse => ({
  status,
  headers: { 'content-type': 'application/xml', ...headers },
  body: `<?xml version="1.0" encoding="UTF-8"?>\n${body}`,
});
const empty = (status = 200, headers: Record<string, string> = {}): MockResponse => ({ status, headers });

function s3Error(status: number, code: string, message: string, extra: Record<string, string> = {}): MockResponse {
  const fields = Object.entries(extra).map(([k, v]) => `<${k}>${xmlEscape(v)}</${k}>`).join('');
  return xml(status, `<Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message>${fields}<RequestId>MOCK</RequestId></Error>`);
}

const etag = (body: Buffer) => `"${createHash('md5').update(body).digest('hex')}"`;
const bool = (v: string | undefined) => v === 'true';

function createBucket(req: MockRequest, mock: AwsMock, state: S3State, name: string): MockResponse {
  const existing = state.buckets.get(name);
  if (existing && existing.owner !== mock.accountId) return s3Error(409, 'BucketAlreadyExists', 'The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.', { BucketName: name });
  if (existing) {
    // us-east-1 keeps its legacy answer: success for the owner.
    return existing.region === 'us-east-1' && req.region === 'us-east-1' ? empty(200, { location: `/${name}` }) : s3Error(409, 'BucketAlreadyOwnedByYou', 'Your previous request to create the named bucket succeeded and you already own it.', { BucketName: name });
  }
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name)) return s3Error(400, 'InvalidBucketName', 'The specified bucket is not valid.', { BucketName: name });
  const body = req.body.toString('utf8');
  const constraint = body ? xmlText(body, 'LocationConstraint') : undefined;
  // A regional endpoint only makes buckets in its own region; us-east-1 takes no constraint.
  if (req.region === 'us-east-1' ? constraint !== undefined && constraint !== 'us-east-1' : constraint !== req.region) {
    const message = constraint === undefined ? 'The unspecified location constraint is incompatible for the region specific endpoint this request was sent to.' : `The ${constraint} location constraint is incompatible for the region specific endpoint this request was sent to.`;
    return s3Error(400, 'IllegalLocationConstraintException', message);
  }
  state.buckets.set(name, { name, region: req.region, owner: mock.accountId, encryption: 'AES256', objects: new Map() });
  return empty(200, { location: `/${name}` });
}

function listObjectsV2(req: MockRequest, bucket: S3Bucket): MockResponse {
  const prefix = req.query.get('prefix') ?? '';
  const maxKeys = Math.min(Number(req.query.get('max-keys') ?? 1000), 1000);
  const after = req.query.get('continuation-token') ?? req.query.get('start-after') ?? '';
  const keys = [...bucket.objects.keys()].filter((k) => k.startsWith(prefix) && k > after).sort();
  const page = keys.slice(0, maxKeys);
  const truncated = keys.length > page.length;
  const contents = page
    .map((k) => {
      const o = bucket.objects.get(k)!;
      return `<Contents><Key>${xmlEscape(k)}</Key><LastModified>${o.lastModified.toISOString()}</LastModified><ETag>${xmlEscape(etag(o.body))}</ETag><Size>${o.body.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`;
    })
    .join('');
  const token = req.query.get('continuation-token');
  return xml(
    200,
    `<ListBucketResult xmlns="${NS}"><Name>${xmlEscape(bucket.name)}</Name><Prefix>${xmlEscape(prefix)}</Prefix><KeyCount>${page.length}</KeyCount><MaxKeys>${maxKeys}</MaxKeys><IsTruncated>${truncated}</IsTruncated>` +
      (token ? `<ContinuationToken>${xmlEscape(token)}</ContinuationToken>` : '') +
      contents +
      (truncated ? `<NextContinuationToken>${xmlEscape(page.at(-1)!)}</NextContinuationToken>` : '') +
      '</ListBucketResult>',
  );
}

function deleteObjects(req: MockRequest, bucket: S3Bucket): MockResponse {
  const body = req.body.toString('utf8');
  const objects = xmlElements(body, 'Object');
  if (objects.length === 0 || objects.length > 1000) return s3Error(400, 'MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema');
  const keys = objects.map((o) => xmlText(o, 'Key') ?? '');
  for (const k of keys) bucket.objects.delete(k);
  const deleted = bool(xmlText(body, 'Quiet')) ? '' : keys.map((k) => `<Deleted><Key>${xmlEscape(k)}</Key></Deleted>`).join('');
  return xml(200, `<DeleteResult xmlns="${NS}">${deleted}</DeleteResult>`);
}

/** AWS refuses a policy naming an IAM user of this account that does not exist, or that S3 does not know yet. */
function principalsExist(mock: AwsMock, statements: unknown): boolean {
  const arns = ([] as unknown[]).concat(statements).flatMap((st) => {
    const aws = ((st as { Principal?: { AWS?: unknown } }).Principal?.AWS ?? []) as string | string[];
    return ([] as string[]).concat(aws);
  });
  const users = iamState(mock).users;
  return arns.every((arn) => {
    const m = /^arn:aws:iam::(\d{12}):user\/(?:.*\/)?([^/]+)$/.exec(arn);
    if (!m || m[1] !== mock.accountId) return true;
    const user = users.get(m[2]!);
    if (user?.arn !== arn) return false;
    if (user.unknownToS3For <= 0) return true;
    user.unknownToS3For -= 1;
    return false;
  });
}

const PUBLIC_ACCESS_FLAGS = ['BlockPublicAcls', 'IgnorePublicAcls', 'BlockPublicPolicy', 'RestrictPublicBuckets'];

/** A call on a bucket subresource (`?tagging`, `?policy`, ...), by method. */
function bucketSubresource(req: MockRequest, mock: AwsMock, bucket: S3Bucket): MockResponse | undefined {
  const q = req.query;
  const body = req.body.toString('utf8');
  const get = req.method === 'GET';
  const put = req.method === 'PUT';
  const del = req.method === 'DELETE';
  if (q.has('location') && get) {
    // us-east-1 is the empty constraint, as in AWS.
    const region = bucket.region === 'us-east-1' ? '' : bucket.region;
    return xml(200, `<LocationConstraint xmlns="${NS}">${region}</LocationConstraint>`);
  }
  if (q.has('tagging')) {
    if (put) {
      const tags = xmlElements(body, 'Tag').map((t) => ({ Key: xmlText(t, 'Key') ?? '', Value: xmlText(t, 'Value') ?? '' }));
      if (new Set(tags.map((t) => t.Key)).size !== tags.length) return s3Error(400, 'InvalidTag', 'Cannot provide multiple Tags with the same key');
      bucket.tags = tags;
      return empty(204);
    }
    if (get) {
      if (!bucket.tags?.length) return s3Error(404, 'NoSuchTagSet', 'The TagSet does not exist', { BucketName: bucket.name });
      const tags = bucket.tags.map((t) => `<Tag><Key>${xmlEscape(t.Key)}</Key><Value>${xmlEscape(t.Value)}</Value></Tag>`).join('');
      return xml(200, `<Tagging xmlns="${NS}"><TagSet>${tags}</TagSet></Tagging>`);
    }
  }
  if (q.has('publicAccessBlock')) {
    if (put) {
      bucket.publicAccessBlock = Object.fromEntries(PUBLIC_ACCESS_FLAGS.map((f) => [f, bool(xmlText(body, f))]));
      return empty(200);
    }
    if (get) {
      if (!bucket.publicAccessBlock) return s3Error(404, 'NoSuchPublicAccessBlockConfiguration', 'The public access block configuration was not found', { BucketName: bucket.name });
      const flags = PUBLIC_ACCESS_FLAGS.map((f) => `<${f}>${bucket.publicAccessBlock![f] ?? false}</${f}>`).join('');
      return xml(200, `<PublicAccessBlockConfiguration xmlns="${NS}">${flags}</PublicAccessBlockConfiguration>`);
    }
  }
  if (q.has('encryption')) {
    if (put) {
      const algorithm = xmlText(body, 'SSEAlgorithm');
      if (!algorithm || !['AES256', 'aws:kms', 'aws:kms:dsse'].includes(algorithm)) return s3Error(400, 'MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema');
      bucket.encryption = algorithm;
      return empty(200);
    }
    if (get) {
      if (!bucket.encryption) return s3Error(404, 'ServerSideEncryptionConfigurationNotFoundError', 'The server side encryption configuration was not found', { BucketName: bucket.name });
      return xml(200, `<ServerSideEncryptionConfiguration xmlns="${NS}"><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>${bucket.encryption}</SSEAlgorithm></ApplyServerSideEncryptionByDefault><BucketKeyEnabled>false</BucketKeyEnabled></Rule></ServerSideEncryptionConfiguration>`);
    }
  }
  if (q.has('policy')) {
    if (put) {
      let doc: { Statement?: unknown };
      try {
        doc = JSON.parse(body) as { Statement?: unknown };
        if (!Array.isArray(doc.Statement) && typeof doc.Statement !== 'object') throw new Error('no Statement');
      } catch {
        return s3Error(400, 'MalformedPolicy', 'Policies must be valid JSON and the first byte must be \'{\'');
      }
      if (!principalsExist(mock, doc.Statement)) return s3Error(400, 'MalformedPolicy', 'Invalid principal in policy');
      bucket.policy = body;
      return empty(204);
    }
    if (get) {
      if (bucket.policy === undefined) return s3Error(404, 'NoSuchBucketPolicy', 'The bucket policy does not exist', { BucketName: bucket.name });
      return { status: 200, headers: { 'content-type': 'application/json' }, body: bucket.policy };
    }
    if (del) {
      delete bucket.policy;
      return empty(204);
    }
  }
  if (q.has('delete') && req.method === 'POST') return deleteObjects(req, bucket);
  if (q.get('list-type') === '2' && get) return listObjectsV2(req, bucket);
  return undefined;
}

export const handleS3: ServiceHandler = (req, mock) => {
  const state = s3State(mock);
  const [, name = '', ...rest] = req.path.split('/');
  const key = rest.join('/');
  if (!name) return s3Error(400, 'NotImplemented', 'the mock does not list buckets');
  if (req.method === 'PUT' && !key && [...req.query.keys()].every((k) => k === 'x-id')) return createBucket(req, mock, state, name);
  const bucket = state.buckets.get(name);
  if (req.method === 'HEAD' && !key) {
    // HEAD answers carry no body; the SDK names the error from the status.
    if (!bucket) return empty(404);
    return bucket.owner === mock.accountId ? empty(200, { 'x-amz-bucket-region': bucket.region }) : empty(403, { 'x-amz-bucket-region': bucket.region });
  }
  if (!bucket) return s3Error(404, 'NoSuchBucket', 'The specified bucket does not exist', { BucketName: name });
  if (bucket.owner !== mock.accountId) return s3Error(403, 'AccessDenied', 'Access Denied');
  if (key) {
    if (req.method === 'PUT') {
      bucket.objects.set(key, { body: req.body, lastModified: new Date() });
      return empty(200, { etag: etag(req.body) });
    }
    return s3Error(400, 'NotImplemented', `the mock does not implement ${req.method} on objects`);
  }
  if (req.method === 'DELETE' && [...req.query.keys()].every((k) => k === 'x-id')) {
    if (bucket.objects.size) return s3Error(409, 'BucketNotEmpty', 'The bucket you tried to delete is not empty', { BucketName: name });
    state.buckets.delete(name);
    return empty(204);
  }
  return bucketSubresource(req, mock, bucket) ?? s3Error(400, 'NotImplemented', `the mock does not implement ${req.method} ${req.path}?${req.query}`);
};
