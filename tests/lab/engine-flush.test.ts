// Handlers and checks see the state the run leaves: after a renewed server certificate or a new
// registry port, the checks that verify the registry and the proxy run after the restarts the
// change notified (afterHandlers), so the site converges with the services restarted and
// verified; a run that fails after a change still restarts on the next run; reruns change nothing.
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { loadInventory } from '../../lib/inventory/index.ts';
import { selectHosts } from '../../lib/inventory/limit.ts';
import type { Vars } from '../../lib/inventory/types.ts';
import { labExec } from '../../lib/lab/index.ts';
import { ensurePki, wantedSans } from '../../lib/pki/index.ts';
import type { Role } from '../../lib/run/types.ts';
import { Secret } from '../../lib/secret.ts';
import { VaultFile } from '../../lib/vault/index.ts';
import proxy from '../../roles/proxy/index.ts';
import registry from '../../roles/registry/index.ts';
import { deploymentVars } from '../../roles/shared/deployment.ts';
import { expectSuccess, runCollect, type Collected } from '../fixtures/engine/run.ts';
import { credentialFiles, resolvingTo } from '../fixtures/roles/client.ts';
import { withLab } from '../helpers/lab.ts';

const NAME = 'registry.enflush.test';
const PASSWORD = new Secret('engine flush lab vault password');

const lab = await withLab(t, { name: 'enflush', subnet: '10.140', registries: 1 });
const inv = await loadInventory(lab.inventoryFile);
const dir = t.testdir();
const vaultFile = join(dir, 'secrets.yaml');
const certsDir = join(dir, 'certs');
const sans = wantedSans(selectHosts(inv, 'registry'), NAME);
const exec = (host: string, cmd: string) => labExec(lab, host, cmd);

const created = await VaultFile.open(vaultFile, PASSWORD, { create: true });
created.set('registry_users.pusher', 'pusher-Flush-Passw0rd');
await created.save();
// A server certificate that expires within the renewal window (30 days): the next ensurePki renews it.
await ensurePki({ vault: created, certsDir, publicName: NAME, sans, days: 20, renewBefore: 10 });
let vars: Vars = await deploymentVars({ vault: await VaultFile.open(vaultFile, PASSWORD), certsDir });
const converge = (roles: Role[], extra: Vars = {}): Promise<Collected> => runCollect(inv, roles, { extraVars: { ...vars, ...extra } });
const changed = (r: Collected) => r.steps.filter((s) => s.status === 'changed').map((s) => `${s.host}: ${s.step}`);

/** The SHA-256 fingerprint of what answers TLS on a host's port, as openssl prints it. */
async function served(host: string, port: number): Promise<string> {
  const r = await exec(host, `openssl s_client -connect 127.0.0.1:${port} -servername ${NAME} </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256`);
  return r.stdout.trim().replace(/^.*=/, '');
}
const onDisk = async () => new X509Certificate(await readFile(join(certsDir, 'server.crt'))).fingerprint256;

const bastionAddress = lab.hosts.find((h) => h.name === 'bastion')!.address;
const client = await resolvingTo(dir, NAME, bastionAddress);
const pusher = await credentialFiles(dir, NAME, 'pusher', 'pusher-Flush-Passw0rd');
/** GET /v2/ through the proxy by the public name, trusting only the deployment's CA, with the pusher's password. */
const throughProxy = async () =>
  (await client('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', join(certsDir, 'ca.crt'), '--netrc-file', pusher.netrc, `https://${NAME}/v2/`])).stdout;

t.test('first converge: the checks run after the handlers and pass', async (t) => {
  const r = await converge([proxy, registry]);
  expectSuccess(t, r);
  const order = r.steps.filter((s) => s.host === 'registry-1').map((s) => s.step);
  t.ok(order.indexOf('restart docker-registry') < order.indexOf('docker-registry answers'), 'the restart comes before the check');
  t.match(r.steps.find((s) => s.step === 'docker-registry answers'), { status: 'ok' }, 'the restarted registry answers at once');
  t.match(r.steps.find((s) => s.step === 'apache2 serves the current certificate'), { status: 'ok', host: 'bastion' });
  t.equal(await throughProxy(), '200');
});

