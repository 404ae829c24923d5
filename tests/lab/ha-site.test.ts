// Issue 13 end to end: a lab with two registry hosts and the db host, the site converged on it.
// Images pushed through the proxy's balancer are served by either node (shared storage), pulled
// while registry-1 is down and after it returns; the registries cache in the db host's Redis;
// PostgreSQL admits Harbor's user from a registry host and refuses it from the bastion; a new
// registry user rolls out one host at a time while pulls through the proxy keep working; the
// operator's backup writes a dump pg_restore reads.
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { Secret } from '../../lib/secret.ts';
import { VaultFile } from '../../lib/vault/file.ts';
import { runScript } from '../helpers/cli.ts';
import { credentialFiles, resolvingTo, type PublicNameRunner } from '../fixtures/roles/client.ts';
import { converged, LAB_PUBLIC_NAME, siteLab, unchanged, type RegistryClient } from '../fixtures/roles/site-lab.ts';

const site = await siteLab(t, { name: 'hasite', subnet: '10.176', registries: 2, db: true });
const { lab } = site;
const address = (name: string) => lab.hosts.find((h) => h.name === name)!.address;
const upper = (host: string, path: string) => join(lab.hosts.find((h) => h.name === host)!.upperDir, path);
const vaultPassword = new Secret((await readFile(site.passwordFile, 'utf8')).trim());
const vaultGet = async (key: string) => (await VaultFile.open(site.vaultFile, vaultPassword)).get(key)!.reveal();

/** Runs a command on a lab host; fails the test with its output when it exits non-zero. */
async function sh(host: string, cmd: string): Promise<string> {
  const r = await site.exec(host, cmd);
  if (r.code !== 0) throw new Error(`${host}: ${cmd}: exit ${r.code}: ${r.stderr}`);
  return r.stdout.trim();
}

/** A 0600 file in a host's /root, written from the controller (a secret never rides a command line). */
async function secretFile(host: string, name: string, content: string): Promise<string> {
  await writeFile(upper(host, `root/${name}`), content, { mode: 0o600 });
  return `/root/${name}`;
}

t.test('the site converges on two registries and the db host, and a rerun changes nothing', async (t) => {
  t.same(lab.hosts.map((h) => [h.name, h.group]), [['bastion', 'bastion'], ['registry-1', 'registry'], ['registry-2', 'registry'], ['db-1', 'database']]);
  const first = await site.site();
  converged(t, first, 'first converge');
  t.same(Object.keys(first.hosts).sort(), ['bastion', 'db-1', 'registry-1', 'registry-2']);
  unchanged(t, await site.site());
});

const admin = { user: 'admin', password: '' };
// Clients on the controller, set up once the first converge has made the CA and the admin password.
const clientDir = join(site.dir, 'ha-client');
let client: RegistryClient;
let run: PublicNameRunner;
/** The admin's curl netrc and skopeo authfile, once the first converge has put the password in the vault. */
let creds = { authfile: '', netrc: '' };
const REPO = 'ha/demo';
let pushed: Awaited<ReturnType<RegistryClient['push']>>;
let layer = '';

const curl = (...args: string[]) =>
  run('curl', ['-sS', '--max-time', '10', '--cacert', join(clientDir, 'ca', 'ca.crt'), '--netrc-file', creds.netrc, '-H', 'Accept: application/vnd.oci.image.manifest.v1+json', ...args]);

/** HTTP status of GET /v2/REPO/manifests/1 through the proxy, as the admin. */
async function manifestStatus(): Promise<string> {
  const r = await curl('-o', '/dev/null', '-w', '%{http_code}', `https://${LAB_PUBLIC_NAME}/v2/${REPO}/manifests/1`);
  return r.code === 0 ? r.stdout : `curl exit ${r.code}: ${r.stderr.trim()}`;
}

