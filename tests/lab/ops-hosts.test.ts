// The way in and the end of the lifecycle on a converged lab site: ssh.mts HOST CMD, its
// OpenSSH config (plain ssh -F logs in, a changed host key is refused), the tunnel to the
// registry; then harbor.mts uninstall and purge (distribution, and Harbor's path without Docker),
// and a site run that brings the registry back.
import { spawn } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { labExec } from '../../lib/lab/index.ts';
import { Https } from '../../lib/smoke/http.ts';
import { runProcess } from '../fixtures/roles/client.ts';
import { runScript as hm } from '../helpers/cli.ts';
import { withLab } from '../helpers/lab.ts';
import { deploymentOf, smokeSteps } from '../helpers/ops.ts';

const NAME = 'registry.lab.test';
const lab = await withLab(t, { name: 'opshost', subnet: '10.166', registries: 1 });
const bastion = lab.hosts.find((h) => h.group === 'bastion')!;
const { dir, certsDir, args: deployment } = await deploymentOf(lab);

t.before(async () => {
  const r = await hm('site', ...deployment, '--skip-smoke');
  if (r.code !== 0) throw new Error(`site.mts failed: ${r.stderr}${r.stdout.slice(-2000)}`);
});

t.test('ssh.mts HOST CMD runs on a private host through the bastion; lab.mts ssh is the same', async (t) => {
  const r = await hm('ssh', '-i', lab.inventoryFile, 'registry-1', 'hostname');
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout.trim(), 'registry-1');
  const bad = await hm('ssh', '-i', lab.inventoryFile, 'nohost', 'true');
  t.equal(bad.code, 1);
  t.match(bad.stderr.trim(), /^ssh: .*opshost\.yaml has no host "nohost"; hosts: bastion, registry-1$/);
  const viaLab = await hm('lab', 'ssh', 'registry-1', '--name', 'opshost', 'echo', 'from', '$(hostname)');
  t.equal(viaLab.stdout.trim(), 'from registry-1', viaLab.stderr);
});

t.test('ssh.mts config: plain ssh -F logs in to a private host, and refuses a changed host key', async (t) => {
  const config = join(dir, 'ssh_config');
  const w = await hm('ssh', '-i', lab.inventoryFile, 'config', '-o', config);
  t.equal(w.code, 0, w.stderr);
  t.equal((await stat(config)).mode & 0o777, 0o600);
  const text = await readFile(config, 'utf8');
  t.match(text, /Host registry-1\n  HostName 10\.166\.1\.11\n  User root\n  IdentityFile .*\n  IdentitiesOnly yes\n  UserKnownHostsFile .*\n  GlobalKnownHostsFile \/dev\/null\n  StrictHostKeyChecking yes\n  ProxyJump bastion/);
  const ok = await runProcess('ssh', ['-F', config, '-o', 'BatchMode=yes', 'registry-1', 'hostname']);
  t.equal(ok.stdout.trim(), 'registry-1', ok.stderr);
  // registry-1 pinned with the bastion's key: a changed host key, as after a man in the middle.
  const known = await readFile(lab.knownHostsFile, 'utf8');
  const bastionKey = known.split('\n').find((l) => l.startsWith(`${bastion.address} `))!.split(' ').slice(1).join(' ');
  const forged = join(dir, 'forged.known_hosts');
  await writeFile(forged, known.split('\n').map((l) => (l.startsWith('10.166.1.11 ') ? `10.166.1.11 ${bastionKey}` : l)).join('\n'));
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
      const m = /^tunnel: 127\.0\.0\.1:(\d+) -> registry-1 \(10\.166\.1\.11:443\) through bastion$/m.exec(out);
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

const DATA = '/var/lib/docker-registry';
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
