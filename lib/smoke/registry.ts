// A small client of the registry's v2 API (the OCI distribution spec): what the smoke test needs
// to push an image, pull it back and delete it, authenticating as the registry's challenge asks.
import { remember } from '../secret.ts';
import { basicHeader, parseChallenge, type Challenge, type Credentials } from './auth.ts';
import { SmokeFailure } from './failure.ts';
import { header, type Https, type Request, type Response } from './http.ts';
import { MEDIA, sha256, type Blob } from './image.ts';

/** What the registry said went wrong: its JSON error, else the status line. */
function registryError(res: Response): string {
  try {
    const e = (JSON.parse(res.body.toString('utf8')) as { errors?: Array<{ code?: string; message?: string }> }).errors?.[0];
    if (e) return `${res.status} ${e.code ?? ''}${e.message ? `: ${e.message}` : ''}`.trim();
  } catch {
    // not JSON: an HTML error page from a proxy, say
  }
  return `${res.status}`;
}

export class RegistryClient {
  #auth: string | undefined;

  constructor(
    readonly http: Https,
    readonly credentials: Credentials,
  ) {}

  get base(): string {
    const { name, port } = this.http.endpoint;
    return `https://${name}${port === 443 ? '' : `:${port}`}`;
  }

  /**
   * One request, answering the registry's challenge once: Basic with the password, or a Bearer
   * token from the realm for the challenge's scope. Refused again means the credentials (401)
   * or their rights (insufficient_scope, 403) are wrong; 502-504 is the proxy's backend.
   */
  async call(req: Request, expect: number[]): Promise<Response> {
    let res = await this.#send(req);
    const challenge = res.status === 401 ? parseChallenge(header(res, 'www-authenticate')) : undefined;
    if (challenge) {
      this.#auth = await this.#answer(challenge);
      res = await this.#send(req);
    }
    const what = `${req.method} ${new URL(req.url).pathname}`;
    if (res.status >= 502 && res.status <= 504) {
      throw new SmokeFailure('backend', `${this.http.endpoint.name} answered ${res.status} to ${what}: the proxy is up but the registry behind it is down or unreachable from it`);
    }
    if (res.status === 401) {
      const again = parseChallenge(header(res, 'www-authenticate'));
      if (again?.params.error === 'insufficient_scope') throw new SmokeFailure('authorization', `${this.credentials.user} may not ${scopeActions(again)} (${what})`);
      throw new SmokeFailure('authentication', `${this.base} refused ${this.credentials.user}'s credentials (${this.credentials.source}) for ${what}`);
    }
    if (res.status === 403) throw new SmokeFailure('authorization', `${this.credentials.user} is not allowed ${what}: ${registryError(res)}`);
    if (!expect.includes(res.status)) throw new SmokeFailure('HTTP', `${what}: expected ${expect.join(' or ')}, got ${registryError(res)}`);
    return res;
  }

