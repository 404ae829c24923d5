// Operating a converged lab site: the smoke test (and each layer it can fail at), the way in
// (ssh.mts), and the lifecycle to its end (harbor.mts uninstall / purge) on the distribution engine.
import { spawn } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import t from 'tap';
import { labExec } from '../../lib/lab/index.ts';
import { createCa } from '../../lib/pki/index.ts';
import { Secret } from '../../lib/secret.ts';
import { Https } from '../../lib/smoke/http.ts';
import { smokeImage } from '../../lib/smoke/image.ts';
import { VaultFile } from '../../lib/vault/index.ts';
import { runProcess } from '../fixtures/roles/client.ts';
import { runScript as hm } from '../helpers/cli.ts';
import { withLab } from '../helpers/lab.ts';

const NAME = 'registry.lab.test';
const lab = await withLab(t, { name: 'opsreg', subnet: '10.165', registries: 1 });
const bastion = lab.hosts.find((h) => h.group === 'bastion')!;
const dir = dirname(lab.inventoryFile);
const passwordFile = join(dir, 'vault-password');
await writeFile(passwordFile, 'ops-test-password\n', { mode: 0o600 });
const vaultFile = join(dir, 'vault.yaml');
const certsDir = join(dir, 'certs');
const deployment = ['-i', lab.inventoryFile, '--vault', vaultFile, '--vault-password-file', passwordFile, '--certs-dir', certsDir];

const events = (stdout: string) => stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
const smokeSteps = (stdout: string) => events(stdout).filter((e) => e.type === 'step' && e.role === 'smoke');
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
  const vault = await VaultFile.open(vaultFile, new Secret('ops-test-password'));
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

t.test('ssh.mts HOST CMD runs on a private host through the bastion; lab.mts ssh is the same', async (t) => {
  const r = await hm('ssh', '-i', lab.inventoryFile, 'registry-1', 'hostname');
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout.trim(), 'registry-1');
  const bad = await hm('ssh', '-i', lab.inventoryFile, 'nohost', 'true');
  t.equal(bad.code, 1);
  t.match(bad.stderr.trim(), /^ssh: .*opsreg\.yaml has no host "nohost"; hosts: bastion, registry-1$/);
  const viaLab = await hm('lab', 'ssh', 'registry-1', '--name', 'opsreg', 'echo', 'from', '$(hostname)');
  t.equal(viaLab.stdout.trim(), 'from registry-1', viaLab.stderr);
});

t.test('ssh.mts config: plain ssh -F logs in to a private host, and refuses a changed host key', async (t) => {
  const config = join(dir, 'ssh_config');
  const w = await hm('ssh', '-i', lab.inventoryFile, 'config', '-o', config);
  t.equal(w.code, 0, w.stderr);
  t.equal((await stat(config)).mode & 0o777, 0o600);
  const text = await readFile(config, 'utf8');
  t.match(text, /Host registry-1\n  HostName 10\.165\.1\.11\n  User root\n  IdentityFile .*\n  IdentitiesOnly yes\n  UserKnownHostsFile .*\n  GlobalKnownHostsFile \/dev\/null\n  StrictHostKeyChecking yes\n  ProxyJump bastion/);
  const ok = await runProcess('ssh', ['-F', config, '-o', 'BatchMode=yes', 'registry-1', 'hostname']);
  t.equal(ok.stdout.trim(), 'registry-1', ok.stderr);
  // registry-1 pinned with the bastion's key: a changed host key, as after a man in the middle.
  const known = await readFile(lab.knownHostsFile, 'utf8');
  const bastionKey = known.split('\n').find((l) => l.startsWith(`${bastion.address} `))!.split(' ').slice(1).join(' ');
  const forged = join(dir, 'forged.known_hosts');
  await writeFile(forged, known.split('\n').map((l) => (l.startsWith('10.165.1.11 ') ? `10.165.1.11 ${bastionKey}` : l)).join('\n'));
  const cfg2 = join(dir, 'ssh_config.forged');
  t.equal((await hm('ssh', '-i', lab.inventoryFile, '--known-hosts', forged, 'config', '-o', cfg2)).code, 0);
  const refused = await runProcess('ssh', ['-F', cfg2, '-o', 'BatchMode=yes', 'registry-1', 'hostname']);
  t.equal(refused.code, 255);
  t.match(refused.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
  t.notMatch(refused.stdout, /registry-1/, 'no command ran');
});

t.test('ssh.mts tunnel: a request through it reaches the registry; Ctrl-C ends it', async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/ssh.mts', '-i', lab.inventoryFile, 'tunnel', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d));
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  const port = await new Promise<number>((done, fail) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      const m = /^tunnel: 127\.0\.0\.1:(\d+) -> registry-1 \(10\.165\.1\.11:443\) through bastion$/m.exec(out);
      if (m) done(Number(m[1]));
    });
    void exited.then(() => fail(new Error(`the tunnel exited: ${err}`)));
  });
  t.match(out, new RegExp(`open https://${NAME.replaceAll('.', '\\.')}:${port}/`));
  const http = new Https({ name: NAME, port }, '127.0.0.1', await readFile(join(certsDir, 'ca.crt'), 'utf8'));
  const res = await http.send({ method: 'GET', url: `https://${NAME}:${port}/v2/` });
  const again = await http.send({ method: 'GET', url: `https://${NAME}:${port}/v2/` });
  http.close();
  t.equal(res.status, 401, 'the registry answered, wanting a login');
  t.equal(res.headers['docker-distribution-api-version'], 'registry/2.0');
  t.equal(again.status, 401, 'a second request too');
  child.kill('SIGINT');
  t.equal(await exited, 0, err);
  t.match(out, /tunnel closed/);
});

