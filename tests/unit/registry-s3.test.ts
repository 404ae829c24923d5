// The registry's S3 storage end to end: the AWS phase makes the bucket and the least-privilege
// user (against the stateful mock), the registry role's own template renders distribution's
// config with that user's key and the mock as S3 endpoint, a real `docker-registry` serves it,
// and skopeo pushes an OCI image and pulls it back. The images land as objects in the bucket;
// the same key can do nothing beyond the registry's policy.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, DeleteBucketCommand, GetObjectCommand, ListObjectsV2Command, PutBucketPolicyCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import t from 'tap';
import { storageVars } from '../../lib/cloud/aws/inventory.ts';
import { planStorage } from '../../lib/cloud/aws/storage.ts';
import { createCa, issueServerCert } from '../../lib/pki/index.ts';
import { renderTemplate } from '../../lib/render/index.ts';
import { Secret } from '../../lib/secret.ts';
import { htpasswdContent } from '../../roles/registry/htpasswd.ts';
import registryRole from '../../roles/registry/index.ts';
import { mockContext, mockSettings } from '../helpers/aws-mock/context.ts';
import { startFullAwsMock } from '../helpers/aws-mock/index.ts';
import { s3State } from '../helpers/aws-mock/s3.ts';
import { buildOciImage } from '../fixtures/roles/oci.ts';
import { credentialFiles, runProcess } from '../fixtures/roles/client.ts';

const dir = await mkdtemp(join(tmpdir(), 'hm-registry-s3-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const mock = await startFullAwsMock({ hostedZone: 'example.com' });
t.teardown(() => mock.close());

const settings = mockSettings(mock, { bucket: 'hm-registry-images', region: 'eu-west-1' });
const ctx = mockContext(mock, settings);
let userKey = { accessKeyId: '', secretAccessKey: '' };
await planStorage(ctx, undefined, async (accessKeyId, secret) => {
  userKey = { accessKeyId, secretAccessKey: secret.reveal() };
});
await ctx.apply();
ctx.close();

/** A port nobody listens on now. */
const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });

const port = await freePort();
const NAME = `localhost:${port}`;
const USER = 'pusher';
const PASSWORD = 'pusher-password-123';

// What the registry role gives the template: its defaults, the deployment's and the AWS phase's vars.
const ca = await createCa({ commonName: 'registry-s3 test CA' });
const server = await issueServerCert({ ca, sans: [{ type: 'DNS', value: 'localhost' }, { type: 'IP', value: '127.0.0.1' }] });
const caDir = join(dir, 'ca');
const tls = { cert: join(dir, 'server.crt'), key: join(dir, 'server.key') };
const htpasswdPath = join(dir, 'htpasswd');
await mkdir(caDir);
await writeFile(join(caDir, 'ca.crt'), ca.certPem);
await writeFile(tls.cert, server.certPem);
await writeFile(tls.key, server.keyPem.reveal(), { mode: 0o600 });
await writeFile(htpasswdPath, await htpasswdContent('', { [USER]: new Secret(PASSWORD) }), { mode: 0o600 });
const rendered = renderTemplate(registryRole.templateDir!, 'config.yml.njk', {
  ...registryRole.defaults,
  ...storageVars(settings),
  registry_s3_access_key: new Secret(userKey.accessKeyId),
  registry_s3_secret_key: new Secret(userKey.secretAccessKey),
  registry_port: port,
  registry_public_name: NAME,
  registry_http_secret: new Secret('registry-http-secret-for-the-test'),
  tls,
  htpasswd_path: htpasswdPath,
  // Presigned redirects on (registry_s3_redirect: true), so the test can check what the driver signs; the default streams.
  s3_redirect: true,
});
const configFile = join(dir, 'config.yml');
await writeFile(configFile, rendered.text, { mode: 0o600 });

