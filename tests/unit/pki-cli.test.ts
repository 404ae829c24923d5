// scripts/certs.mts as users run it (npx zx), with a temporary deployment: vault, certs, inventory.
import { execFile } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { copyFile, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { openssl } from '../fixtures/pki/openssl.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const FIXTURE_INVENTORY = join(ROOT, 'tests/fixtures/pki/inventory.yaml');
const PASSWORD = 'cli test vault password';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Result> {
  const clean = { ...process.env, HARBORMASTER_VAULT_PASSWORD_FILE: '', ...env };
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { cwd: ROOT, env: clean, encoding: 'utf8' }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
    child.stdin?.end();
  });
}

const dir = t.testdir();
const inventory = join(dir, 'inventory.yaml');
const vault = join(dir, 'vault', 'secrets.yaml');
const certs = join(dir, 'certs');
const passwordFile = join(dir, 'vault-password');
const dockerCerts = join(dir, 'docker-certs.d');
const caFile = join(certs, 'ca.crt');
const serverFile = join(certs, 'server.crt');

const withPassword = (file: string, ...args: string[]) =>
  run('npx', ['zx', 'scripts/certs.mts', ...args, '-i', inventory, '--vault', vault, '--vault-password-file', file, '--certs-dir', certs]);
const certsMts = (...args: string[]) => withPassword(passwordFile, ...args);
const mode = async (path: string) => (await stat(path)).mode & 0o777;
const serial = async (path: string) => new X509Certificate(await readFile(path, 'utf8')).serialNumber;

/** Every regular file under the deployment, and whether it holds a private key in the clear. */
async function plainKeys(): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  const found: string[] = [];
  for (const e of entries.filter((e) => e.isFile())) {
    const path = join(e.parentPath, e.name);
    if ((await readFile(path, 'utf8')).includes('PRIVATE KEY')) found.push(path);
  }
  return found;
}

t.before(async () => {
  await copyFile(FIXTURE_INVENTORY, inventory);
  await writeFile(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
});

t.test('issue creates the CA and the registry certificate from the inventory', async (t) => {
  const r = await certsMts('issue');
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, `ca: created ${caFile} (missing)\nserver: created ${serverFile} (missing)\n`);
  t.equal(r.stderr, '');
  t.same([await mode(certs), await mode(caFile), await mode(serverFile), await mode(vault)], [0o755, 0o644, 0o644, 0o600]);
  t.same(await plainKeys(), [], 'no private key in the clear under the deployment');

  const caPem = await readFile(caFile, 'utf8');
  const serverPem = await readFile(serverFile, 'utf8');
  const verified = await openssl({ 'ca.crt': caPem, 'server.crt': serverPem }, (p) => ['verify', '-purpose', 'sslserver', '-CAfile', p['ca.crt']!, p['server.crt']!]);
  t.match(verified, /server\.crt: OK/);
  t.equal(new X509Certificate(serverPem).subjectAltName, 'DNS:registry.example.com, IP Address:172.20.2.20, DNS:registry-1');

  // The keys are in the vault, readable by Ansible's own tool, and belong to the certificates.
  const view = await run('ansible-vault', ['view', '--vault-password-file', passwordFile, vault]);
  t.equal(view.code, 0, view.stderr);
  const secrets = parse(view.stdout) as Record<string, string>;
  t.same(Object.keys(secrets).sort(), ['pki_ca_key', 'pki_server_key']);
  t.ok(new X509Certificate(caPem).checkPrivateKey(createPrivateKey(secrets.pki_ca_key!)), 'vault CA key matches ca.crt');
  t.ok(new X509Certificate(serverPem).checkPrivateKey(createPrivateKey(secrets.pki_server_key!)), 'vault server key matches server.crt');
});

t.test('a second issue keeps both and rewrites nothing', async (t) => {
  const before = await Promise.all([vault, caFile, serverFile].map((f) => stat(f)));
  const serialBefore = await serial(serverFile);
  const r = await certsMts('issue');
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, new RegExp(`^ca: kept ${caFile} \\(valid, expires in 182\\d days\\)\\nserver: kept ${serverFile} \\(valid, expires in 39\\d days\\)\\n$`));
  t.equal(await serial(serverFile), serialBefore, 'same serial');
  const after = await Promise.all([vault, caFile, serverFile].map((f) => stat(f)));
  t.same(after.map((s) => s.mtimeMs), before.map((s) => s.mtimeMs), 'no file rewritten');
});

t.test('a new registry host in the inventory reissues the certificate and says why', async (t) => {
  const serialBefore = await serial(serverFile);
  const text = await readFile(inventory, 'utf8');
  await writeFile(inventory, `${text}        registry-2: { ansible_host: 10.90.1.21, private_ip: 172.20.2.21 }\n`);
  const r = await certsMts('issue');
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, new RegExp(`^ca: kept .*\\nserver: renewed ${serverFile} \\(SANs changed: \\+IP:172\\.20\\.2\\.21 \\+DNS:registry-2\\)\\n$`));
  t.not(await serial(serverFile), serialBefore);
  t.match(new X509Certificate(await readFile(serverFile, 'utf8')).subjectAltName, /IP Address:172\.20\.2\.21, DNS:registry-2$/);
});

