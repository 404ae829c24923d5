// The smoke test on a converged lab site: site.mts ends with it, and each layer it can fail at
// is provoked once: DNS, TCP, TLS (CA and name), authentication, a stored blob gone bad (digest),
// the registry down behind the proxy (backend).
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { labExec } from '../../lib/lab/index.ts';
import { createCa } from '../../lib/pki/index.ts';
import { Secret } from '../../lib/secret.ts';
import { smokeImage } from '../../lib/smoke/image.ts';
import { VaultFile } from '../../lib/vault/index.ts';
import { runProcess } from '../fixtures/roles/client.ts';
import { runScript as hm } from '../helpers/cli.ts';
import { withLab } from '../helpers/lab.ts';
import { deploymentOf, smokeSteps, VAULT_PASSWORD } from '../helpers/ops.ts';

const NAME = 'registry.lab.test';
const lab = await withLab(t, { name: 'opsmoke', subnet: '10.165', registries: 1 });
const bastion = lab.hosts.find((h) => h.group === 'bastion')!;
const { dir, vaultFile, args: deployment } = await deploymentOf(lab);
/** The one failed step's error line. */
const failure = (r: { stdout: string }) => smokeSteps(r.stdout).find((s) => s.status === 'failed')?.error as string | undefined;

t.test('site.mts converges the lab and ends with a passing smoke test', async (t) => {
  const r = await hm('site', ...deployment, '--json');
  t.equal(r.code, 0, r.code ? r.stderr + r.stdout.slice(-3000) : 'exits 0');
  const steps = smokeSteps(r.stdout);
  t.same(
    steps.map((s) => [s.step, s.status]),
    [
      [`resolve ${NAME}`, 'ok'],
      [`connect ${bastion.address}:443`, 'ok'],
      ['TLS certificate', 'ok'],
      ['log in as admin', 'ok'],
      ['push library/smoke:harbormaster-smoke', 'changed'],
      ['pull library/smoke:harbormaster-smoke and compare digests', 'ok'],
      ['delete library/smoke:harbormaster-smoke', 'changed'],
    ],
  );
  t.match(steps[2]!.summary, /^CN=registry\.lab\.test .*issued by CN=registry\.lab\.test CA/);
});

t.test('smoke.mts on its own: the engine reporter, a second time (the same image again)', async (t) => {
  const r = await hm('smoke', ...deployment);
  t.equal(r.code, 0, r.code ? r.stderr + r.stdout : 'exits 0');
  t.match(r.stdout, /ROLE smoke \[registry\.lab\.test\]/);
  t.match(r.stdout, /changed +registry\.lab\.test +push library\/smoke:harbormaster-smoke \(sha256:[0-9a-f]{64}, \d+ bytes of blobs\)/);
  t.match(r.stdout, /ok +registry\.lab\.test +pull library\/smoke:harbormaster-smoke and compare digests/);
  t.match(r.stdout, /^registry\.lab\.test +7 +2 +0 +0 +0 /m, 'recap: 7 ok, 2 changed');
});