/** skopeo pulls the image through the proxy into a fresh OCI layout: its digest, or the error. */
let pulls = 0;
async function pull(): Promise<string> {
  const dest = `oci:${join(clientDir, `pull-${++pulls}`)}:1`;
  const r = await run('skopeo', ['copy', '--src-cert-dir', join(clientDir, 'ca'), '--src-authfile', creds.authfile, `docker://${LAB_PUBLIC_NAME}/${REPO}:1`, dest]);
  if (r.code !== 0) return `skopeo exit ${r.code}: ${r.stderr.trim()}`;
  const index = JSON.parse(await readFile(join(clientDir, `pull-${pulls}`, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  return index.manifests[0]!.digest;
}

t.test('an image pushed through the proxy is served by each registry host: one shared storage', async (t) => {
  admin.password = await vaultGet('registry_users.admin');
  client = await site.client();
  await mkdir(join(clientDir, 'ca'), { recursive: true });
  await copyFile(join(site.certsDir, 'ca.crt'), join(clientDir, 'ca', 'ca.crt'));
  run = await resolvingTo(clientDir, LAB_PUBLIC_NAME, address('bastion'));
  creds = await credentialFiles(clientDir, LAB_PUBLIC_NAME, admin.user, admin.password);
  pushed = await client.push(admin, REPO, '1');
  t.equal(pushed.push.code, 0, pushed.push.stderr || 'skopeo pushed');
  t.equal(pushed.digest, pushed.expected, 'the proxy serves the pushed manifest');
  const authNetrc = await secretFile('bastion', 'ha-netrc', `machine ${LAB_PUBLIC_NAME} login admin password ${admin.password}\n`);
  const manifest = JSON.parse((await curl(`https://${LAB_PUBLIC_NAME}/v2/${REPO}/manifests/1`)).stdout) as { layers: Array<{ digest: string }> };
  layer = manifest.layers[0]!.digest;
  for (const node of ['registry-1', 'registry-2']) {
    // Straight to the node from the bastion, by the public name its certificate carries.
    const get = (path: string) =>
      sh('bastion', `curl -sS -o /dev/null -w '%{http_code}' --cacert /etc/harbormaster/tls/ca.crt --netrc-file ${authNetrc} --resolve ${LAB_PUBLIC_NAME}:443:${address(node)} -H 'Accept: application/vnd.oci.image.manifest.v1+json' https://${LAB_PUBLIC_NAME}${path}`);
    t.equal(await get(`/v2/${REPO}/manifests/${pushed.expected}`), '200', `${node} serves the manifest`);
    t.equal(await get(`/v2/${REPO}/blobs/${layer}`), '200', `${node} serves the layer blob`);
  }
});

t.test("the registries' blob descriptor cache is in the db host's Redis", async (t) => {
  const pw = await secretFile('db-1', 'ha-redis-pw', await vaultGet('redis_password'));
  const keys = await sh('db-1', `REDISCLI_AUTH=$(cat ${pw}) redis-cli -n 1 --scan --pattern 'blobs::*'`);
  t.ok(keys.split('\n').includes(`blobs::${layer}`), `the pushed layer's descriptor is cached (keys: ${keys.replace(/\n/g, ' ')})`);
  t.match(await sh('db-1', `redis-cli -n 1 dbsize 2>&1 || true`), /NOAUTH/, 'Redis wants the password');
  t.match(await sh('bastion', `exec 3<>/dev/tcp/${address('db-1')}/6379 && printf 'PING\\r\\n' >&3 && timeout 2 head -n 1 <&3 || true`), /NOAUTH/, 'and asks it of other hosts too');
  t.notMatch(await sh('db-1', 'ps -eo args | grep [r]edis-server'), await vaultGet('redis_password'), 'the password is not on its command line');
});

t.test("PostgreSQL admits Harbor's user from a registry host over verified TLS, and refuses it from the bastion", async (t) => {
  const pgpass = `${address('db-1')}:5432:harbor:harbor:${await vaultGet('harbor_db_password')}\n`;
  const connect = `psql "host=${address('db-1')} dbname=harbor user=harbor sslmode=verify-full sslrootcert=/etc/harbormaster/tls/ca.crt" -Atc "SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"`;
  const fromRegistry = await site.exec('registry-1', `PGPASSFILE=${await secretFile('registry-1', 'ha-pgpass', pgpass)} ${connect}`);
  t.equal(fromRegistry.stdout.trim(), 'harbor|t', fromRegistry.stderr || 'logged in as harbor, over TLS');
  const wrong = await site.exec('registry-1', `PGPASSFILE=${await secretFile('registry-1', 'ha-pgpass-wrong', pgpass.replace(/:[^:]*\n$/, ':wrong\n'))} ${connect}`);
  t.match(wrong.stderr, /password authentication failed for user "harbor"/, 'a wrong password is refused');
  const fromBastion = await site.exec('bastion', `PGPASSFILE=${await secretFile('bastion', 'ha-pgpass', pgpass)} ${connect}`);
  t.not(fromBastion.code, 0);
  t.match(fromBastion.stderr, /pg_hba\.conf rejects connection for host/, 'the bastion is not admitted');
  t.match(await sh('db-1', 'ss -ltn'), new RegExp(`${address('db-1').replace(/\./g, '\\.')}:5432`), 'it listens on the private address');
});

t.test('the balancer fails over while registry-1 is down, and uses it again when it is back', async (t) => {
  t.equal(await pull(), pushed.expected, 'a pull with both up');
  await sh('registry-1', 'service docker-registry stop');
  for (let i = 0; i < 3; i++) t.equal(await pull(), pushed.expected, `pull ${i + 1} with registry-1 stopped`);
  const log = upper('registry-1', 'var/log/docker-registry.log');
  const served = async () => (await readFile(log, 'utf8')).split(`GET /v2/${REPO}/manifests/1 `).length;
  const before = await served();
  await sh('registry-1', 'service docker-registry start');
  // Until the health check sees it again (every 2 s), requests go to registry-2 only.
  let servedByOne = false;
  for (let i = 0; i < 60 && !servedByOne; i++) {
    t.equal(await manifestStatus(), '200', `request ${i + 1} after registry-1 started`);
    servedByOne = (await served()) > before;
  }
  t.ok(servedByOne, 'registry-1 serves requests again after it returns');
  t.equal(await pull(), pushed.expected, 'a pull after it returns');
});

t.test('a new registry user rolls out one host at a time while pulls through the proxy keep working', async (t) => {
  const vault = await VaultFile.open(site.vaultFile, vaultPassword);
  vault.set('registry_users.ci', 'ci-Rolling-Passw0rd');
  await vault.save();
  let done = false;
  const statuses: string[] = [];
  const loop = (async () => {
    // Bounded: at most 400 requests, whatever the converge does.
    while (!done && statuses.length < 400) statuses.push(await manifestStatus());
  })();
  const rolled = await site.site();
  done = true;
  await loop;
  converged(t, rolled, 'the rolling converge');
  const registrySteps = rolled.changed.filter((c) => c.startsWith('registry-'));
  const perHost = [
    'htpasswd /etc/docker/registry/htpasswd',
    'docker-registry runs the current config',
    'take this host out of the balancer',
    'restart docker-registry',
    'check docker-registry health',
    'record what docker-registry loaded',
    'put this host back in the balancer',
  ];
  t.same(registrySteps.map((c) => c.replace(/^registry-\d: /, '')), [...perHost, ...perHost], 'each host changes, restarts out of the balancer and returns');
  const hosts = registrySteps.map((c) => c.split(':')[0]);
  t.same([...new Set(hosts)].length, 2);
  t.equal(hosts.lastIndexOf(hosts[0]!), hosts.length / 2 - 1, 'every step of the first host comes before any of the second: one at a time');
  t.ok(statuses.length > 5, `${statuses.length} requests ran during the converge`);
  t.same(statuses.filter((s) => s !== '200'), [], 'none failed');
  await mkdir(join(clientDir, 'ci'));
  const ci = await credentialFiles(join(clientDir, 'ci'), LAB_PUBLIC_NAME, 'ci', 'ci-Rolling-Passw0rd');
  const r = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', join(clientDir, 'ca', 'ca.crt'), '--netrc-file', ci.netrc, `https://${LAB_PUBLIC_NAME}/v2/`]);
  t.equal(r.stdout, '200', 'the new user logs in through the proxy');
  unchanged(t, await site.site(), 'a rerun after the rolling change');
});

t.test("the operator's backup writes a dated dump that pg_restore reads", async (t) => {
  const r = await runScript('role', '-i', lab.inventoryFile, '--vault', site.vaultFile, '--vault-password-file', site.passwordFile, '--certs-dir', site.certsDir, 'postgres', '-t', 'backup');
  t.equal(r.code, 0, r.stderr || 'role postgres -t backup exits 0');
  t.match(r.stdout, /changed +db-1 +back up database harbor/);
  const dumps = (await sh('db-1', 'ls /var/backups/postgresql')).split('\n');
  t.equal(dumps.length, 1);
  t.match(dumps[0], /^harbor-\d{4}-\d{2}-\d{2}T\d{6}Z\.dump$/);
  t.match(await sh('db-1', `pg_restore --list /var/backups/postgresql/${dumps[0]}`), /dbname: harbor/);
  t.equal(await sh('db-1', 'stat -c %a /var/backups/postgresql'), '700', 'dumps are root only');
  const plain = await site.site();
  t.notOk(plain.changed.some((c) => c.includes('back up')), 'a converge does not back up');
});
