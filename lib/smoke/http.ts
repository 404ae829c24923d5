// HTTPS to the registry with only the deployment's CA trusted, connecting to the address the
// preflight resolved (so DNS is asked once), for any port of its name (a token service beside
// it). Other hosts (a storage redirect) use the system's CAs.
import { Agent, request } from 'node:https';
import type { LookupFunction } from 'node:net';
import { SmokeFailure } from './failure.ts';
import type { Endpoint } from './preflight.ts';

export interface Response {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface Request {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: Buffer;
}

const TIMEOUT_MS = 30_000;

export class Https {
  #agent: Agent;
  #lookup: LookupFunction;
  #other = new Agent({ keepAlive: true });
  /** HTTP requests made: the smoke test's round trips. */
  requests = 0;

  constructor(
    readonly endpoint: Endpoint,
    address: string,
    caPem: string,
  ) {
    this.#agent = new Agent({ keepAlive: true, ca: caPem, maxSockets: 4 });
    const family = address.includes(':') ? 6 : 4;
    this.#lookup = ((_host: string, opts: { all?: boolean }, cb: (...a: unknown[]) => void) =>
      opts?.all ? cb(null, [{ address, family }]) : cb(null, address, family)) as unknown as LookupFunction;
  }

  /** Sends one request, following up to 3 redirects; errors below HTTP keep node's code. */
  async send(req: Request, redirects = 3): Promise<Response> {
    const url = new URL(req.url);
    const ours = url.hostname === this.endpoint.name;
    const res = await new Promise<Response>((resolve, reject) => {
      this.requests++;
      const r = request(
        url,
        {
          method: req.method,
          headers: { ...req.headers, ...(req.body ? { 'content-length': String(req.body.length) } : {}) },
          agent: ours ? this.#agent : this.#other,
          ...(ours ? { lookup: this.#lookup, servername: this.endpoint.name } : {}),
          timeout: TIMEOUT_MS,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        },
      );
      r.on('timeout', () => r.destroy(new Error(`${req.method} ${url.pathname}: no answer within ${TIMEOUT_MS / 1000} s`)));
      r.on('error', (err) => reject(failureOf(err as NodeJS.ErrnoException, req.method, url)));
      r.end(req.body);
    });
    const location = header(res, 'location');
    if ([301, 302, 303, 307, 308].includes(res.status) && location && redirects > 0 && ['GET', 'HEAD'].includes(req.method)) {
      // A redirect to storage (S3) carries its own signature: our Authorization must not follow.
      const next = new URL(location, url);
      const headers = next.host === url.host ? req.headers : Object.fromEntries(Object.entries(req.headers ?? {}).filter(([k]) => k.toLowerCase() !== 'authorization'));
      return this.send({ ...req, url: next.href, ...(headers ? { headers } : {}) }, redirects - 1);
    }
    return res;
  }

  close(): void {
    this.#agent.destroy();
    this.#other.destroy();
  }
}

export function header(res: Response, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** An error below HTTP on a later request (a redirect's host, the token service), by its layer. */
function failureOf(err: NodeJS.ErrnoException, method: string, url: URL): SmokeFailure {
  const where = `${method} ${url.origin}${url.pathname}`;
  const code = err.code ?? err.message;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new SmokeFailure('DNS', `${url.hostname} does not resolve (${code}) for ${where}`);
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH'].includes(code)) return new SmokeFailure('TCP', `${where}: ${code}`);
  if (/CERT|SSL|TLS|SELF_SIGNED|ALTNAME/.test(code)) return new SmokeFailure('TLS', `${where}: ${code}`);
  return new SmokeFailure('HTTP', `${where}: ${code}`);
}
