// The deployment's PKI as an input of the site: a server certificate renewed near expiry and a
// new CA (its key gone from the vault, the path a CA renewal takes) each end, after one site run,
// in a registry and a proxy serving the new certificate to clients that trust only the CA now in
// the certs directory; a rerun then changes nothing. The public name: transitions-name.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { converged, LAB_PUBLIC_NAME as NAME, servesCurrent, siteLab, unchanged } from '../fixtures/roles/site-lab.ts';

const s = await siteLab(t, { name: 'trpki', subnet: '10.150', registries: 1 });
const pusher = { user: 'pusher', password: 'pusher-Pki-Passw0rd' };
await s.setSecrets({ [`registry_users.${pusher.user}`]: pusher.password });

t.test('the first run deploys the PKI; a rerun changes nothing', async (t) => {
  converged(t, await s.site(), 'the first run');
  await servesCurrent(t, s, pusher, NAME, 'first');
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
  await servesCurrent(t, s, pusher, NAME, 'renewed');
  unchanged(t, await s.site());
});

t.test('a new CA: every certificate replaced, clients of the old CA refused, the new one served', async (t) => {
  const old = await s.client();
  const oldCa = await s.certFingerprint('ca');
  await s.deleteSecret('pki_ca_key');
  // A CA other than the hosts' is replaced only when asked (issue 9: --rotate-ca). Refused
  // runs make no CA: two of them read alike and leave the vault and the certs directory as they were.
  const files = async () => Promise.all([s.vaultFile, join(s.certsDir, 'ca.crt'), join(s.certsDir, 'server.crt')].map((f) => readFile(f, 'utf8')));
  const before = await files();
  const refused = [await s.site(), await s.site()];
  for (const r of refused) {
    t.equal(r.code, 1, 'refused without --rotate-ca');
    t.match(r.stderr.trim(), /^site: \S+ holds CA sha256:[0-9a-f]{64} but this run would make a new CA \(private key missing from the vault; .*\): nothing changed; .*--rotate-ca/);
  }
  t.equal(refused[0]!.stderr, refused[1]!.stderr, 'both refusals say the same');
  t.same(await files(), before, 'vault and certificates untouched');
  const rotated = await s.site('--rotate-ca');
  converged(t, rotated, 'the run');
  t.match(rotated.stderr, /pki: CA rotated \(a new one, as --rotate-ca asked\)/);
  t.match(rotated.stderr, /pki: server certificate renewed \(not signed by the current CA\)/);
  t.not(await s.certFingerprint('ca'), oldCa, 'a new CA');
  await servesCurrent(t, s, pusher, NAME, 'new-ca');
  t.match(await old.status(pusher), /^curl exit 60: /, 'a client trusting only the old CA refuses the proxy');
  unchanged(t, await s.site());
});
