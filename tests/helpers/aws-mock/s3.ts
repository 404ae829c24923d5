// S3 for the mock, path-style (`/<bucket>/<key>?<subresource>`), REST-XML like AWS: the bucket
// calls harbormaster makes for the registry's storage, and enough objects to test emptying it.
import { createHash, randomBytes } from 'node:crypto';
import { iamState, policyDecision, userDecision } from './iam.ts';
import { type AwsMock, type MockRequest, type MockResponse, type ServiceHandler, xmlEscape } from './server.ts';

export interface S3Object {
  body: Buffer;
  lastModified: Date;
  /** Set for objects made by a multipart upload (`"<md5 of the parts' md5s>-<n>"`); else the body's MD5. */
  etag?: string;
}

export interface S3Part {
  body: Buffer;
  etag: string;
  lastModified: Date;
}

export interface S3Upload {
  key: string;
  initiated: Date;
  parts: Map<number, S3Part>;
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
  /** Multipart uploads in progress, by upload id. */
  uploads?: Map<string, S3Upload>;
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
const etagOf = (o: S3Object) => o.etag ?? etag(o.body);
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

/** One page of a listing: keys, and with a delimiter the common prefixes that stand for many (each counts once). */
function listPage(bucket: S3Bucket, prefix: string, delimiter: string, after: string, maxKeys: number) {
  const entries: { key?: string; prefix?: string }[] = [];
  let truncated = false;
  for (const k of [...bucket.objects.keys()].sort()) {
    // A marker that is a common prefix stands for every key under it.
    if (!k.startsWith(prefix) || k <= after || (delimiter && after.endsWith(delimiter) && k.startsWith(after))) continue;
    const cut = delimiter ? k.indexOf(delimiter, prefix.length) : -1;
    const common = cut >= 0 ? k.slice(0, cut + delimiter.length) : undefined;
    if (common !== undefined && entries.at(-1)?.prefix === common) continue;
    if (entries.length >= maxKeys) {
      truncated = true;
      break;
    }
    entries.push(common !== undefined ? { prefix: common } : { key: k });
  }
  const last = entries.at(-1);
  const contents = entries
    .filter((e) => e.key !== undefined)
    .map(({ key }) => {
      const o = bucket.objects.get(key!)!;
      return `<Contents><Key>${xmlEscape(key!)}</Key><LastModified>${o.lastModified.toISOString()}</LastModified><ETag>${xmlEscape(etagOf(o))}</ETag><Size>${o.body.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`;
    })
    .join('');
  const prefixes = entries.filter((e) => e.prefix !== undefined).map((e) => `<CommonPrefixes><Prefix>${xmlEscape(e.prefix!)}</Prefix></CommonPrefixes>`).join('');
  return { count: entries.length, truncated, next: last?.key ?? last?.prefix ?? '', body: contents + prefixes };
}

/** ListObjectsV2 (`list-type=2`) and the older ListObjects (markers), with prefix and delimiter. */
function listObjects(req: MockRequest, bucket: S3Bucket): MockResponse {
  const q = req.query;
  const v2 = q.get('list-type') === '2';
  const prefix = q.get('prefix') ?? '';
  const delimiter = q.get('delimiter') ?? '';
  const maxKeys = Math.min(Number(q.get('max-keys') ?? 1000), 1000);
  const after = (v2 ? q.get('continuation-token') ?? q.get('start-after') : q.get('marker')) ?? '';
  const page = listPage(bucket, prefix, delimiter, after, maxKeys);
  const head = `<Name>${xmlEscape(bucket.name)}</Name><Prefix>${xmlEscape(prefix)}</Prefix>${delimiter ? `<Delimiter>${xmlEscape(delimiter)}</Delimiter>` : ''}<MaxKeys>${maxKeys}</MaxKeys><IsTruncated>${page.truncated}</IsTruncated>`;
  const token = q.get('continuation-token');
  const tail = v2
    ? `<KeyCount>${page.count}</KeyCount>${token ? `<ContinuationToken>${xmlEscape(token)}</ContinuationToken>` : ''}${page.truncated ? `<NextContinuationToken>${xmlEscape(page.next)}</NextContinuationToken>` : ''}`
    : `<Marker>${xmlEscape(after)}</Marker>${page.truncated && delimiter ? `<NextMarker>${xmlEscape(page.next)}</NextMarker>` : ''}`;
  return xml(200, `<ListBucketResult xmlns="${NS}">${head}${tail}${page.body}</ListBucketResult>`);
}

/** DeleteObjects: each key needs s3:DeleteObject on its own; a refused one is an error entry, not a failed call. */
function deleteObjects(req: MockRequest, bucket: S3Bucket, may: (action: string, resource: string) => boolean): MockResponse {
  const body = req.body.toString('utf8');
  const objects = xmlElements(body, 'Object');
  if (objects.length === 0 || objects.length > 1000) return s3Error(400, 'MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema');
  const keys = objects.map((o) => xmlText(o, 'Key') ?? '');
  const allowed = keys.filter((k) => may('s3:DeleteObject', objectArn(bucket.name, k)));
  for (const k of allowed) bucket.objects.delete(k);
  const deleted = bool(xmlText(body, 'Quiet')) ? '' : allowed.map((k) => `<Deleted><Key>${xmlEscape(k)}</Key></Deleted>`).join('');
  const refused = keys.filter((k) => !allowed.includes(k)).map((k) => `<Error><Key>${xmlEscape(k)}</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`).join('');
  return xml(200, `<DeleteResult xmlns="${NS}">${deleted}${refused}</DeleteResult>`);
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
function bucketSubresource(req: MockRequest, mock: AwsMock, bucket: S3Bucket, may: (action: string, resource: string) => boolean): MockResponse | undefined {
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
  if (q.has('delete') && req.method === 'POST') return deleteObjects(req, bucket, may);
  if (q.has('uploads') && get) return listUploads(req, bucket);
  if (get && [...q.keys()].every((k) => LIST_PARAMS.has(k))) return listObjects(req, bucket);
  return undefined;
}

const LIST_PARAMS = new Set(['list-type', 'prefix', 'delimiter', 'max-keys', 'marker', 'continuation-token', 'start-after', 'encoding-type', 'fetch-owner', 'x-id']);
const MIN_PART = 5 * 1024 * 1024;
const bucketArn = (bucket: string) => `arn:aws:s3:::${bucket}`;
const objectArn = (bucket: string, key: string) => `arn:aws:s3:::${bucket}/${key}`;
const httpDate = (d: Date) => d.toUTCString();

/** `x-amz-copy-source`: `[/]bucket/key`, URL-encoded. */
function copySource(req: MockRequest): { bucket: string; key: string } | undefined {
  const header = req.headers['x-amz-copy-source'];
  if (!header) return undefined;
  const [bucket = '', ...key] = decodeURIComponent(header.replace(/^\//, '').split('?')[0]!).split('/');
  return { bucket, key: key.join('/') };
}

/** The S3 permissions (IAM action, resource ARN) a REST call needs; DeleteObjects checks each key itself. */
function permissionsFor(req: MockRequest, bucket: string, key: string): [string, string][] {
  const q = req.query;
  const m = req.method;
  if (key) {
    const obj = objectArn(bucket, key);
    if (m === 'GET' || m === 'HEAD') return [[q.has('uploadId') ? 's3:ListMultipartUploadParts' : 's3:GetObject', obj]];
    if (m === 'DELETE') return [[q.has('uploadId') ? 's3:AbortMultipartUpload' : 's3:DeleteObject', obj]];
    // PutObject, CopyObject, the multipart calls: PutObject here, GetObject on a copy's source.
    const source = copySource(req);
    return [['s3:PutObject', obj], ...(source ? [['s3:GetObject', objectArn(source.bucket, source.key)] as [string, string]] : [])];
  }
  const arn = bucketArn(bucket);
  const sub = (name: string, get: string, put: string, del?: string): [string, string][] | undefined =>
    q.has(name) ? [[m === 'GET' ? get : m === 'DELETE' && del ? del : put, arn]] : undefined;
  if (q.has('delete') && m === 'POST') return [];
  return (
    sub('location', 's3:GetBucketLocation', 's3:GetBucketLocation') ??
    sub('uploads', 's3:ListBucketMultipartUploads', 's3:ListBucketMultipartUploads') ??
    sub('tagging', 's3:GetBucketTagging', 's3:PutBucketTagging') ??
    sub('publicAccessBlock', 's3:GetBucketPublicAccessBlock', 's3:PutBucketPublicAccessBlock') ??
    sub('encryption', 's3:GetEncryptionConfiguration', 's3:PutEncryptionConfiguration') ??
    sub('policy', 's3:GetBucketPolicy', 's3:PutBucketPolicy', 's3:DeleteBucketPolicy') ?? [[m === 'PUT' ? 's3:CreateBucket' : m === 'DELETE' ? 's3:DeleteBucket' : 's3:ListBucket', arn]]
  );
}

/**
 * Whether an IAM user may do this (same account): no explicit Deny in its inline policies or the
 * bucket's policy, and an Allow in one of them. The root credentials may do anything.
 */
function permits(mock: AwsMock, caller: string | undefined, action: string, resource: string): boolean {
  if (caller === undefined) return true;
  const bucket = s3State(mock).buckets.get(resource.slice('arn:aws:s3:::'.length).split('/')[0]!);
  const user = userDecision(mock, caller, action, resource);
  const policy = bucket?.policy === undefined ? undefined : policyDecision(bucket.policy, action, resource, caller);
  return user !== 'deny' && policy !== 'deny' && (user === 'allow' || policy === 'allow');
}

/** `Range: bytes=a-b | a- | -n` over a body of `size` bytes: [first, last], or 'invalid' (416), or undefined (whole). */
function byteRange(header: string | undefined, size: number): [number, number] | 'invalid' | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header ?? '');
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  const [first, last] = m[1] === '' ? [Math.max(0, size - Number(m[2])), size - 1] : [Number(m[1]), m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)];
  return first >= size || first > last ? 'invalid' : [first, last];
}

const objectHeaders = (o: S3Object): Record<string, string> => ({
  etag: etagOf(o),
  'last-modified': httpDate(o.lastModified),
  'accept-ranges': 'bytes',
  'content-type': 'application/octet-stream',
});

function getObject(req: MockRequest, o: S3Object): MockResponse {
  const range = byteRange(req.headers.range, o.body.length);
  if (range === 'invalid') return { ...s3Error(416, 'InvalidRange', 'The requested range is not satisfiable', { RangeRequested: req.headers.range ?? '', ActualObjectSize: String(o.body.length) }) };
  const body = range ? o.body.subarray(range[0], range[1] + 1) : o.body;
  const headers = { ...objectHeaders(o), 'content-length': String(body.length), ...(range ? { 'content-range': `bytes ${range[0]}-${range[1]}/${o.body.length}` } : {}) };
  // HEAD answers carry the headers only; a missing key is a bare 404 there.
  return { status: range ? 206 : 200, headers, body: req.method === 'HEAD' ? undefined : body };
}

/** The copy source's object (or bytes of it, for UploadPartCopy's `x-amz-copy-source-range`), or the error. */
function readSource(req: MockRequest, mock: AwsMock): Buffer | MockResponse {
  const source = copySource(req)!;
  const bucket = s3State(mock).buckets.get(source.bucket);
  if (!bucket) return s3Error(404, 'NoSuchBucket', 'The specified bucket does not exist', { BucketName: source.bucket });
  if (bucket.owner !== mock.accountId) return s3Error(403, 'AccessDenied', 'Access Denied');
  const o = bucket.objects.get(source.key);
  if (!o) return s3Error(404, 'NoSuchKey', 'The specified key does not exist.', { Key: source.key });
  const header = req.headers['x-amz-copy-source-range'];
  if (!header) return o.body;
  const range = byteRange(header, o.body.length);
  if (range === undefined || range === 'invalid') return s3Error(400, 'InvalidRange', 'The requested range is not satisfiable');
  return o.body.subarray(range[0], range[1] + 1);
}

const uploadsOf = (bucket: S3Bucket) => (bucket.uploads ??= new Map());
const noUpload = (id: string) => s3Error(404, 'NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.', { UploadId: id });

function listUploads(req: MockRequest, bucket: S3Bucket): MockResponse {
  const prefix = req.query.get('prefix') ?? '';
  const uploads = [...uploadsOf(bucket)]
    .filter(([, u]) => u.key.startsWith(prefix))
    .sort(([, a], [, b]) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.initiated.getTime() - b.initiated.getTime()))
    .map(([id, u]) => `<Upload><Key>${xmlEscape(u.key)}</Key><UploadId>${id}</UploadId><Initiated>${u.initiated.toISOString()}</Initiated><StorageClass>STANDARD</StorageClass></Upload>`)
    .join('');
  return xml(200, `<ListMultipartUploadsResult xmlns="${NS}"><Bucket>${xmlEscape(bucket.name)}</Bucket><Prefix>${xmlEscape(prefix)}</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>${uploads}</ListMultipartUploadsResult>`);
}

