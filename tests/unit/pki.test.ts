import { X509Certificate } from 'node:crypto';
import t from 'tap';
import { UserError } from '../../lib/errors.ts';
import type { Host } from '../../lib/inventory/types.ts';
import {
  createCa,
  dockerCaPath,
  ensureCa,
  ensureServerCert,
  issueServerCert,
  sanChanges,
  wantedSans,
  type KeyPair,
  type San,
} from '../../lib/pki/index.ts';
import { keyIdAfter, openssl } from '../fixtures/pki/openssl.ts';

const DAY = 86_400_000;
const dns = (value: string): San => ({ type: 'DNS', value });
const ip = (value: string): San => ({ type: 'IP', value });
const SANS = [dns('registry.example.com'), ip('172.20.2.20'), dns('registry-1')];
const host = (name: string, vars: Record<string, unknown> = {}): Host => ({ name, vars, groups: ['all', 'registry'] });

let ca: KeyPair;
t.before(async () => {
  ca = await createCa({ commonName: 'registry.example.com CA' });
});

t.test('the CA: critical CA:TRUE, keyCertSign+cRLSign, SKI, RSA 4096, SHA-256, five years', async (t) => {
  const text = await openssl({ 'ca.crt': ca.certPem }, (p) => ['x509', '-in', p['ca.crt']!, '-text', '-noout']);
  t.match(text, /X509v3 Basic Constraints: critical\n\s*CA:TRUE/);
  t.match(text, /X509v3 Key Usage: critical\n\s*Certificate Sign, CRL Sign\n/);
  t.ok(keyIdAfter(text, 'X509v3 Subject Key Identifier'), 'has a subject key identifier');
  t.match(text, /Public-Key: \(4096 bit\)/);
  t.match(text, /Signature Algorithm: sha256WithRSAEncryption/);
  t.match(text, /Subject: O = harbormaster, CN = registry.example.com CA/);
  const x = new X509Certificate(ca.certPem);
  const days = (Date.parse(x.validTo) - Date.parse(x.validFrom)) / DAY;
  t.ok(days > 5 * 365 && days <= 5 * 365 + 1, `valid five years (${days} days)`);
  t.equal(x.issuer, x.subject, 'self-signed');
  t.ok(x.verify(x.publicKey), 'self-signature verifies');
  t.equal(ca.keyPem.toString(), '********', 'the key is a Secret');
  t.notMatch(ca.certPem + ca.keyPem.reveal(), /\r/, 'PEM with LF line ends');
});

t.test('the server certificate: chain, SANs, usages, AKI = CA SKI, CN, serial, validity', async (t) => {
  const leaf = await issueServerCert({ ca, sans: [...SANS, ip('fd00::1')] });
  const files = { 'ca.crt': ca.certPem, 'server.crt': leaf.certPem };
  const verified = await openssl(files, (p) => ['verify', '-purpose', 'sslserver', '-CAfile', p['ca.crt']!, p['server.crt']!]);
  t.match(verified, /server.crt: OK/);
  const text = await openssl(files, (p) => ['x509', '-in', p['server.crt']!, '-text', '-noout']);
  t.match(text, /X509v3 Basic Constraints: critical\n\s*CA:FALSE/);
  t.match(text, /X509v3 Key Usage: critical\n\s*Digital Signature, Key Encipherment\n/);
  t.match(text, /X509v3 Extended Key Usage: \n\s*TLS Web Server Authentication\n/);
  t.match(
    text,
    /X509v3 Subject Alternative Name: \n\s*DNS:registry.example.com, IP Address:172.20.2.20, DNS:registry-1, IP Address:FD00:0:0:0:0:0:0:1\n/,
  );
  t.match(text, /Subject: CN = registry.example.com\n/);
  t.match(text, /Public-Key: \(3072 bit\)/);
  t.match(text, /Signature Algorithm: sha256WithRSAEncryption/);
  const caText = await openssl(files, (p) => ['x509', '-in', p['ca.crt']!, '-text', '-noout']);
  const caSki = keyIdAfter(caText, 'X509v3 Subject Key Identifier');
  t.ok(caSki);
  t.equal(keyIdAfter(text, 'X509v3 Authority Key Identifier'), caSki, 'AKI is the CA SKI');
  t.not(keyIdAfter(text, 'X509v3 Subject Key Identifier'), caSki, 'own SKI differs');

  const x = new X509Certificate(leaf.certPem);
  t.match(x.serialNumber, /^[4-7][0-9A-F]{31}$/, '16-byte positive serial');
  const other = new X509Certificate((await issueServerCert({ ca, sans: SANS })).certPem);
  t.not(other.serialNumber, x.serialNumber, 'serials are random');
  const days = (Date.parse(x.validTo) - Date.parse(x.validFrom)) / DAY;
  t.ok(days <= 397 && days > 396, `at most 397 days (${days})`);
});