t.test('a renewed server certificate: both daemons restarted and verified serving it, then nothing to do', async (t) => {
  const before = await onDisk();
  // The vault as it is now (deploymentVars saved generated secrets into it).
  const pki = await ensurePki({ vault: await VaultFile.open(vaultFile, PASSWORD), certsDir, publicName: NAME, sans });
  t.match(pki.server?.reason, /expires in/, 'renewed near expiry');
  const after = await onDisk();
  t.not(after, before, 'a new certificate');
  vars = await deploymentVars({ vault: await VaultFile.open(vaultFile, PASSWORD), certsDir });

  const r = await converge([proxy, registry]);
  expectSuccess(t, r);
  t.strictSame(changed(r), [
    'bastion: copy /etc/harbormaster/tls/server.crt',
    'bastion: copy /etc/harbormaster/tls/server.key',
    'bastion: apache runs the current config',
    'bastion: reload apache',
    'bastion: record what apache loaded',
    'registry-1: copy /etc/harbormaster/tls/server.crt',
    'registry-1: copy /etc/harbormaster/tls/server.key',
    'registry-1: docker-registry runs the current config',
    'registry-1: restart docker-registry',
    'registry-1: check docker-registry health',
    'registry-1: record what docker-registry loaded',
  ]);
  t.equal(await served('registry-1', 443), after, 'the registry serves the new certificate');
  t.equal(await served('bastion', 443), after, 'so does the proxy');
  t.equal(await throughProxy(), '200', 'the proxy verifies the registry and serves the client');
  const again = await converge([proxy, registry]);
  expectSuccess(t, again);
  t.strictSame(changed(again), [], 'a rerun is changed=0');
});

t.test('a new registry port: the check asks the restarted daemon on the new port', async (t) => {
  const r = await converge([registry], { registry_port: 5443 });
  expectSuccess(t, r);
  t.strictSame(changed(r), [
    'registry-1: template /etc/docker/registry/config.yml',
    'registry-1: docker-registry runs the current config',
    'registry-1: restart docker-registry',
    'registry-1: check docker-registry health',
    'registry-1: record what docker-registry loaded',
  ]);
  t.equal(await served('registry-1', 5443), await onDisk(), 'it serves on 5443');
  t.strictSame(changed(await converge([registry], { registry_port: 5443 })), [], 'a rerun is changed=0');
});

t.test('a run failing after the change notified the restart: the next run still restarts', async (t) => {
  // Something else holds port 5444, so the restarted registry cannot bind it.
  await exec('registry-1', 'setsid python3 -c "import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((\'0.0.0.0\', 5444)); s.listen(); time.sleep(600)" </dev/null >/dev/null 2>&1 & echo $! > /tmp/squatter.pid');
  t.teardown(() => exec('registry-1', 'kill $(cat /tmp/squatter.pid) 2>/dev/null; true'));
  const failed = await converge([registry], { registry_port: 5444 });
  t.equal(failed.result.exitCode, 2, 'the run fails');
  const failure = failed.steps.find((s) => s.status === 'failed');
  t.ok(failure?.handler, `a handler failed (${failure?.step}: ${failure?.output ?? failure?.error})`);
  t.notOk(failed.steps.some((s) => s.step === 'record what docker-registry loaded'), 'what the daemon loaded is not recorded');

  await exec('registry-1', 'kill $(cat /tmp/squatter.pid)');
  const r = await converge([registry], { registry_port: 5444 });
  expectSuccess(t, r);
  t.strictSame(
    changed(r).filter((s) => /restart|record|runs the current/.test(s)),
    ['registry-1: docker-registry runs the current config', 'registry-1: restart docker-registry', 'registry-1: record what docker-registry loaded'],
    'the config was already written; the restart is still owed and made',
  );
  t.equal(await served('registry-1', 5444), await onDisk(), 'it serves on 5444');
  t.strictSame(changed(await converge([registry], { registry_port: 5444 })), [], 'a rerun is changed=0');
});
