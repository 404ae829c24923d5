// The registry port as an input of the site: the proxy follows the port the registry role uses in
// this run (`-e registry_port=5443` included), port 80 on the bastion only redirects to https
// (Debian's default site is gone), and moving the registry to another port ends in a service
// that answers there through the proxy (check mode predicting exactly that run's changes), then
// a rerun that changes nothing.
import t from 'tap';
import { Secret } from '../../lib/secret.ts';
import { VaultFile } from '../../lib/vault/index.ts';
import { converged, LAB_PUBLIC_NAME as NAME, siteLab, unchanged } from '../fixtures/roles/site-lab.ts';

const s = await siteLab(t, { name: 'trport', subnet: '10.151', registries: 1 });
const pusher = { user: 'pusher', password: 'pusher-Port-Passw0rd' };
const vault = await VaultFile.open(s.vaultFile, new Secret('transitions-vault-password'), { create: true });
vault.set(`registry_users.${pusher.user}`, pusher.password);
await vault.save();
const registryAddress = s.lab.hosts.find((h) => h.name === 'registry-1')!.address;
const vhost = async () => (await s.exec('bastion', 'cat /etc/apache2/sites-available/registry_ssl.conf')).stdout;

t.test('-e registry_port=5443: the registry listens there and the proxy sends requests there', async (t) => {
  converged(t, await s.site('-e', 'registry_port=5443'), 'the first run');
  t.match(await vhost(), new RegExp(`^\\s*ProxyPass / https://${registryAddress.replace(/\./g, '\\.')}:5443/$`, 'm'));
  const client = await s.client();
  t.equal(await client.status(pusher), '200', 'the registry answers through the proxy');
  t.equal(await client.status(), '401', 'and asks for credentials');
  const listening = await s.exec('registry-1', 'ss -Hltn');
  t.match(listening.stdout, /:5443\s/, 'docker-registry listens on 5443');
  t.notMatch(listening.stdout, /:443\s/, 'and not on 443');
  unchanged(t, await s.site('-e', 'registry_port=5443'));
});

t.test('--list-steps lists the proxy and the registry from the prepared deployment, changing nothing', async (t) => {
  const before = await s.exec('bastion', 'stat -c %Y /etc/apache2/sites-available/registry_ssl.conf');
  const r = await s.role('proxy,registry', '--list-steps', '-e', 'registry_port=5443');
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^role proxy \[bastion\]\n(.*\n)*\s+\d+\. copy \/etc\/harbormaster\/tls\/server\.crt  \[tls\]\n/m);
  t.match(r.stdout, /^role registry \[registry-1\]\n(.*\n)*\s+\d+\. docker-registry runs the current config  \[service\]  -> restart docker-registry/m);
  t.match(r.stdout, /handlers: reload apache, record what apache loaded/);
  t.equal((await s.exec('bastion', 'stat -c %Y /etc/apache2/sites-available/registry_ssl.conf')).stdout, before.stdout, 'nothing written');
  const broken = await s.role('proxy', '--list-steps', '--vault', `${s.dir}/no-such-vault.yaml`);
  t.equal(broken.code, 1, 'a listing that cannot prepare fails');
  t.match(broken.stderr.trim(), /^role: vault \S+no-such-vault\.yaml does not exist but bastion holds CA sha256:/);
});

t.test('port 80 on the bastion redirects to https; Debian\'s default site is disabled', async (t) => {
  t.equal((await s.exec('bastion', 'ls /etc/apache2/sites-enabled')).stdout, 'registry_ssl.conf\n');
  const client = await s.client();
  for (const host of [NAME, 'other.lab.test']) {
    const r = await client.run('curl', ['-sS', '-D', '-', '-H', `Host: ${host}`, `http://${NAME}/v2/_catalog`]);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /^HTTP\/1\.1 301 /, `Host ${host}: moved permanently`);
    t.match(r.stdout, new RegExp(`^Location: https://${NAME.replace(/\./g, '\\.')}/v2/_catalog\\r?$`, 'im'), `Host ${host}: to https and the public name`);
    t.notMatch(r.stdout, /Apache2 Debian Default Page/);
  }
});

t.test('the registry moved back to 443: a restarted registry, the proxy following, then nothing to do', async (t) => {
  // Check mode writes nothing, yet predicts the reload and restart that follow from what it would write.
  const predicted = await s.site('--check');
  t.equal(predicted.code, 0, predicted.stderr);
  t.equal(await vhost().then((v) => /:5443\/$/m.test(v)), true, 'check mode left the vhost as it was');
  const moved = await s.site();
  t.strictSame(predicted.changed, moved.changed, 'the run changed what check mode predicted, handlers included');
  converged(t, moved, 'the run with the default port');
  t.match(await vhost(), new RegExp(`^\\s*ProxyPass / https://${registryAddress.replace(/\./g, '\\.')}/$`, 'm'));
  t.ok(moved.changed.includes('registry-1: restart docker-registry'), 'the registry restarted');
  t.ok(moved.changed.includes('bastion: reload apache'), 'Apache reloaded');
  const client = await s.client();
  t.equal(await client.status(pusher), '200');
  const { push, digest, expected } = await client.push(pusher, 'port/demo', '443');
  t.equal(push.code, 0, push.stderr);
  t.equal(digest, expected, 'the pushed manifest reads back');
  t.match((await s.exec('registry-1', 'ss -Hltn')).stdout, /:443\s/);
  unchanged(t, await s.site());
});
