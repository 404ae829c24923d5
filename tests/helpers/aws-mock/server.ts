// A stateful stand-in for the AWS APIs harbormaster calls, for tests: a real HTTP server that
// the real SDK clients talk to (endpoint override). Every request must carry a valid SigV4
// signature by the mock's credentials; it is routed by the service named in the signature's
// scope to that service's handler, which keeps its state in `mock.state` and answers in the
// service's own wire protocol (EC2 query, AWS query, REST-XML).
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignatureV4 } from '@smithy/signature-v4';

export type ServiceName = 'ec2' | 'iam' | 'route53' | 's3' | 'sts';

export interface MockRequest {
  service: ServiceName;
  region: string;
  method: string;
  /** Decoded path, without the query string. */
  path: string;
  query: URLSearchParams;
  headers: Record<string, string>;
  body: Buffer;
  /** The IAM user ARN whose access key signed the request; undefined for the account's root credentials. */
  caller?: string;
}

export interface MockResponse {
  status: number;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export type ServiceHandler = (req: MockRequest, mock: AwsMock) => MockResponse | Promise<MockResponse>;

/** One API call as the mock understood it: `action` is the EC2/IAM/STS Action or `METHOD /path`. */
export interface MockCall {
  service: ServiceName;
  action: string;
  status: number;
}

export interface AwsMock {
  /** Give this to the SDK clients (`endpoint`). */
  endpoint: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  accountId: string;
  /** Each service's own state, under its name. */
  state: Record<string, unknown>;
  calls: MockCall[];
  /** Who owns an access key other than the root one (IAM sets this up when it has state). */
  keyOwner?: (accessKeyId: string) => KeyOwner | undefined;
  close(): Promise<void>;
}

/** An access key's secret and the ARN of the user it belongs to. */
export interface KeyOwner {
  secret: string;
  arn: string;
}

export const MOCK_ACCOUNT_ID = '123456789012';

type SourceData = string | ArrayBuffer | ArrayBufferView;
const bytes = (d: SourceData): string | Uint8Array =>
  typeof d === 'string' ? d : d instanceof ArrayBuffer ? new Uint8Array(d) : new Uint8Array(d.buffer, d.byteOffset, d.byteLength);

/** The hash the SDK's signer takes, on node:crypto. */
export class Sha256 {
  readonly #hash;
  constructor(secret?: SourceData) {
    this.#hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: SourceData): void {
    this.#hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.#hash.digest());
  }
}

const SCOPE = /Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]+)/;
const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const UNSIGNED = 'UNSIGNED-PAYLOAD';

interface Signed {
  service: string;
  region: string;
  /** The signing user's ARN; undefined for the root credentials. */
  caller?: string;
}

/** The credentials behind an access key id: the mock's root ones, or an IAM user's. */
function credentialsOf(mock: AwsMock, keyId: string): { creds: AwsMock['credentials']; caller?: string } | undefined {
  if (keyId === mock.credentials.accessKeyId) return { creds: mock.credentials };
  const owner = mock.keyOwner?.(keyId);
  return owner && { creds: { accessKeyId: keyId, secretAccessKey: owner.secret }, caller: owner.arn };
}

const rfc3986 = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();

/**
 * A presigned URL's signature (query parameters X-Amz-*, as the Go SDK makes for the registry's
 * redirects): the canonical request computed here, the payload unsigned.
 */