t.test('show prints subject, SANs, validity, fingerprints and chain status', async (t) => {
  const r = await run('npx', ['zx', 'scripts/certs.mts', 'show', '--certs-dir', certs]);
  t.equal(r.code, 0, r.stderr);
  const fp = new X509Certificate(await readFile(serverFile, 'utf8')).fingerprint256;
  t.match(r.stdout, `${serverFile}\n  subject:    CN=registry.example.com\n  issuer:     O=harbormaster, CN=registry.example.com CA\n`);
  t.match(r.stdout, '  SANs:       DNS:registry.example.com, IP:172.20.2.20, DNS:registry-1, IP:172.20.2.21, DNS:registry-2\n');
  t.match(r.stdout, `  sha256:     ${fp}\n  chain:      ok (verified against ${caFile})\n`);
  t.match(r.stdout, /  not after:  \d{4}-\d\d-\d\dT[\d:.]+Z \(39\d days left\)\n/);
  t.match(r.stdout, '  chain:      ok (self-signed CA)\n');
});

t.test('renewing the CA reissues the server certificate; show notices a stale CA file', async (t) => {
  const oldCa = await readFile(caFile, 'utf8');
  const r = await certsMts('ca', '--days', '3000', '--renew-before', '2000');
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, new RegExp(`^ca: renewed ${caFile} \\(expires in 182\\d days\\)\\nnote: the CA changed: run \`npx zx scripts/certs.mts issue\``));
  t.match(r.stdout, 'note: the CA changed: clients must trust the new one');
  const issued = await certsMts('issue');
  t.match(issued.stdout, new RegExp(`^ca: kept ${caFile} \\(valid, expires in 299\\d days\\)\\nserver: renewed ${serverFile} \\(not signed by the current CA\\)\\n$`));
  const verified = await openssl({ 'ca.crt': await readFile(caFile, 'utf8'), 'server.crt': await readFile(serverFile, 'utf8') }, (p) => [
    'verify',
    '-CAfile',
    p['ca.crt']!,
    p['server.crt']!,
  ]);
  t.match(verified, /OK/);

  const current = await readFile(caFile, 'utf8');
  await writeFile(caFile, oldCa);
  const show = await run('npx', ['zx', 'scripts/certs.mts', 'show', '--certs-dir', certs]);
  t.equal(show.code, 1);
  t.match(show.stdout, `  chain:      FAILED: not signed by ${caFile}\n`);
  await writeFile(caFile, current);
});

t.test('trust --local installs the CA for docker once', async (t) => {
  const target = join(dockerCerts, 'registry.example.com', 'ca.crt');
  const first = await certsMts('trust', '--local', '--docker-certs-dir', dockerCerts);
  t.equal(first.code, 0, first.stderr);
  t.equal(first.stdout, `trust: installed ${caFile} as ${target}\n`);
  t.equal(await readFile(target, 'utf8'), await readFile(caFile, 'utf8'));
  t.same([await mode(join(dockerCerts, 'registry.example.com')), await mode(target)], [0o755, 0o644]);
  const mtime = (await stat(target)).mtimeMs;
  const again = await certsMts('trust', '--local', '--docker-certs-dir', dockerCerts);
  t.equal(again.stdout, `trust: already installed ${caFile} as ${target}\n`);
  t.equal((await stat(target)).mtimeMs, mtime, 'not rewritten');
});

t.test('mistakes are one clear line and change nothing', async (t) => {
  const before = await Promise.all([vault, caFile, serverFile].map((f) => readFile(f, 'utf8')));
  const wrongPassword = join(dir, 'wrong-password');
  await writeFile(wrongPassword, 'not the password\n', { mode: 0o600 });
  const wrong = await withPassword(wrongPassword, 'issue');
  t.equal(wrong.code, 1);
  t.match(wrong.stderr, /^certs: .*integrity check failed for .*secrets\.yaml \(wrong password or modified file\)\n$/);
  const cases: [string[], RegExp][] = [
    [['issue', '--renew-befor', '5'], /^certs: Unknown option '--renew-befor'.*; see --help\n$/],
    [['issue', '--days', '398'], /^certs: server certificate validity must be a whole number of days from 1 to 397, got 398\n$/],
    [['issue', '--name', 'other.example.com'], /^certs: .*inventory\.yaml sets registry_public_name registry\.example\.com but --name says other\.example\.com: drop one\n$/],
    [['frobnicate'], /^certs: unknown command frobnicate: use ca, issue, show or trust \(--help\)\n$/],
    [['trust'], /^certs: trust needs --local or --host H\n$/],
  ];
  for (const [args, message] of cases) {
    const r = await certsMts(...args);
    t.equal(r.code, 1, args.join(' '));
    t.match(r.stderr, message);
  }
  const noPassword = await run('npx', ['zx', 'scripts/certs.mts', 'issue', '-i', inventory, '--vault', vault, '--certs-dir', certs]);
  t.equal(noPassword.code, 1);
  t.match(noPassword.stderr, /^certs: no vault password: pass --vault-password-file FILE or set HARBORMASTER_VAULT_PASSWORD_FILE\n$/);
  t.same(await Promise.all([vault, caFile, serverFile].map((f) => readFile(f, 'utf8'))), before, 'nothing changed');
  t.same(await plainKeys(), [], 'still no private key in the clear');
});
