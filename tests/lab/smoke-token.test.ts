// The smoke test's Bearer token flow (Harbor's scheme) against a real distribution registry with
// `auth: token`, and a token service run here that signs JWTs with a key whose certificate the
// registry trusts (rootcertbundle). All on loopback; no lab hosts needed.
import { spawn } from 'node:child_process';
import { createSign, randomBytes, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer as createHttps } from 'node:https';
import { createServer } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { createCa, issueServerCert } from '../../lib/pki/index.ts';
import { Secret } from '../../lib/secret.ts';
import { Https } from '../../lib/smoke/http.ts';
import { VaultFile } from '../../lib/vault/index.ts';
import { runScript as hm } from '../helpers/cli.ts';

const REGISTRY = '/usr/bin/docker-registry';
if (!existsSync(REGISTRY)) {
  t.plan(0, `skipped: ${REGISTRY} is absent (apt-get install docker-registry)`);
  process.exit(0);
}

const NAME = 'registry.test';
const SERVICE = 'hm-test-registry';
const ISSUER = 'hm-test-issuer';
const dir = t.testdir();
const freePort = () =>
  new Promise<number>((done) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => done(port));
    });
  });

const ca = await createCa({ commonName: 'token test CA' });
const server = await issueServerCert({ ca, sans: [{ type: 'DNS', value: NAME }] });
const signer = await createCa({ commonName: 'token signer' });
await writeFile(join(dir, 'ca.crt'), ca.certPem);
await writeFile(join(dir, 'server.crt'), server.certPem);
await writeFile(join(dir, 'server.key'), server.keyPem.reveal(), { mode: 0o600 });
await writeFile(join(dir, 'signer.crt'), signer.certPem);

/** Who may do what: alice everything, bob only pull. */
const USERS: Record<string, { password: string; actions: string[] }> = {
  alice: { password: 'alice-Passw0rd', actions: ['pull', 'push', 'delete'] },
  bob: { password: 'bob-Passw0rd', actions: ['pull'] },
};
const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

function jwt(user: string, scope: string | null): string {
  const access = [];
  if (scope) {
    const [type, name, wanted] = scope.split(':');
    access.push({ type, name, actions: wanted!.split(',').filter((a) => USERS[user]!.actions.includes(a)) });
  }
  const now = Math.floor(Date.now() / 1000);
  const der = new X509Certificate(signer.certPem).raw.toString('base64');
  const head = b64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', x5c: [der] }));
  const claims = b64url(JSON.stringify({ iss: ISSUER, sub: user, aud: SERVICE, exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access }));
  const signature = createSign('RSA-SHA256').update(`${head}.${claims}`).sign(signer.keyPem.reveal());
  return `${head}.${claims}.${b64url(signature)}`;
}

/** The token service: Basic credentials in, a token for the granted part of the scope out. */
const asked: string[] = [];
const tokens = createHttps({ cert: server.certPem, key: server.keyPem.reveal() }, (req, res) => {
  const url = new URL(req.url!, `https://${NAME}`);
  const [user, password] = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString().split(':');
  // The registry names a scope's actions in no fixed order (push,pull or pull,push).
  const scope = url.searchParams.get('scope')?.replace(/[^:]+$/, (actions) => actions.split(',').sort().join(','));
  asked.push(`${user} ${scope ?? '-'}`);
  if (url.pathname !== '/token' || url.searchParams.get('service') !== SERVICE) return res.writeHead(400).end();
  if (!user || USERS[user]?.password !== password) return res.writeHead(401).end('{"details":"bad credentials"}');
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: jwt(user, url.searchParams.get('scope')) }));
});
const tokenPort = await freePort();
await new Promise<void>((done) => tokens.listen(tokenPort, '127.0.0.1', done));
t.teardown(() => tokens.close());