t.test('DNS: the name resolves through /etc/hosts, and a name no resolver knows fails at DNS', async (t) => {
  // A mount namespace of its own: a private hosts file, and a resolver on loopback where none
  // listens, so nothing is asked of the machine's real resolver.
  await writeFile(join(dir, 'hosts'), `127.0.0.1\tlocalhost\n${bastion.address}\t${NAME}\n`);
  await writeFile(join(dir, 'resolv.conf'), 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n');
  const script = 'mount --bind "$0/hosts" /etc/hosts && mount --bind "$0/resolv.conf" /etc/resolv.conf && exec "$@"';
  const inNs = (...args: string[]) => runProcess('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, dir, 'npx', 'zx', 'scripts/smoke.mts', ...args]);
  const ok = await inNs(...deployment, '--url', `https://${NAME}`, '--json');
  t.equal(ok.code, 0, ok.code ? ok.stderr + ok.stdout : 'exits 0');
  t.equal(smokeSteps(ok.stdout)[0]!.summary, bastion.address, 'resolved by the system resolver to the bastion');
  const bad = await inNs(...deployment, '--url', 'https://nowhere.lab.test', '--json');
  t.equal(bad.code, 2);
  t.match(failure(bad), /^DNS: (nowhere\.lab\.test does not resolve|cannot resolve nowhere\.lab\.test)/);
});

t.test('TCP: nothing listens on the port', async (t) => {
  const r = await hm('smoke', ...deployment, '--url', `https://${NAME}:1`, '--resolve', '127.0.0.1', '--json');
  t.equal(r.code, 2, r.stderr);
  t.equal(failure(r), 'TCP: 127.0.0.1:1: connection refused: nothing listens there');
});

t.test('TLS: a CA that did not sign the certificate, and a name the certificate does not carry', async (t) => {
  const other = join(dir, 'other-ca.crt');
  await writeFile(other, (await createCa({ commonName: 'some other CA' })).certPem);
  const r = await hm('smoke', ...deployment, '--ca', other, '--json');
  t.equal(r.code, 2, r.stderr);
  t.match(failure(r), new RegExp(`^TLS: the certificate of ${NAME}:443 \\[CN=${NAME} \\(DNS:${NAME}.*issued by CN=${NAME} CA, valid until .*\\] is not signed by the CA in ${other}$`));
  const name = await hm('smoke', ...deployment, '--url', 'https://other.lab.test', '--resolve', bastion.address, '--json');
  t.equal(name.code, 2, name.stderr);
  t.match(failure(name), /^TLS: the certificate of other\.lab\.test:443 \[CN=registry\.lab\.test .*\] does not name other\.lab\.test$/);
});

t.test('authentication: a user the registry does not know', async (t) => {
  const vault = await VaultFile.open(vaultFile, new Secret(VAULT_PASSWORD));
  vault.set('registry_users.ghost', 'not-in-htpasswd-1');
  await vault.save();
  const r = await hm('smoke', ...deployment, '--user', 'ghost', '--json');
  t.equal(r.code, 2, r.stderr);
  t.equal(failure(r), `authentication: https://${NAME} refused ghost's credentials (vault key registry_users.ghost) for GET /v2/`);
  t.notMatch(r.stdout + r.stderr, /not-in-htpasswd-1/, 'the password is never printed');
});

t.test('digest: a stored blob whose bytes went bad is caught on the pull', async (t) => {
  const { layer } = smokeImage();
  const data = `/var/lib/docker-registry/docker/registry/v2/blobs/sha256/${layer.digest.slice(7, 9)}/${layer.digest.slice(7)}/data`;
  // Same length, one byte flipped: the registry keeps it (content-addressed: an existing blob is not rewritten).
  const flip = await labExec(lab, 'registry-1', `printf 'X' | dd of=${data} bs=1 seek=20 conv=notrunc status=none`);
  t.equal(flip.code, 0, flip.stderr);
  const r = await hm('smoke', ...deployment, '--json');
  t.equal(r.code, 2, r.stderr);
  t.match(failure(r), new RegExp(`^digest: blob ${layer.digest} of library/smoke came back as sha256:[0-9a-f]{64} \\(${layer.size} bytes, pushed ${layer.size}\\)`));
  const fix = await labExec(lab, 'registry-1', `echo ${layer.data.toString('base64')} | base64 -d > ${data}`);
  t.equal(fix.code, 0, fix.stderr);
  t.equal((await hm('smoke', ...deployment)).code, 0, 'passes again with the blob restored');
});

t.test('backend: the registry behind the proxy is down', async (t) => {
  const stop = await labExec(lab, 'registry-1', 'service docker-registry stop');
  t.equal(stop.code, 0, stop.stderr);
  const r = await hm('smoke', ...deployment, '--json');
  t.equal(r.code, 2, r.stderr);
  t.match(failure(r), new RegExp(`^backend: ${NAME} answered 50[23] to GET /v2/: the proxy is up but the registry behind it is down or unreachable from it$`));
  const start = await labExec(lab, 'registry-1', 'service docker-registry start');
  t.equal(start.code, 0, start.stderr);
});