function listParts(bucket: S3Bucket, key: string, id: string, upload: S3Upload): MockResponse {
  const parts = [...upload.parts]
    .sort(([a], [b]) => a - b)
    .map(([n, p]) => `<Part><PartNumber>${n}</PartNumber><LastModified>${p.lastModified.toISOString()}</LastModified><ETag>${xmlEscape(p.etag)}</ETag><Size>${p.body.length}</Size></Part>`)
    .join('');
  return xml(200, `<ListPartsResult xmlns="${NS}"><Bucket>${xmlEscape(bucket.name)}</Bucket><Key>${xmlEscape(key)}</Key><UploadId>${id}</UploadId><MaxParts>1000</MaxParts><IsTruncated>false</IsTruncated>${parts}</ListPartsResult>`);
}

/** CompleteMultipartUpload: the listed parts (ascending, ETags matching, all but the last at least 5 MiB) become the object. */
function completeUpload(req: MockRequest, bucket: S3Bucket, key: string, id: string, upload: S3Upload): MockResponse {
  const listed = xmlElements(req.body.toString('utf8'), 'Part').map((p) => ({ n: Number(xmlText(p, 'PartNumber')), etag: xmlText(p, 'ETag') ?? '' }));
  if (!listed.length) return s3Error(400, 'MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema');
  if (listed.some(({ n }, i) => i > 0 && n <= listed[i - 1]!.n)) return s3Error(400, 'InvalidPartOrder', 'The list of parts was not in ascending order. Parts must be ordered by part number.');
  const parts: S3Part[] = [];
  for (const [i, { n, etag: want }] of listed.entries()) {
    const part = upload.parts.get(n);
    if (!part || part.etag.replace(/"/g, '') !== want.replace(/"/g, '')) return s3Error(400, 'InvalidPart', 'One or more of the specified parts could not be found.', { PartNumber: String(n) });
    if (i < listed.length - 1 && part.body.length < MIN_PART) return s3Error(400, 'EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed size', { ProposedSize: String(part.body.length), MinSizeAllowed: String(MIN_PART) });
    parts.push(part);
  }
  const md5s = Buffer.concat(parts.map((p) => Buffer.from(p.etag.replace(/"/g, ''), 'hex')));
  const tag = `"${createHash('md5').update(md5s).digest('hex')}-${parts.length}"`;
  bucket.objects.set(key, { body: Buffer.concat(parts.map((p) => p.body)), lastModified: new Date(), etag: tag });
  uploadsOf(bucket).delete(id);
  return xml(200, `<CompleteMultipartUploadResult xmlns="${NS}"><Location>/${xmlEscape(bucket.name)}/${xmlEscape(key)}</Location><Bucket>${xmlEscape(bucket.name)}</Bucket><Key>${xmlEscape(key)}</Key><ETag>${xmlEscape(tag)}</ETag></CompleteMultipartUploadResult>`);
}

/** The calls on an object: Put/Get/Head/Delete, CopyObject, and the multipart upload calls. */
function objectCall(req: MockRequest, mock: AwsMock, bucket: S3Bucket, key: string): MockResponse {
  const q = req.query;
  const id = q.get('uploadId');
  if (id !== null) {
    const upload = uploadsOf(bucket).get(id);
    if (!upload || upload.key !== key) return noUpload(id);
    if (req.method === 'GET') return listParts(bucket, key, id, upload);
    if (req.method === 'POST') return completeUpload(req, bucket, key, id, upload);
    if (req.method === 'DELETE') {
      uploadsOf(bucket).delete(id);
      return empty(204);
    }
    if (req.method === 'PUT') {
      const n = Number(q.get('partNumber'));
      if (!Number.isInteger(n) || n < 1 || n > 10000) return s3Error(400, 'InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive');
      const copied = copySource(req) ? readSource(req, mock) : req.body;
      if (!Buffer.isBuffer(copied)) return copied;
      const part = { body: copied, etag: etag(copied), lastModified: new Date() };
      upload.parts.set(n, part);
      return copySource(req)
        ? xml(200, `<CopyPartResult xmlns="${NS}"><LastModified>${part.lastModified.toISOString()}</LastModified><ETag>${xmlEscape(part.etag)}</ETag></CopyPartResult>`)
        : empty(200, { etag: part.etag });
    }
  }
  if (req.method === 'POST' && q.has('uploads')) {
    const uploadId = randomBytes(24).toString('base64url');
    uploadsOf(bucket).set(uploadId, { key, initiated: new Date(), parts: new Map() });
    return xml(200, `<InitiateMultipartUploadResult xmlns="${NS}"><Bucket>${xmlEscape(bucket.name)}</Bucket><Key>${xmlEscape(key)}</Key><UploadId>${uploadId}</UploadId></InitiateMultipartUploadResult>`);
  }
  if (req.method === 'PUT') {
    const body = copySource(req) ? readSource(req, mock) : req.body;
    if (!Buffer.isBuffer(body)) return body;
    const o: S3Object = { body: Buffer.from(body), lastModified: new Date() };
    bucket.objects.set(key, o);
    return copySource(req)
      ? xml(200, `<CopyObjectResult xmlns="${NS}"><LastModified>${o.lastModified.toISOString()}</LastModified><ETag>${xmlEscape(etagOf(o))}</ETag></CopyObjectResult>`)
      : empty(200, { etag: etagOf(o) });
  }
  if (req.method === 'GET' || req.method === 'HEAD') {
    const o = bucket.objects.get(key);
    if (!o) return req.method === 'HEAD' ? empty(404) : s3Error(404, 'NoSuchKey', 'The specified key does not exist.', { Key: key });
    return getObject(req, o);
  }
  if (req.method === 'DELETE') {
    bucket.objects.delete(key);
    return empty(204);
  }
  return s3Error(400, 'NotImplemented', `the mock does not implement ${req.method} on objects`);
}

export const handleS3: ServiceHandler = (req, mock) => {
  const state = s3State(mock);
  const [, name = '', ...rest] = req.path.split('/');
  const key = rest.join('/');
  if (!name) return s3Error(400, 'NotImplemented', 'the mock does not list buckets');
  const may = (action: string, resource: string) => permits(mock, req.caller, action, resource);
  if (!permissionsFor(req, name, key).every(([action, resource]) => may(action, resource))) {
    return req.method === 'HEAD' ? empty(403) : s3Error(403, 'AccessDenied', 'Access Denied');
  }
  if (req.method === 'PUT' && !key && [...req.query.keys()].every((k) => k === 'x-id')) return createBucket(req, mock, state, name);
  const bucket = state.buckets.get(name);
  if (req.method === 'HEAD' && !key) {
    // HEAD answers carry no body; the SDK names the error from the status.
    if (!bucket) return empty(404);
    return bucket.owner === mock.accountId ? empty(200, { 'x-amz-bucket-region': bucket.region }) : empty(403, { 'x-amz-bucket-region': bucket.region });
  }
  if (!bucket) return s3Error(404, 'NoSuchBucket', 'The specified bucket does not exist', { BucketName: name });
  if (bucket.owner !== mock.accountId) return s3Error(403, 'AccessDenied', 'Access Denied');
  if (key) return objectCall(req, mock, bucket, key);
  if (req.method === 'DELETE' && [...req.query.keys()].every((k) => k === 'x-id')) {
    if (bucket.objects.size) return s3Error(409, 'BucketNotEmpty', 'The bucket you tried to delete is not empty', { BucketName: name });
    state.buckets.delete(name);
    return empty(204);
  }
  return bucketSubresource(req, mock, bucket, may) ?? s3Error(400, 'NotImplemented', `the mock does not implement ${req.method} ${req.path}?${req.query}`);
};
