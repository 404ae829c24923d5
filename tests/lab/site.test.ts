// scripts/site.mts end to end on a lab: the roles' prepare makes the CA and certificate into a
// new vault (saying so), the site converges, a rerun changes nothing, and a single role with
// --limit reuses what the first run made.
import { stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import t from 'tap';
import { runScript as hm } from '../helpers/cli.ts';
import { withLab } from '../helpers/lab.ts';

const lab = await withLab(t, { name: 'slab', subnet: '10.208', registries: 1 });
const dir = dirname(lab.inventoryFile);
const passwordFile = join(dir, 'vault-password');
await writeFile(passwordFile, 'site-test-password\n', { mode: 0o600 });
const deployment = ['-i', lab.inventoryFile, '--vault', join(dir, 'vault.yaml'), '--vault-password-file', passwordFile, '--certs-dir', join(dir, 'certs')];

interface Recap {
  hosts: Record<string, { ok: number; changed: number; failed: number; unreachable: number }>;
}

const recapOf = (stdout: string): Recap =>
  stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string } & Recap).find((e) => e.type === 'recap')!;

t.test('first run makes the PKI and the vault, then converges every host', async (t) => {
  const { code, stdout, stderr } = await hm('site', ...deployment, '--json');
  t.equal(code, 0, code ? stderr : 'exits 0');
  t.match(stderr, /pki: CA created \(missing\)/);
  t.match(stderr, /pki: server certificate created \(missing\)/);
  const recap = recapOf(stdout);
  t.same(Object.keys(recap.hosts).sort(), ['bastion', 'registry-1']);
  for (const [host, r] of Object.entries(recap.hosts)) {
    t.ok(r.changed > 0, `${host} changed`);
    t.equal(r.failed + r.unreachable, 0, `${host} did not fail`);
  }
  t.equal((await stat(join(dir, 'vault.yaml'))).mode & 0o777, 0o600, 'the vault is 0600');
});

t.test('a rerun changes nothing and makes no certificate', async (t) => {
  const { code, stdout, stderr } = await hm('site', ...deployment, '--json');
  t.equal(code, 0, code ? stderr : 'exits 0');
  t.notMatch(stderr, /pki:/);
  for (const [host, r] of Object.entries(recapOf(stdout).hosts)) t.equal(r.changed, 0, `${host} unchanged`);
});

t.test('one role, limited to one host, reuses the deployment', async (t) => {
  const { code, stdout, stderr } = await hm('role', ...deployment, 'proxy', '--limit', 'bastion', '--json');
  t.equal(code, 0, code ? stderr : 'exits 0');
  const recap = recapOf(stdout);
  t.same(Object.keys(recap.hosts), ['bastion']);
  t.equal(recap.hosts.bastion!.changed, 0);
});

t.test('another, missing vault on deployed hosts is refused in one line, checking or not', async (t) => {
  for (const check of [['--check'], []]) {
    const { code, stderr } = await hm('site', ...deployment.slice(0, 2), '--vault', join(dir, 'none.yaml'), ...check);
    t.not(code, 0);
    t.match(stderr.trim(), /^site: vault .*none\.yaml does not exist but \S+ holds CA sha256:[0-9a-f]{64}: this inventory was deployed with another vault; name it in the inventory \(harbormaster_vault\) or pass --vault \(nothing changed\)$/);
  }
});

t.test('harbor.mts stop reaches the registry hosts through the bastion and says Harbor is not there', async (t) => {
  const { code, stdout } = await hm('harbor', 'stop', '-i', lab.inventoryFile);
  t.equal(code, 2, 'a failed host');
  t.match(stdout, /ROLE harbor-stop \[registry-1\]/);
  t.match(stdout, /\| Harbor is not installed on this host \(converge it with registry_engine: harbor first\)/);
  t.match(stdout, /^registry-1 +0 +0 +0 +1 +0 /m, 'the recap counts it failed, not unreachable');
});