const DATA = '/var/lib/docker-registry/docker';
const exists = async (path: string) => (await labExec(lab, 'registry-1', `test -e ${path}`)).code === 0;

t.test('purge refuses without the deployment name, or with another, and removes nothing', async (t) => {
  const none = await hm('harbor', 'purge', '-i', lab.inventoryFile);
  t.equal(none.code, 1);
  t.equal(none.stderr.trim(), `harbor: purge destroys data: run it on a terminal to confirm, or pass --yes-destroy-data ${NAME}`);
  for (const wrong of ['', 'registry.lab', `${NAME} `]) {
    const r = await hm('harbor', 'purge', '-i', lab.inventoryFile, `--yes-destroy-data=${wrong}`);
    t.equal(r.code, 1, `--yes-destroy-data "${wrong}"`);
    t.match(r.stderr, /does not name this deployment \(registry\.lab\.test\): nothing removed/);
  }
  t.ok(await exists(DATA), 'the image data is still there');
});

t.test('uninstall stops the registry and keeps its data and config; again, it has nothing to do', async (t) => {
  const r = await hm('harbor', 'uninstall', '-i', lab.inventoryFile);
  t.equal(r.code, 0, r.code ? r.stderr + r.stdout : 'exits 0');
  t.match(r.stdout, /changed +registry-1 +stop and disable docker-registry/);
  t.not((await labExec(lab, 'registry-1', 'service docker-registry status')).code, 0, 'not running');
  t.ok(await exists(DATA), 'data kept');
  t.ok(await exists('/etc/docker/registry/config.yml'), 'config kept');
  const again = await hm('harbor', 'uninstall', '-i', lab.inventoryFile);
  t.match(again.stdout, /^registry-1 +1 +0 +0 +0 +0 /m, 'recap: nothing changed');
});

t.test('purge --check says what it would remove; purge removes the image data, keeps the config', async (t) => {
  const check = await hm('harbor', 'purge', '-i', lab.inventoryFile, '--check', '--yes-destroy-data', NAME);
  t.equal(check.code, 0, check.stderr);
  t.match(check.stdout, /changed +registry-1 +remove the image data \(remove directory\)/);
  t.ok(await exists(DATA), 'check mode removed nothing');
  const r = await hm('harbor', 'purge', '-i', lab.inventoryFile, '--yes-destroy-data', NAME);
  t.equal(r.code, 0, r.code ? r.stderr + r.stdout : 'exits 0');
  t.match(r.stdout, /changed +registry-1 +remove the image data \(remove directory\)/);
  t.notOk(await exists('/var/lib/docker-registry'), 'image data gone');
  t.ok(await exists('/etc/docker/registry/config.yml'), 'config kept');
});

t.test("Harbor's path: no containers without a compose file; purge forgets the install and removes its data", async (t) => {
  const invDir = join(dir, 'harbor-inventory');
  await labExec(lab, 'registry-1', 'mkdir -p /data/database /data/registry /data/redis /opt/harbor && touch /opt/harbor/harbor.yml /etc/harbormaster/harbor.installed');
  await runProcess('mkdir', ['-p', join(invDir, 'host_vars')]);
  await writeFile(join(invDir, 'hosts.yaml'), await readFile(lab.inventoryFile, 'utf8'));
  await writeFile(join(invDir, 'host_vars', 'registry-1.yaml'), 'registry_engine: harbor\n');
  const r = await hm('harbor', 'purge', '-i', join(invDir, 'hosts.yaml'), '--yes-destroy-data', NAME);
  t.equal(r.code, 0, r.code ? r.stderr + r.stdout : 'exits 0');
  t.match(r.stdout, /skipped +registry-1 +harbor containers down/);
  t.match(r.stdout, /changed +registry-1 +forget the install/);
  for (const d of ['database', 'registry', 'redis']) {
    t.match(r.stdout, new RegExp(`changed +registry-1 +remove Harbor's ${d}`));
    t.notOk(await exists(`/data/${d}`), `/data/${d} gone`);
  }
  t.notOk(await exists('/etc/harbormaster/harbor.installed'), 'the next site run installs again');
  t.ok(await exists('/opt/harbor/harbor.yml'), 'harbor.yml kept');
});

t.test('after purge, a site run brings the registry back and its smoke test passes', async (t) => {
  const r = await hm('site', ...deployment, '--json');
  t.equal(r.code, 0, r.code ? r.stderr + r.stdout.slice(-2000) : 'exits 0');
  t.equal(smokeSteps(r.stdout).filter((s) => s.status === 'failed').length, 0);
  t.equal(smokeSteps(r.stdout).length, 7);
});
