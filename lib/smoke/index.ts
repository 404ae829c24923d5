// The smoke test: push a small image built in code to the registry through its public name and
// proxy, pull it back, compare digests, delete it. Each phase is a step for the engine's
// reporter (the same lines, --json events and recap as a role run); a failure names its layer.
import type { EventSink, StepStatus } from '../run/types.ts';
import type { Credentials } from './auth.ts';
import { SmokeFailure } from './failure.ts';
import { Https } from './http.ts';
import { smokeImage } from './image.ts';
import { resolveName, tcpCheck, tlsCheck, type Endpoint } from './preflight.ts';
import { RegistryClient } from './registry.ts';

export { SmokeFailure, type Layer } from './failure.ts';
export type { Credentials } from './auth.ts';
export type { Endpoint } from './preflight.ts';

export interface SmokeOptions {
  endpoint: Endpoint;
  caPem: string;
  /** Where the CA came from, for messages. */
  caFile: string;
  credentials: Credentials;
  /** Repository: `<project>/smoke`. */
  repository: string;
  tag: string;
}

const ROLE = 'smoke';
/** The layer goes in chunks of this size: the chunked upload path is tested, not only the monolithic one. */
const CHUNK = 64;

/** Runs the smoke test, reporting each phase; true when every phase passed. */
export async function runSmoke(o: SmokeOptions, emit: EventSink): Promise<boolean> {
  const started = performance.now();
  const host = o.endpoint.port === 443 ? o.endpoint.name : `${o.endpoint.name}:${o.endpoint.port}`;
  const tally = { ok: 0, changed: 0, unreachable: 0, failed: 0, skipped: 0 };
  let requests = 0;
  emit({ type: 'run', roles: [ROLE], check: false });
  emit({ type: 'role', role: ROLE, hosts: [host] });
  const step = async (name: string, fn: () => Promise<{ status: StepStatus; summary?: string } | void>): Promise<void> => {
    const t0 = performance.now();
    emit({ type: 'step-start', role: ROLE, host, step: name, handler: false });
    try {
      const r = (await fn()) ?? { status: 'ok' as const };
      tally[r.status]++;
      if (r.status === 'changed') tally.ok++;
      emit({ type: 'step', role: ROLE, host, step: name, kind: ROLE, handler: false, status: r.status, ...(r.summary ? { summary: r.summary } : {}), ms: Math.round(performance.now() - t0) });
    } catch (err) {
      if (!(err instanceof SmokeFailure)) throw err;
      tally.failed++;
      emit({ type: 'step', role: ROLE, host, step: name, kind: ROLE, handler: false, status: 'failed', error: err.message, ms: Math.round(performance.now() - t0) });
      throw err;
    }
  };
  const image = smokeImage();
  const ref = `${o.repository}:${o.tag}`;
  let http: Https | undefined;
  try {
    let address = '';
    await step(`resolve ${o.endpoint.name}`, async () => {
      address = await resolveName(o.endpoint);
      return { status: 'ok', summary: address };
    });
    await step(`connect ${address}:${o.endpoint.port}`, () => tcpCheck(address, o.endpoint.port));
    await step('TLS certificate', async () => ({ status: 'ok', summary: await tlsCheck(o.endpoint, address, o.caPem, o.caFile) }));
    http = new Https(o.endpoint, address, o.caPem);
    const registry = new RegistryClient(http, o.credentials);
    await step(`log in as ${o.credentials.user}`, () => registry.ping());
    await step(`push ${ref}`, async () => {
      await registry.pushBlob(o.repository, image.config);
      await registry.pushBlob(o.repository, image.layer, CHUNK);
      await registry.pushManifest(o.repository, o.tag, image.manifest);
      return { status: 'changed', summary: `${image.manifest.digest}, ${image.config.size + image.layer.size} bytes of blobs` };
    });
    await step(`pull ${ref} and compare digests`, () => registry.pullAndCompare(o.repository, o.tag, [image.config, image.layer], image.manifest));
    await step(`delete ${ref}`, async () =>
      (await registry.deleteManifest(o.repository, image.manifest.digest)) ? { status: 'changed', summary: 'deleted' } : { status: 'skipped', summary: 'the registry does not allow deleting (405)' },
    );
    return true;
  } catch (err) {
    if (err instanceof SmokeFailure) return false;
    throw err;
  } finally {
    requests = http?.requests ?? 0;
    http?.close();
    emit({ type: 'recap', hosts: { [host]: { ...tally, roundTrips: { exec: requests, sftp: 0 } } }, wallMs: Math.round(performance.now() - started), check: false });
  }
}
