// A real TLS server on loopback serving the issued certificate, checked by Node clients and openssl s_client.
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import t from 'tap';
import { createCa, issueServerCert, type KeyPair } from '../../lib/pki/index.ts';
import { runOpenssl } from '../fixtures/pki/openssl.ts';

const NAME = 'registry.example.com';
let ca: KeyPair;
let otherCa: KeyPair;
let port: number;

t.before(async () => {
  [ca, otherCa] = await Promise.all([createCa({ commonName: `${NAME} CA` }), createCa({ commonName: 'someone else CA' })]);
  const leaf = await issueServerCert({
    ca,
    sans: [
      { type: 'DNS', value: NAME },
      { type: 'IP', value: '127.0.0.1' },
    ],
  });
  const server = tls.createServer({ cert: leaf.certPem, key: leaf.keyPem.reveal() }, (socket) => socket.end('hello\n'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
});

/** Connects, reads the greeting, and resolves with it, or with the verification error code. */
function connect(opts: tls.ConnectionOptions): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ...opts });
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => (data += chunk));
    socket.on('end', () => resolve(`ok ${data.trim()}`));
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

t.test('a client trusting only our CA accepts the server under its public name and its IP', async (t) => {
  t.equal(await connect({ ca: [ca.certPem], servername: NAME }), 'ok hello');
  t.equal(await connect({ ca: [ca.certPem] }), 'ok hello', 'no SNI: checked against the IP SAN');
});

t.test('clients without our CA, or asking for another name, reject it', async (t) => {
  t.equal(await connect({ servername: NAME }), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'system trust store only');
  t.equal(await connect({ ca: [otherCa.certPem], servername: NAME }), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'another CA');
  t.equal(await connect({ ca: [ca.certPem], servername: 'other.example.com' }), 'ERR_TLS_CERT_ALTNAME_INVALID');
});

t.test('openssl s_client verifies the chain and the name with only the CA', async (t) => {
  const sClient = (caPem: string, name: string) =>
    runOpenssl({ 'ca.crt': caPem }, (p) => [
      's_client',
      '-connect',
      `127.0.0.1:${port}`,
      '-servername',
      name,
      '-verify_hostname',
      name,
      '-verify_return_error',
      '-CAfile',
      p['ca.crt']!,
    ]);
  const good = await sClient(ca.certPem, NAME);
  t.equal(good.code, 0, good.stderr);
  t.match(good.stdout, /Verify return code: 0 \(ok\)/);
  const wrongCa = await sClient(otherCa.certPem, NAME);
  t.not(wrongCa.code, 0);
  t.match(wrongCa.stdout + wrongCa.stderr, /unable to get local issuer certificate|verify error/);
  const wrongName = await sClient(ca.certPem, 'other.example.com');
  t.not(wrongName.code, 0);
  t.match(wrongName.stdout + wrongName.stderr, /hostname mismatch/);
});
