// ensurePki/loadPki against the real vault file and certs directory.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { UserError } from '../../lib/errors.ts';
import { ensurePki, loadPki, type San } from '../../lib/pki/index.ts';
import { Secret } from '../../lib/secret.ts';
import { VaultFile } from '../../lib/vault/index.ts';

const SANS: San[] = [
  { type: 'DNS', value: 'registry.example.com' },
  { type: 'IP', value: '172.20.2.20' },
];
const password = new Secret('pki store test password');

/** Every file under dir, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

async function deployment(dir: string) {
  const vaultFile = join(dir, 'vault', 'secrets.yaml');
  const certsDir = join(dir, 'certs');
  const open = () => VaultFile.open(vaultFile, password, { create: true });
  const ensure = async (sans = SANS) => ensurePki({ vault: await open(), certsDir, publicName: 'registry.example.com', sans });
  return { dir, vaultFile, certsDir, open, ensure };
}

t.test('first run writes keys to the vault and certificates to certs/, nothing private in the clear', async (t) => {
  const d = await deployment(t.testdir());
  const first = await d.ensure();
  t.same([first.ca.changed, first.ca.reason, first.server?.changed, first.server?.reason], [true, 'missing', true, 'missing']);
  t.equal((await stat(d.certsDir)).mode & 0o777, 0o755);
  t.equal((await stat(join(d.certsDir, 'ca.crt'))).mode & 0o777, 0o644);
  t.equal((await stat(join(d.certsDir, 'server.crt'))).mode & 0o777, 0o644);
  t.equal((await stat(d.vaultFile)).mode & 0o777, 0o600);
  t.match(await readFile(d.vaultFile, 'utf8'), /^\$ANSIBLE_VAULT;1\.1;AES256\n/);
  const files = await filesUnder(d.dir);
  t.same(files.map((f) => f.slice(d.dir.length)).sort(), ['/certs/ca.crt', '/certs/server.crt', '/vault/.secrets.yaml.lock', '/vault/secrets.yaml'], 'and the vault lock, left empty');
  for (const f of files) t.notMatch(await readFile(f, 'utf8'), /PRIVATE KEY/, `${f} holds no plain private key`);

  const vault = await d.open();
  t.equal(vault.get('pki_ca_key')?.reveal(), first.ca.keyPem.reveal());
  t.equal(vault.get('pki_server_key')?.reveal(), first.server?.keyPem.reveal());
  t.equal(await readFile(join(d.certsDir, 'server.crt'), 'utf8'), first.server?.certPem);
});

t.test('a second run keeps everything and rewrites no file', async (t) => {
  const d = await deployment(t.testdir());
  await d.ensure();
  const before = await Promise.all([d.vaultFile, join(d.certsDir, 'ca.crt'), join(d.certsDir, 'server.crt')].map((f) => stat(f)));
  const again = await d.ensure([...SANS].reverse());
  t.same([again.ca.changed, again.server?.changed], [false, false]);
  const after = await Promise.all([d.vaultFile, join(d.certsDir, 'ca.crt'), join(d.certsDir, 'server.crt')].map((f) => stat(f)));
  t.same(
    after.map((s) => [s.ino, s.mtimeMs]),
    before.map((s) => [s.ino, s.mtimeMs]),
    'same inodes and mtimes',
  );
});

t.test('a lost certificate file or a replaced key is noticed and repaired', async (t) => {
  const d = await deployment(t.testdir());
  const first = await d.ensure();
  await rm(join(d.certsDir, 'server.crt'));
  const lost = await d.ensure();
  t.same([lost.ca.changed, lost.server?.changed, lost.server?.reason], [false, true, 'missing']);

  const vault = await d.open();
  vault.set('pki_server_key', first.server!.keyPem.reveal()); // as if a run died after saving the vault
  await vault.save();
  const mismatched = await d.ensure();
  t.same([mismatched.server?.changed, mismatched.server?.reason], [true, 'private key does not match the certificate']);
  const loaded = await loadPki({ vault: await d.open(), certsDir: d.certsDir });
  t.ok(new X509Certificate(loaded.certPem).checkPrivateKey(createPrivateKey(loaded.keyPem.reveal())), 'loaded key matches');
});

t.test('loadPki returns what roles deploy, and says what to run when something is missing', async (t) => {
  const d = await deployment(t.testdir());
  await t.rejects(loadPki({ vault: await d.open(), certsDir: d.certsDir }), {
    constructor: UserError,
    message: `${join(d.certsDir, 'ca.crt')} is missing: run \`npx zx scripts/certs.mts issue\``,
  });
  const made = await d.ensure();
  const loaded = await loadPki({ vault: await d.open(), certsDir: d.certsDir });
  t.same([loaded.caPem, loaded.certPem, loaded.keyPem.reveal()], [made.ca.certPem, made.server?.certPem, made.server?.keyPem.reveal()]);
  t.equal(String(loaded.keyPem), '********');

  // A CA replaced behind the server certificate's back: loadPki refuses the broken chain.
  const other = await ensurePki({ vault: await d.open(), certsDir: join(d.dir, 'other'), publicName: 'registry.example.com' });
  await writeFile(join(d.certsDir, 'ca.crt'), other.ca.certPem);
  await t.rejects(loadPki({ vault: await d.open(), certsDir: d.certsDir }), {
    constructor: UserError,
    message: /server\.crt is not signed by .*ca\.crt: run/,
  });
});