t.test('the rendered config points the S3 driver at the endpoint, over http, with the S3 user\'s key', async (t) => {
  t.match(rendered.text, `regionendpoint: "${mock.endpoint}"`);
  t.match(rendered.text, /secure: false\n/);
  t.match(rendered.text, /v4auth: true\n/);
  t.match(rendered.text, `bucket: "${settings.bucket}"`);
  t.match(rendered.text, `accesskey: "${userKey.accessKeyId}"`, "the S3 user's key, not the account's");
  t.not(userKey.accessKeyId, mock.credentials.accessKeyId);
  t.equal(rendered.sensitive, true, 'the secret key is in it');
  /** The same role's config for another S3 endpoint (throwaway keys). */
  const renderFor = (endpoint: string | undefined) =>
    renderTemplate(registryRole.templateDir!, 'config.yml.njk', {
      ...registryRole.defaults, ...storageVars({ ...settings, endpoint }),
      registry_s3_access_key: 'AKIA', registry_s3_secret_key: 'x', registry_port: 443, registry_public_name: 'r.example.com',
      registry_http_secret: 'y', tls, htpasswd_path: htpasswdPath,
    });
  t.match(rendered.text, /redirect:\n\s+disable: false\n/, 'registry_s3_redirect: true lets pulls go to presigned URLs');
  t.match(renderFor(undefined).text, /redirect:\n\s+disable: true\n/, 'by default blobs stream through the registry and the proxy');
  const aws = renderFor(undefined);
  t.notMatch(aws.text, /regionendpoint/, 'AWS itself: no endpoint');
  t.match(aws.text, /secure: true\n/);
  const tlsEndpoint = renderFor('https://s3.example.net');
  t.match(tlsEndpoint.text, /regionendpoint: "https:\/\/s3\.example\.net"\n\s+secure: true\n/, 'an https endpoint keeps TLS');
});

// The registry listens on loopback only (the template's addr is every interface: the environment overrides it).
const log: string[] = [];
const logTail = () => log.join('').split('\n').slice(-40).join('\n');

/** A call to the registry over TLS with the test CA: status and headers, or undefined while nothing answers. */
const registryCall = (method: string, path: string, opts: { auth?: string; body?: Buffer } = {}): Promise<{ status: number; headers: Record<string, unknown> } | undefined> =>
  new Promise((resolve) => {
    const headers = opts.body ? { 'content-type': 'application/octet-stream', 'content-length': String(opts.body.length) } : {};
    const req = request({ method, host: '127.0.0.1', port, path, servername: 'localhost', ca: ca.certPem, headers, ...(opts.auth ? { auth: opts.auth } : {}) }, (res) => {
      res.resume();
      resolve({ status: res.statusCode!, headers: res.headers });
    });
    req.on('error', () => resolve(undefined));
    req.end(opts.body);
  });
const registryGet = (path: string, auth?: string) => registryCall('GET', path, auth ? { auth } : {});
const v2Status = async () => (await registryGet('/v2/'))?.status;