t.test('a server certificate never outlives its CA', async (t) => {
  const shortCa = await createCa({ commonName: 'short CA', days: 100 });
  const leaf = await issueServerCert({ ca: shortCa, sans: SANS });
  t.equal(new X509Certificate(leaf.certPem).validTo, new X509Certificate(shortCa.certPem).validTo);
});

t.test('wantedSans: public name first, private IPs and host names, deduplicated', async (t) => {
  const hosts = [
    host('registry-1', { private_ip: '172.20.2.20', ansible_host: '10.0.0.9' }),
    host('registry-2', { ansible_host: '172.20.2.21' }),
    host('registry_3', { ansible_host: 'r3.internal' }),
    host('172.20.2.23'),
    host('REGISTRY-1', { private_ip: 'FD00:0::1' }),
  ];
  t.same(wantedSans(hosts, 'Registry.Example.com'), [
    dns('registry.example.com'),
    ip('172.20.2.20'),
    dns('registry-1'),
    ip('172.20.2.21'),
    dns('registry-2'),
    ip('172.20.2.23'),
    ip('fd00::1'),
  ]);
  t.throws(() => wantedSans([host('r', { private_ip: 'not-an-ip' })], 'registry.example.com'), {
    constructor: UserError,
    message: 'host r: private_ip "not-an-ip" is not an IP address',
  });
  t.throws(() => wantedSans([], 'bad name!'), { constructor: UserError, message: /registry public name "bad name!" is not a valid DNS name/ });
});

t.test('sanChanges compares sets, ignoring order', async (t) => {
  t.equal(sanChanges(SANS, [...SANS].reverse()), '');
  t.equal(sanChanges(SANS, [dns('registry.example.com'), dns('registry-1'), dns('x.example.com')]), '+DNS:x.example.com -IP:172.20.2.20');
});