const port = await freePort();
await mkdir(join(dir, 'data'));
await writeFile(
  join(dir, 'config.yml'),
  [
    'version: 0.1',
    'log: {level: warn}',
    `storage: {filesystem: {rootdirectory: ${join(dir, 'data')}}, delete: {enabled: true}}`,
    `http: {addr: "127.0.0.1:${port}", tls: {certificate: ${join(dir, 'server.crt')}, key: ${join(dir, 'server.key')}}}`,
    `auth: {token: {realm: "https://${NAME}:${tokenPort}/token", service: ${SERVICE}, issuer: ${ISSUER}, rootcertbundle: ${join(dir, 'signer.crt')}}}`,
    '',
  ].join('\n'),
);
let log = '';
const registry = spawn(REGISTRY, ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'pipe', 'pipe'] });
registry.stdout.on('data', (d: Buffer) => (log += d));
registry.stderr.on('data', (d: Buffer) => (log += d));
t.teardown(() => void registry.kill());

// Up when /v2/ answers (401: a token is wanted); at most 100 tries.
const probe = new Https({ name: NAME, port }, '127.0.0.1', ca.certPem);
for (let i = 0; ; i++) {
  const status = await probe.send({ method: 'GET', url: `https://${NAME}:${port}/v2/` }).then((r) => r.status, () => 0);
  if (status === 401) break;
  if (i >= 100 || registry.exitCode !== null) throw new Error(`docker-registry did not come up: ${log}`);
  await new Promise((r) => setTimeout(r, 100));
}
probe.close();

const vaultFile = join(dir, 'vault.yaml');
await writeFile(join(dir, 'vault.password'), 'token test vault\n', { mode: 0o600 });
const vault = await VaultFile.open(vaultFile, new Secret('token test vault'), { create: true });
vault.set('registry_users.alice', USERS.alice!.password);
vault.set('registry_users.bob', USERS.bob!.password);
vault.set('registry_users.mallory', 'guessed-Passw0rd');
await vault.save();

const smoke = (user: string) =>
  hm('smoke', '--url', `https://${NAME}:${port}`, '--resolve', '127.0.0.1', '--engine', 'distribution', '--ca', join(dir, 'ca.crt'), '--vault', vaultFile, '--vault-password-file', join(dir, 'vault.password'), '--user', user, '--json');
const steps = (stdout: string) =>
  stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; step?: string; status?: string; error?: string }).filter((e) => e.type === 'step');

t.test('the token flow: challenge, token for the scope asked, push, pull back, delete', async (t) => {
  asked.length = 0;
  const r = await smoke('alice');
  t.equal(r.code, 0, r.code ? r.stderr + r.stdout + log : 'exits 0');
  t.same(steps(r.stdout).map((s) => s.status), ['ok', 'ok', 'ok', 'ok', 'changed', 'ok', 'changed']);
  t.same(asked, ['alice -', 'alice repository:library/smoke:pull,push', 'alice repository:library/smoke:delete'], 'one token per scope the registry asked for');
});

t.test('authorization: a user whose token does not grant push', async (t) => {
  const r = await smoke('bob');
  t.equal(r.code, 2);
  const failed = steps(r.stdout).find((s) => s.status === 'failed');
  t.equal(failed?.step, 'push library/smoke:harbormaster-smoke');
  t.equal(failed?.error, 'authorization: bob may not pull, push repository library/smoke (POST /v2/library/smoke/blobs/uploads/)');
});

t.test('authentication: the token service refuses a wrong password', async (t) => {
  const r = await smoke('mallory');
  t.equal(r.code, 2);
  const failed = steps(r.stdout).find((s) => s.status === 'failed');
  t.equal(failed?.step, 'log in as mallory');
  t.equal(failed?.error, `authentication: the token service https://${NAME}:${tokenPort}/token refused mallory's credentials (vault key registry_users.mallory): 401`);
  t.notMatch(r.stdout + r.stderr, /guessed-Passw0rd/);
});
