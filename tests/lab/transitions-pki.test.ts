// The deployment's PKI as an input of the site: a server certificate renewed near expiry ends,
// after one site run, in a registry and a proxy serving the new certificate to clients that
// trust only the CA in the certs directory; a rerun then changes nothing.
import t, { type Test } from 'tap';
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