/** Starts `docker-registry serve` (killed when the test ends); the status /v2/ first answers, or undefined if it died. */
async function startRegistry(): Promise<number | undefined> {
  // Only the config speaks to the S3 driver: no AWS_* of this machine (a CA bundle, a profile).
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')));
  const registry: ChildProcess = spawn('docker-registry', ['serve', configFile], {
    env: { ...env, REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`, REGISTRY_LOG_LEVEL: 'debug' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  registry.stdout!.on('data', (d: Buffer) => log.push(d.toString()));
  registry.stderr!.on('data', (d: Buffer) => log.push(d.toString()));
  const exited = new Promise<unknown>((resolve) => registry.on('exit', resolve));
  t.teardown(async () => {
    if (registry.exitCode === null) {
      registry.kill();
      await exited;
    }
  });
  for (let i = 0; i < 200 && registry.exitCode === null; i++) {
    const status = await v2Status();
    if (status !== undefined) return status;
    await new Promise((r) => setTimeout(r, 100));
  }
  return undefined;
}

t.test('skopeo pushes an image into the S3 bucket through the registry and pulls the same digests back', async (t) => {
  const status = await startRegistry();
  t.equal(status, 401, `the registry answers and asks for credentials\n${logTail()}`);
  if (status !== 401) return;
  const { authfile } = await credentialFiles(dir, NAME, USER, PASSWORD);
  const image = await buildOciImage(join(dir, 'image'), '1', { 'hello.txt': 'stored in S3 by harbormaster\n' });
  const remote = `docker://${NAME}/demo/s3:1`;
  const push = await runProcess('skopeo', ['copy', '--dest-cert-dir', caDir, '--dest-authfile', authfile, image.ref, remote]);
  t.equal(push.code, 0, `${push.stderr}\n${logTail()}`);
  const digest = await runProcess('skopeo', ['inspect', '--cert-dir', caDir, '--authfile', authfile, '--format', '{{.Digest}}', remote]);
  t.equal(digest.stdout.trim(), image.manifestDigest, `the registry holds the manifest as pushed\n${digest.stderr}`);
  const pulled = join(dir, 'pulled');
  const pull = await runProcess('skopeo', ['copy', '--src-cert-dir', caDir, '--src-authfile', authfile, remote, `oci:${pulled}:1`]);
  t.equal(pull.code, 0, `${pull.stderr}\n${logTail()}`);
  const index = JSON.parse(await readFile(join(pulled, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  t.equal(index.manifests[0]?.digest, image.manifestDigest);
  const blob = (root: string) => readFile(join(root, 'blobs', 'sha256', image.layerDigest.slice('sha256:'.length)));
  t.ok((await blob(pulled)).equals(await blob(join(dir, 'image'))), 'the layer came back, byte for byte');

  // distribution's layout: blobs by digest, the manifest's link in the repository.
  const objects = s3State(mock).buckets.get(settings.bucket)!.objects;
  const hex = (d: string) => d.slice('sha256:'.length);
  const blobKey = (d: string) => `docker/registry/v2/blobs/sha256/${hex(d).slice(0, 2)}/${hex(d)}/data`;
  t.ok(objects.get(blobKey(image.layerDigest))?.body.equals(await blob(join(dir, 'image'))), 'the layer is an object in the bucket');
  t.equal(objects.get(blobKey(image.manifestDigest))?.body.toString().includes('application/vnd.oci.image.manifest.v1+json'), true, 'so is the manifest');
  t.ok(objects.has(`docker/registry/v2/repositories/demo/s3/_manifests/tags/1/current/link`), 'and the tag');
  t.equal(s3State(mock).buckets.get(settings.bucket)!.uploads?.size ?? 0, 0, 'no multipart upload is left behind');

  // With registry_s3_redirect, blob downloads are redirects to URLs the S3 driver presigned with the user's key (the mock checks them).
  const redirect = await registryGet(`/v2/demo/s3/blobs/${image.layerDigest}`, `${USER}:${PASSWORD}`);
  t.equal(redirect?.status, 307);
  const location = String(redirect?.headers.location);
  t.ok(location.startsWith(`${mock.endpoint}/${settings.bucket}/docker/registry/v2/blobs/`), 'to the bucket, path-style');
  t.match(location, `X-Amz-Credential=${userKey.accessKeyId}`);
  const direct = await fetch(location);
  t.equal(direct.status, 200);
  t.ok(Buffer.from(await direct.arrayBuffer()).equals(await blob(join(dir, 'image'))));
  const forged = await fetch(location.replace(/(X-Amz-Signature=[0-9a-f]*)([0-9a-f])/, (_, a: string, c: string) => a + (c === '0' ? '1' : '0')));
  t.equal(forged.status, 403, 'a forged signature is refused');
});

t.test('a blob larger than the chunk and copy thresholds: multipart upload, then multipart copy into place', async (t) => {
  // Through the registry's API (a monolithic upload): the layout builder makes small layers only.
  const auth = `${USER}:${PASSWORD}`;
  const bytes = randomBytes(40 * 1024 * 1024); // over multipartcopythresholdsize (32 MiB), several chunks of 6 MiB
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const before = mock.calls.length;
  const started = await registryCall('POST', '/v2/demo/big/blobs/uploads/', { auth });
  t.equal(started?.status, 202, logTail());
  const upload = new URL(String(started?.headers.location));
  upload.searchParams.set('digest', digest);
  const put = await registryCall('PUT', upload.pathname + upload.search, { auth, body: bytes });
  t.equal(put?.status, 201, logTail());
  const calls = mock.calls.slice(before).filter((c) => c.service === 's3');
  const parts = calls.filter((c) => /^PUT .*\?partNumber&uploadId$/.test(c.action) && c.status === 200);
  t.ok(parts.length >= 10, `the blob went up in parts, then was copied in parts (${parts.length} part calls)`);
  const hex = digest.slice('sha256:'.length);
  const blob = s3State(mock).buckets.get(settings.bucket)!.objects.get(`docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`);
  t.match(blob?.etag, /^"[0-9a-f]{32}-\d+"$/, 'the blob in place was made by a multipart copy');
  t.ok(blob?.body.equals(bytes), 'byte for byte');
  t.equal(s3State(mock).buckets.get(settings.bucket)!.uploads?.size ?? 0, 0, 'no multipart upload is left behind');
  const redirect = await registryGet(`/v2/demo/big/blobs/${digest}`, auth);
  t.equal(redirect?.status, 307);
  const back = Buffer.from(await (await fetch(String(redirect?.headers.location))).arrayBuffer());
  t.ok(back.equals(bytes), 'fetched back whole by its presigned URL');
});

t.test("the registry's key is refused for what its policy does not grant", async (t) => {
  const s3 = new S3Client({ region: settings.region, endpoint: mock.endpoint, forcePathStyle: true, credentials: userKey, maxAttempts: 1 });
  const root = new S3Client({ region: settings.region, endpoint: mock.endpoint, forcePathStyle: true, credentials: mock.credentials, maxAttempts: 1 });
  t.teardown(() => {
    s3.destroy();
    root.destroy();
  });
  const denied = { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } };
  const other = 'hm-someone-elses-bucket';
  await root.send(new CreateBucketCommand({ Bucket: other, CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } }));
  await root.send(new PutObjectCommand({ Bucket: other, Key: 'secret.txt', Body: 'not for the registry' }));

  const listed = await s3.send(new ListObjectsV2Command({ Bucket: settings.bucket, Prefix: 'docker/' }));
  t.ok((listed.KeyCount ?? 0) > 0, 'it may list its own bucket');
  await t.rejects(s3.send(new DeleteBucketCommand({ Bucket: settings.bucket })), denied, 's3:DeleteBucket is not granted');
  await t.rejects(s3.send(new PutBucketPolicyCommand({ Bucket: settings.bucket, Policy: '{"Statement":[]}' })), denied, 'nor s3:PutBucketPolicy');
  await t.rejects(s3.send(new GetObjectCommand({ Bucket: other, Key: 'secret.txt' })), denied, 'nor GetObject on another bucket');
  await t.rejects(s3.send(new PutObjectCommand({ Bucket: other, Key: 'x', Body: 'x' })), denied, 'nor PutObject there');
  await t.rejects(s3.send(new ListObjectsV2Command({ Bucket: other })), denied, 'nor listing it');
  await t.rejects(s3.send(new CreateBucketCommand({ Bucket: 'hm-new-bucket', CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } })), denied, 'nor making buckets');
  const got = await root.send(new GetObjectCommand({ Bucket: other, Key: 'secret.txt' }));
  t.equal(await got.Body?.transformToString(), 'not for the registry', 'the root credentials still may');
  t.equal(s3State(mock).buckets.has(settings.bucket), true, 'the bucket is still there');
});