function presignProblem(req: IncomingMessage, url: URL, mock: AwsMock): string | Signed {
  const q = url.searchParams;
  const m = /^([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request$/.exec(q.get('X-Amz-Credential') ?? '');
  const amzDate = q.get('X-Amz-Date') ?? '';
  const date = AMZ_DATE.exec(amzDate);
  if (!m || !date || q.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256') return 'malformed presigned URL';
  const [, keyId, day, region, service] = m as unknown as string[];
  const known = credentialsOf(mock, keyId!);
  if (!known) return `unknown access key ${keyId}`;
  const signedAt = Date.UTC(+date[1]!, +date[2]! - 1, +date[3]!, +date[4]!, +date[5]!, +date[6]!);
  if (Date.now() > signedAt + Number(q.get('X-Amz-Expires') ?? 0) * 1000) return 'Request has expired';
  const signedHeaders = (q.get('X-Amz-SignedHeaders') ?? '').split(';');
  const query = [...q].filter(([k]) => k !== 'X-Amz-Signature').map(([k, v]) => `${rfc3986(k)}=${rfc3986(v)}`).sort().join('&');
  const headers = signedHeaders.map((h) => `${h}:${String(req.headers[h] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const canonical = [req.method, url.pathname, query, headers, signedHeaders.join(';'), UNSIGNED].join('\n');
  const scope = `${day}/${region}/${service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${known.creds.secretAccessKey}`, day!), region!), service!), 'aws4_request');
  if (createHmac('sha256', key).update(toSign).digest('hex') !== q.get('X-Amz-Signature')) return 'signature does not match';
  return { service: service!, region: region!, ...(known.caller ? { caller: known.caller } : {}) };
}

/** Why the request's signature is not valid, or who signed it when it is. */
async function signatureProblem(req: IncomingMessage, body: Buffer, url: URL, mock: AwsMock): Promise<string | Signed> {
  const auth = req.headers.authorization ?? '';
  if (!auth && url.searchParams.has('X-Amz-Signature')) return presignProblem(req, url, mock);
  const m = SCOPE.exec(auth);
  if (!m) return 'missing or malformed SigV4 Authorization header';
  const [, keyId, , region, service, signedHeaders, signature] = m as unknown as string[];
  const known = credentialsOf(mock, keyId!);
  if (!known) return `unknown access key ${keyId}`;
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  const date = AMZ_DATE.exec(amzDate);
  if (!date) return 'missing X-Amz-Date';
  // The signer trusts this header for the payload's hash: check it against the body.
  const claimed = req.headers['x-amz-content-sha256'];
  if (typeof claimed === 'string' && /^[0-9a-f]{64}$/.test(claimed) && claimed !== createHash('sha256').update(body).digest('hex')) {
    return 'the x-amz-content-sha256 header does not match the body';
  }
  // Neither SDK in use streams aws-chunked payloads to us (the Go SDK signs whole bodies): refuse rather than store frames.
  if (typeof claimed === 'string' && claimed.startsWith('STREAMING-')) return `the mock does not decode ${claimed} (aws-chunked) payloads`;
  const headers: Record<string, string> = {};
  for (const name of signedHeaders!.split(';')) headers[name] = String(req.headers[name] ?? '');
  const query: Record<string, string | string[]> = {};
  for (const [k, v] of url.searchParams) {
    const prev = query[k];
    query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  const signer = new SignatureV4({ credentials: known.creds, region: region!, service: service!, sha256: Sha256, uriEscapePath: service !== 's3' });
  const signingDate = new Date(Date.UTC(+date[1]!, +date[2]! - 1, +date[3]!, +date[4]!, +date[5]!, +date[6]!));
  const signed = await signer.sign(
    { method: req.method!, protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: url.pathname, query, headers, body },
    { signingDate, signingRegion: region!, signingService: service! },
  );
  const expected = SCOPE.exec(String(signed.headers.authorization ?? signed.headers.Authorization))?.[6];
  return expected === signature ? { service: service!, region: region!, ...(known.caller ? { caller: known.caller } : {}) } : 'signature does not match';
}

export const readBody = (req: IncomingMessage): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });

/** What a query-protocol call (EC2, IAM, STS) is: its Action; other protocols: method and path. */
function actionOf(r: MockRequest): string {
  if (r.service === 'ec2' || r.service === 'iam' || r.service === 'sts') return new URLSearchParams(r.body.toString('utf8')).get('Action') ?? '?';
  const q = [...r.query.keys()].join('&');
  return `${r.method} ${r.path}${q ? `?${q}` : ''}`;
}

export async function startAwsMock(handlers: Partial<Record<ServiceName, ServiceHandler>>): Promise<AwsMock> {
  const mock: AwsMock = {
    endpoint: '',
    credentials: { accessKeyId: `AKIAMOCK${randomBytes(6).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(30).toString('base64') },
    accountId: MOCK_ACCOUNT_ID,
    state: {},
    calls: [],
    close: async () => undefined,
  };
  const server = createServer(async (req, res) => {
    const send = (r: MockResponse) => {
      res.writeHead(r.status, { 'x-amzn-requestid': randomBytes(8).toString('hex'), ...r.headers });
      res.end(r.body);
    };
    try {
      const body = await readBody(req);
      const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
      const verdict = await signatureProblem(req, body, url, mock);
      if (typeof verdict === 'string') {
        return send({ status: 403, headers: { 'content-type': 'text/xml' }, body: `<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>${verdict}</Message></Error></ErrorResponse>` });
      }
      const service = verdict.service as ServiceName;
      const handler = handlers[service];
      if (!handler) return send({ status: 400, body: `<ErrorResponse><Error><Code>UnknownService</Code><Message>the mock has no ${service}</Message></Error></ErrorResponse>` });
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = String(v);
      // A presigned URL's own parameters are not the call's.
      const query = new URLSearchParams([...url.searchParams].filter(([k]) => !k.startsWith('X-Amz-')));
      const request: MockRequest = {
        service, region: verdict.region, method: req.method!, path: decodeURIComponent(url.pathname), query, headers, body,
        ...(verdict.caller ? { caller: verdict.caller } : {}),
      };
      const response = await handler(request, mock);
      mock.calls.push({ service, action: actionOf(request), status: response.status });
      send(response);
    } catch (err) {
      send({ status: 500, body: `<ErrorResponse><Error><Code>InternalError</Code><Message>${xmlEscape(String((err as Error).stack ?? err))}</Message></Error></ErrorResponse>` });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  mock.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  mock.close = () => new Promise((resolve) => server.close(() => resolve()));
  return mock;
}

export const xmlEscape = (s: string): string =>
  s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);

export type XmlValue = string | number | boolean | null | undefined | XmlValue[] | { [k: string]: XmlValue };

/** A JS value as XML elements; arrays become repeated `<itemTag>` children (EC2: item, IAM/STS: member). */
export function toXml(value: XmlValue, itemTag: string): string {
  if (value === null || value === undefined) return '';
  if (Array.isArray(value)) return value.map((v) => `<${itemTag}>${toXml(v, itemTag)}</${itemTag}>`).join('');
  if (typeof value === 'object') {
    return Object.entries(value)
      .filter(([, v]) => v !== undefined && v !== null)
      .map(([k, v]) => `<${k}>${toXml(v, itemTag)}</${k}>`)
      .join('');
  }
  return xmlEscape(String(value));
}

export type Nested = string | Nested[] | { [k: string]: Nested };

/**
 * The query protocols' flattened parameters as nested values: `Filter.1.Name=a&Filter.1.Value.1=b`
 * → `{ Filter: [{ Name: 'a', Value: ['b'] }] }` (numbered segments become arrays, in order).
 */
export function nestedParams(params: URLSearchParams): Record<string, Nested> {
  const root: Record<string, unknown> = {};
  for (const [key, value] of params) {
    const parts = key.split('.');
    let node: Record<string, unknown> = root;
    parts.forEach((part, i) => {
      if (i === parts.length - 1) node[part] = value;
      else node = (node[part] ??= {}) as Record<string, unknown>;
    });
  }
  const arrays = (v: unknown): Nested => {
    if (typeof v !== 'object' || v === null) return v as string;
    const entries = Object.entries(v as Record<string, unknown>);
    if (entries.length && entries.every(([k]) => /^\d+$/.test(k))) {
      return entries.sort(([a], [b]) => Number(a) - Number(b)).map(([, x]) => arrays(x));
    }
    return Object.fromEntries(entries.map(([k, x]) => [k, arrays(x)]));
  };
  return arrays(root) as Record<string, Nested>;
}

/** The form parameters of a query-protocol call. */
export const formParams = (req: MockRequest): URLSearchParams => new URLSearchParams(req.body.toString('utf8'));

/** A fresh id in AWS's shape: prefix-17 hex digits. */
export const awsId = (prefix: string): string => `${prefix}-${randomBytes(9).toString('hex').slice(0, 17)}`;