  #send(req: Request): Promise<Response> {
    return this.http.send({ ...req, headers: { ...req.headers, ...(this.#auth ? { authorization: this.#auth } : {}) } });
  }

  async #answer(ch: Challenge): Promise<string> {
    if (ch.scheme === 'basic') return basicHeader(this.credentials);
    const realm = ch.params.realm;
    if (!realm) throw new SmokeFailure('HTTP', `${this.base} sent a Bearer challenge without a realm`);
    const url = new URL(realm);
    if (ch.params.service) url.searchParams.set('service', ch.params.service);
    if (ch.params.scope) url.searchParams.set('scope', ch.params.scope);
    const res = await this.http.send({ method: 'GET', url: url.href, headers: { authorization: basicHeader(this.credentials) } });
    if (res.status === 401 || res.status === 403) {
      throw new SmokeFailure('authentication', `the token service ${url.origin}${url.pathname} refused ${this.credentials.user}'s credentials (${this.credentials.source}): ${res.status}`);
    }
    if (res.status >= 502 && res.status <= 504) throw new SmokeFailure('backend', `the token service ${url.origin}${url.pathname} answered ${res.status}`);
    let token: string | undefined;
    try {
      const body = JSON.parse(res.body.toString('utf8')) as { token?: string; access_token?: string };
      token = body.token ?? body.access_token;
    } catch {
      // handled below
    }
    if (res.status !== 200 || !token) throw new SmokeFailure('HTTP', `the token service ${url.origin}${url.pathname} gave no token (${res.status})`);
    remember(token);
    return `Bearer ${token}`;
  }

  async ping(): Promise<void> {
    await this.call({ method: 'GET', url: `${this.base}/v2/` }, [200]);
  }

  /** A blob in one PUT (monolithic upload), or in PATCHes of `chunk` bytes then a closing PUT. */
  async pushBlob(repo: string, blob: Blob, chunk?: number): Promise<void> {
    const started = await this.call({ method: 'POST', url: `${this.base}/v2/${repo}/blobs/uploads/` }, [202]);
    let location = this.#location(started, 'POST blobs/uploads');
    let body: Buffer | undefined = blob.data;
    if (chunk) {
      for (let at = 0; at < blob.size; at += chunk) {
        const part = blob.data.subarray(at, Math.min(blob.size, at + chunk));
        const res = await this.call(
          { method: 'PATCH', url: location, headers: { 'content-type': 'application/octet-stream', 'content-range': `${at}-${at + part.length - 1}` }, body: part },
          [202],
        );
        location = this.#location(res, 'PATCH upload');
      }
      body = undefined;
    }
    const done = new URL(location);
    done.searchParams.set('digest', blob.digest);
    await this.call({ method: 'PUT', url: done.href, headers: { 'content-type': 'application/octet-stream' }, ...(body ? { body } : {}) }, [201]);
  }

  async pushManifest(repo: string, tag: string, manifest: Blob): Promise<void> {
    const res = await this.call({ method: 'PUT', url: `${this.base}/v2/${repo}/manifests/${tag}`, headers: { 'content-type': manifest.mediaType }, body: manifest.data }, [201]);
    const stored = header(res, 'docker-content-digest');
    if (stored && stored !== manifest.digest) throw new SmokeFailure('digest', `the registry stored manifest ${repo}:${tag} as ${stored}, pushed ${manifest.digest}`);
  }

  /** GETs what was pushed and checks the bytes' digest: the registry's own header is not trusted. */
  async pullAndCompare(repo: string, tag: string, blobs: Blob[], manifest: Blob): Promise<void> {
    const res = await this.call({ method: 'GET', url: `${this.base}/v2/${repo}/manifests/${tag}`, headers: { accept: MEDIA.manifest } }, [200]);
    const got = sha256(res.body);
    if (got !== manifest.digest) throw new SmokeFailure('digest', `manifest ${repo}:${tag} came back as ${got}, pushed ${manifest.digest}`);
    for (const b of blobs) {
      const r = await this.call({ method: 'GET', url: `${this.base}/v2/${repo}/blobs/${b.digest}` }, [200]);
      const back = sha256(r.body);
      if (back !== b.digest) throw new SmokeFailure('digest', `blob ${b.digest} of ${repo} came back as ${back} (${r.body.length} bytes, pushed ${b.size}): the registry's storage holds other bytes`);
    }
  }

  /** Deletes the manifest (so the tag); false when the registry does not allow deleting (405). */
  async deleteManifest(repo: string, digest: string): Promise<boolean> {
    const res = await this.call({ method: 'DELETE', url: `${this.base}/v2/${repo}/manifests/${digest}` }, [202, 405]);
    return res.status === 202;
  }

  #location(res: Response, what: string): string {
    const loc = header(res, 'location');
    if (!loc) throw new SmokeFailure('HTTP', `${what}: the registry answered ${res.status} without a Location`);
    return new URL(loc, this.base).href;
  }
}

function scopeActions(ch: Challenge): string {
  const [type, name, actions] = (ch.params.scope ?? '').split(':');
  // Sorted: the registry lists a scope's actions in no fixed order.
  return actions ? `${actions.split(',').sort().join(', ')} ${type} ${name}` : 'do that';
}
