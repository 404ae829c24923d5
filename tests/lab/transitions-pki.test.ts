// The deployment's PKI as an input of the site: a server certificate renewed near expiry, a new
// CA (its key gone from the vault, the path a CA renewal takes) and a new public name each end,
// after one site run, in a registry and a proxy serving the new certificate to clients that
// trust only the CA now in the certs directory; a rerun then changes nothing.
import t, { type Test } from 'tap';
import { parse } from 'yaml';
import { converged, LAB_PUBLIC_NAME as NAME, siteLab, unchanged } from '../fixtures/roles/site-lab.ts';

const s = await siteLab(t, { name: 'trpki', subnet: '10.150', registries: 1 });
const pusher = { user: 'pusher', password: 'pusher-Pki-Passw0rd' };
await s.setSecrets({ [`registry_users.${pusher.user}`]: pusher.password });

/** The proxy and the registry serve certs/server.crt; a client trusting certs/ca.crt only can push. */
async function servesCurrent(t: Test, name: string, tag: string) {
  const cert = await s.certFingerprint('server');
  t.equal(await s.registryServes(), cert, 'the registry serves certs/server.crt');
  const client = await s.client(name);
  t.equal(await client.serves(), cert, 'the proxy serves certs/server.crt');
  t.equal(await client.status(pusher), '200', `${name} answers through the proxy`);
  const { push, digest, expected } = await client.push(pusher, 'pki/demo', tag);
  t.equal(push.code, 0, push.stderr);
  t.equal(digest, expected, 'the pushed manifest reads back');
  return client;
}

t.test('the first run deploys the PKI; a rerun changes nothing', async (t) => {
  converged(t, await s.site(), 'the first run');
  await servesCurrent(t, NAME, 'first');
  unchanged(t, await s.site());
});

t.test('a server certificate that expires within the renewal window is renewed and served', async (t) => {
  const before = await s.certFingerprint('server');
  const ca = await s.certFingerprint('ca');
  // Issued again (its key gone) for 20 days: within the 30 days before expiry in which the site renews.
  await s.deleteSecret('pki_server_key');
  const short = await s.certs('issue', '--days', '20', '--renew-before', '5');
  t.equal(short.code, 0, short.stderr);
  const renewed = await s.site();
  converged(t, renewed, 'the run');
  t.match(renewed.stderr, /pki: server certificate renewed \(expires in (19|20) days\)/);
  t.not(await s.certFingerprint('server'), before, 'a new certificate');
  t.equal(await s.certFingerprint('ca'), ca, 'the same CA');
  t.ok(renewed.changed.includes('registry-1: restart docker-registry'), 'the registry restarted');
  t.ok(renewed.changed.includes('bastion: reload apache'), 'Apache reloaded');
  await servesCurrent(t, NAME, 'renewed');
  unchanged(t, await s.site());
});

t.test('a new CA: every certificate replaced, clients of the old CA refused, the new one served', async (t) => {
  const old = await s.client();
  const oldCa = await s.certFingerprint('ca');
  await s.deleteSecret('pki_ca_key');
  const rotated = await s.site();
  converged(t, rotated, 'the run');
  t.match(rotated.stderr, /pki: CA renewed \(private key missing from the vault\)/);
  t.match(rotated.stderr, /pki: server certificate renewed \(not signed by the current CA\)/);
  t.not(await s.certFingerprint('ca'), oldCa, 'a new CA');
  await servesCurrent(t, NAME, 'new-ca');
  t.match(await old.status(pusher), /^curl exit 60: /, 'a client trusting only the old CA refuses the proxy');
  unchanged(t, await s.site());
});

t.test('a new public name: a certificate for it, the registry and the proxy serving it', async (t) => {
  const renamed = 'hub.lab.test';
  await s.setInventoryVar('registry_public_name', renamed);
  const run = await s.site();
  converged(t, run, 'the run');
  t.match(run.stderr, /pki: server certificate renewed \(SANs changed: .*\+DNS:hub\.lab\.test/);
  const client = await servesCurrent(t, renamed, 'renamed');
  const config = parse((await s.exec('registry-1', 'cat /etc/docker/registry/config.yml')).stdout);
  t.equal(config.http.host, 'https://hub.lab.test', 'the registry names itself by the new name');
  t.match((await s.exec('bastion', 'cat /etc/apache2/sites-available/registry_ssl.conf')).stdout, /^\s*ServerName hub\.lab\.test$/m);
  t.match(await (await s.client(NAME)).status(pusher), /^curl exit 60: /, 'the old name is not in the certificate');
  t.equal(await client.status(), '401', 'the new name asks for credentials');
  unchanged(t, await s.site());
});