t.test('ensureServerCert: issue, keep, reissue on SAN change, near expiry and a new CA', async (t) => {
  const first = await ensureServerCert({ ca, sans: SANS });
  t.same([first.changed, first.reason], [true, 'missing']);
  const serial = (p: KeyPair) => new X509Certificate(p.certPem).serialNumber;

  const kept = await ensureServerCert({ ca, sans: [...SANS].reverse(), current: first });
  t.equal(kept.changed, false);
  t.match(kept.reason, /^valid, expires in 39\d days$/);
  t.equal(serial(kept), serial(first), 'same serial');
  t.equal(kept.keyPem, first.keyPem, 'same key');

  const moved = await ensureServerCert({ ca, sans: [dns('registry.example.com'), ip('172.20.2.30'), dns('registry-1')], current: first });
  t.same([moved.changed, moved.reason], [true, 'SANs changed: +IP:172.20.2.30 -IP:172.20.2.20']);
  t.not(serial(moved), serial(first));
  t.not(moved.keyPem.reveal(), first.keyPem.reveal(), 'a new key with the new certificate');
  t.match(new X509Certificate(moved.certPem).subjectAltName, /IP Address:172.20.2.30/);

  // Issued 380 days ago: under 17 days left, inside the default 30-day window; the run reissues.
  const old = await issueServerCert({ ca, sans: SANS, now: new Date(Date.now() - 380 * DAY) });
  const renewed = await ensureServerCert({ ca, sans: SANS, current: old });
  t.same([renewed.changed, renewed.reason], [true, 'expires in 16 days']);
  const keptShorter = await ensureServerCert({ ca, sans: SANS, current: old, renewBefore: 10 });
  t.same([keptShorter.changed, keptShorter.reason], [false, 'valid, expires in 16 days']);
  const expired = await ensureServerCert({ ca, sans: SANS, current: old, now: new Date(Date.now() + 20 * DAY) });
  t.match(expired.reason, /^expired \d+ days ago$/);

  const newCa = await createCa({ commonName: 'registry.example.com CA' });
  const rotated = await ensureServerCert({ ca: newCa, sans: SANS, current: first });
  t.same([rotated.changed, rotated.reason], [true, 'not signed by the current CA']);
  t.ok(new X509Certificate(rotated.certPem).verify(new X509Certificate(newCa.certPem).publicKey));

  const everything = await ensureServerCert({ ca: newCa, sans: [dns('registry.example.com')], current: old });
  t.equal(everything.reason, 'not signed by the current CA; SANs changed: -IP:172.20.2.20 -DNS:registry-1; expires in 16 days');

  const noKey = await ensureServerCert({ ca, sans: SANS, current: { certPem: first.certPem } });
  t.same([noKey.changed, noKey.reason], [true, 'private key missing from the vault']);
  const wrongKey = await ensureServerCert({ ca, sans: SANS, current: { certPem: first.certPem, keyPem: moved.keyPem } });
  t.same([wrongKey.changed, wrongKey.reason], [true, 'private key does not match the certificate']);
  const garbage = await ensureServerCert({ ca, sans: SANS, current: { certPem: 'junk', keyPem: first.keyPem } });
  t.same([garbage.changed, garbage.reason], [true, 'certificate unreadable']);
});

t.test('ensureCa: keeps a valid CA, renews one about to expire or that is not a CA', async (t) => {
  const kept = await ensureCa({ commonName: 'x CA', current: ca });
  t.same([kept.changed, kept.certPem], [false, ca.certPem]);
  const ageing = await createCa({ commonName: 'x CA', days: 400, now: new Date(Date.now() - 390 * DAY) });
  const renewed = await ensureCa({ commonName: 'x CA', current: ageing });
  t.same([renewed.changed, renewed.reason], [true, 'expires in 9 days']);
  t.ok(new X509Certificate(renewed.certPem).ca);
  const leaf = await issueServerCert({ ca, sans: SANS });
  const notCa = await ensureCa({ commonName: 'x CA', current: leaf });
  t.same([notCa.changed, notCa.reason], [true, 'not a CA certificate']);
});

t.test('validity limits are user errors', async (t) => {
  await t.rejects(ensureServerCert({ ca, sans: SANS, days: 398 }), {
    constructor: UserError,
    message: 'server certificate validity must be a whole number of days from 1 to 397, got 398',
  });
  await t.rejects(ensureServerCert({ ca, sans: SANS, days: 30 }), {
    constructor: UserError,
    message: 'renew-before must be 0..29 days (less than the 30-day validity), got 30',
  });
  await t.rejects(ensureCa({ commonName: 'x', days: 0 }), { constructor: UserError, message: /^CA validity must be/ });
});

t.test('dockerCaPath takes a host name or host:port and nothing that escapes the base', async (t) => {
  t.equal(dockerCaPath('registry.example.com'), '/etc/docker/certs.d/registry.example.com/ca.crt');
  t.equal(dockerCaPath('registry.example.com:5000', '/tmp/d'), '/tmp/d/registry.example.com:5000/ca.crt');
  for (const bad of ['../etc', 'a/b', 'reg..istry', '', 'x y']) {
    t.throws(() => dockerCaPath(bad), { constructor: UserError, message: /is not a host name/ }, JSON.stringify(bad));
  }
});
