// The site's roles on real lab hosts: bastion hardening, the Apache proxy on the bastion and the
// distribution registry behind it converge from a fresh vault and PKI, change nothing on a second
// run, and serve images by the public name to clients that trust only our CA.
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { loadInventory } from '../../lib/inventory/index.ts';
import { selectHosts } from '../../lib/inventory/limit.ts';
import type { Inventory, Vars } from '../../lib/inventory/types.ts';
import { labExec, type LabInfo } from '../../lib/lab/index.ts';
import { ensurePki, wantedSans } from '../../lib/pki/index.ts';
import type { Role } from '../../lib/run/types.ts';
import { Secret } from '../../lib/secret.ts';
import { VaultFile } from '../../lib/vault/index.ts';
import bastion from '../../roles/bastion/index.ts';
import proxy from '../../roles/proxy/index.ts';
import registry from '../../roles/registry/index.ts';
import { deploymentVars } from '../../roles/shared/deployment.ts';
import { expectSuccess, runCollect } from '../fixtures/engine/run.ts';
import { credentialFiles, resolvingTo, runProcess, type PublicNameRunner } from '../fixtures/roles/client.ts';
import { buildOciImage } from '../fixtures/roles/oci.ts';
import { withLab } from '../helpers/lab.ts';

const NAME = 'registry.lab.test';
const SUBNET = '10.206';
const VAULT_PASSWORD = new Secret('roles lab vault password');
const SITE: Role[] = [bastion, proxy, registry];

const dir = t.testdir();
const vaultFile = join(dir, 'secrets.yaml');
const certsDir = join(dir, 'certs');
const caDir = join(dir, 'ca'); // skopeo --cert-dir: the CA only
const emptyDir = join(dir, 'no-ca');

/** The vault as a new process would read it (VaultFile.get does not see keys set in-process yet). */
const reopen = () => VaultFile.open(vaultFile, VAULT_PASSWORD);

t.test('deploymentVars on a vault without users makes an admin password and the HTTP secret, saved', async (t) => {
  const scratch = t.testdir();
  const file = join(scratch, 'secrets.yaml');
  const vault = await VaultFile.open(file, VAULT_PASSWORD, { create: true });
  await ensurePki({ vault, certsDir: scratch, publicName: NAME, sans: [{ type: 'DNS', value: NAME }] });
  const vars = await deploymentVars({ vault: await VaultFile.open(file, VAULT_PASSWORD), certsDir: scratch });
  const admin = (vars.registry_users as Record<string, Secret>).admin;
  t.ok(admin instanceof Secret);
  t.match(admin!.reveal(), /^[A-Za-z0-9_-]{32}$/, '24 random bytes');
  const saved = await VaultFile.open(file, VAULT_PASSWORD);
  t.equal(saved.require('registry_users.admin').reveal(), admin!.reveal());
  t.equal(saved.require('registry_http_secret').reveal(), (vars.registry_http_secret as Secret).reveal());
  const again = await deploymentVars({ vault: saved, certsDir: scratch });
  t.equal((again.registry_users as Record<string, Secret>).admin!.reveal(), admin!.reveal(), 'made once');
});

t.test('the site roles on the lab', async (t) => {
  const lab: LabInfo = await withLab(t, { name: 'rlab', subnet: SUBNET, registries: 1 });
  const inv: Inventory = await loadInventory(lab.inventoryFile);
  const upper = (host: string, path: string) => join(lab.hosts.find((h) => h.name === host)!.upperDir, path);
  const exec = (host: string, cmd: string) => labExec(lab, host, cmd);
  const bastionAddress = lab.hosts.find((h) => h.name === 'bastion')!.address;
  const registryAddress = String(inv.hosts.get('registry-1')!.vars.private_ip);

  const created = await VaultFile.open(vaultFile, VAULT_PASSWORD, { create: true });
  created.set('registry_users.pusher', 'pusher-Lab-Passw0rd');
  await created.save();
  await ensurePki({ vault: created, certsDir, publicName: NAME, sans: wantedSans(selectHosts(inv, 'registry'), NAME) });
  let vars: Vars = await deploymentVars({ vault: await reopen(), certsDir });
  const converge = (extra: Vars = {}, roles = SITE) => runCollect(inv, roles, { extraVars: { ...vars, ...extra } });

  const ca = await readFile(join(certsDir, 'ca.crt'), 'utf8');
  await mkdir(caDir);
  await mkdir(emptyDir);
  await writeFile(join(caDir, 'ca.crt'), ca);
  const client: PublicNameRunner = await resolvingTo(dir, NAME, bastionAddress);
  const pusher = await credentialFiles(dir, NAME, 'pusher', 'pusher-Lab-Passw0rd');
  const curlStatus = async (...args: string[]) => {
    const r = await client('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', join(caDir, 'ca.crt'), ...args, `https://${NAME}/v2/`]);
    return r.code === 0 ? r.stdout : `curl exit ${r.code}: ${r.stderr}`;
  };

  await t.test('deploymentVars: PKI material, the public name, vault users and generated secrets', async (t) => {
    t.equal(vars.registry_public_name, NAME, 'the name the certificate was issued for');
    t.ok(vars.tls_key_pem instanceof Secret, 'the key is a Secret');
    const users = vars.registry_users as Record<string, Secret>;
    t.strictSame(Object.keys(users).sort(), ['pusher'], 'users from registry_users, no admin made up when one exists');
    t.ok(vars.registry_http_secret instanceof Secret);
    t.equal((await reopen()).require('registry_http_secret').reveal(), (vars.registry_http_secret as Secret).reveal(), 'generated and saved to the vault');
  });

  await t.test('without deploymentVars, or harbor without its installer checksum, the roles fail saying why', async (t) => {
    const bare = await runCollect(inv, [proxy]);
    t.equal(bare.result.exitCode, 2);
    t.match(bare.steps[0], { status: 'failed', error: /role proxy: variable tls_ca_pem is not set/ });
    const harbor = await converge({ registry_engine: 'harbor' }, [registry]);
    t.match(harbor.steps[0], { status: 'failed', error: /harbor_installer_sha256 is not set/ });
  });

  await t.test('the first run converges bastion, proxy and registry; each handler runs once', async (t) => {
    const first = await converge();
    expectSuccess(t, first);
    t.match(first.result.hosts, { bastion: { failed: 0 }, 'registry-1': { failed: 0 } });
    const handlers = first.steps.filter((s) => s.handler).map((s) => `${s.host}: ${s.step} ${s.status}`);
    t.strictSame(handlers, [
      'bastion: reload sshd changed',
      'bastion: record what sshd loaded changed',
      'bastion: reload apache changed',
      'bastion: record what apache loaded changed',
      'registry-1: restart docker-registry changed',
      'registry-1: check docker-registry health changed',
      'registry-1: record what docker-registry loaded changed',
    ]);
    for (const secret of [(vars.tls_key_pem as Secret).reveal().split('\n')[1]!, 'pusher-Lab-Passw0rd', (vars.registry_http_secret as Secret).reveal()]) {
      t.notOk(first.printed.includes(secret), 'no secret in the output');
    }
  });

  await t.test('files on the hosts: TLS modes, the vhost, the registry config and its bcrypt users', async (t) => {
    const mode = async (host: string, path: string) => ((await stat(upper(host, path))).mode & 0o777).toString(8);
    t.strictSame(
      await Promise.all(['etc/harbormaster/tls', 'etc/harbormaster/tls/ca.crt', 'etc/harbormaster/tls/server.crt', 'etc/harbormaster/tls/server.key'].map((p) => mode('bastion', p))),
      ['700', '644', '644', '600'],
    );
    t.equal(await readFile(upper('bastion', 'etc/harbormaster/tls/server.key'), 'utf8'), (vars.tls_key_pem as Secret).reveal());
    const owners = await exec('registry-1', 'stat -c "%a %U:%G" /etc/harbormaster/tls /etc/harbormaster/tls/server.key /etc/docker/registry/htpasswd /etc/docker/registry/config.yml');
    t.equal(owners.stdout, '750 root:docker-registry\n640 root:docker-registry\n640 root:docker-registry\n640 root:docker-registry\n');
    t.equal((await exec('registry-1', 'su -s /bin/sh docker-registry -c "head -c 10 /etc/harbormaster/tls/server.key"')).stdout, '-----BEGIN', 'the registry user reads its key');

    const vhost = await readFile(upper('bastion', 'etc/apache2/sites-available/registry_ssl.conf'), 'utf8');
    for (const line of [
      '<VirtualHost _default_:443>',
      `ServerName ${NAME}`,
      'SSLProtocol all -SSLv3 -TLSv1 -TLSv1.1',
      'SSLProxyVerify require',
      'SSLProxyCACertificateFile /etc/harbormaster/tls/ca.crt',
      'SSLProxyCheckPeerName on',
      `ProxyPass / https://${registryAddress}/`,
      `ProxyPassReverse / https://${registryAddress}/`,
    ]) {
      t.match(vhost, new RegExp(`^\\s*${line.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`, 'm'), line);
    }
    t.notMatch(vhost, /SSLProxyCheckPeer(CN|Name) off/, 'the reference flaw is gone');
    t.equal((await exec('bastion', 'apache2ctl -M 2>/dev/null | grep -cE "^ (ssl|proxy|proxy_http|headers)_module"')).stdout.trim(), '4');

    const config = parse(await readFile(upper('registry-1', 'etc/docker/registry/config.yml'), 'utf8'));
    t.match(config, {
      http: { addr: ':443', host: `https://${NAME}`, tls: { certificate: '/etc/harbormaster/tls/server.crt', key: '/etc/harbormaster/tls/server.key' } },
      auth: { htpasswd: { path: '/etc/docker/registry/htpasswd' } },
      storage: { filesystem: { rootdirectory: '/var/lib/docker-registry' }, delete: { enabled: true } },
    });
    t.equal(config.http.secret, (vars.registry_http_secret as Secret).reveal());

    // Apache's own htpasswd checks the entry, the password on stdin.
    const htpasswd = join(dir, 'htpasswd-from-host');
    await writeFile(htpasswd, await readFile(upper('registry-1', 'etc/docker/registry/htpasswd')), { mode: 0o600 });
    t.match(await readFile(htpasswd, 'utf8'), /^pusher:\$2[aby]\$10\$[./A-Za-z0-9]{53}\n$/, 'one bcrypt entry');
    t.equal((await runProcess('htpasswd', ['-vi', htpasswd, 'pusher'], 'pusher-Lab-Passw0rd')).code, 0, 'it verifies the vault password');
    t.not((await runProcess('htpasswd', ['-vi', htpasswd, 'pusher'], 'wrong')).code, 0, 'and no other');

    const sshd = (await exec('bastion', 'sshd -T')).stdout;
    t.match(sshd, /^passwordauthentication no$/m);
    t.match(sshd, /^x11forwarding no$/m);
    t.match(sshd, /^allowtcpforwarding yes$/m, 'still a jump host');
  });

  await t.test('a second run changes nothing', async (t) => {
    const again = await converge();
    expectSuccess(t, again);
    for (const host of ['bastion', 'registry-1']) t.match(again.result.hosts[host], { changed: 0, failed: 0 }, host);
  });

  await t.test('curl by the public name: 401 without credentials, 200 with, the API version header', async (t) => {
    t.equal(await curlStatus(), '401');
    t.equal(await curlStatus('--netrc-file', pusher.netrc), '200');
    const headers = await client('curl', ['-sS', '-D', '-', '-o', '/dev/null', '--cacert', join(caDir, 'ca.crt'), `https://${NAME}/v2/`]);
    t.match(headers.stdout, /^Docker-Distribution-Api-Version: registry\/2\.0\r?$/im);
    t.match(headers.stdout, /^Www-Authenticate: Basic realm="harbormaster registry"\r?$/im, 'the answer comes from the registry');
    const untrusted = await client('curl', ['-sS', '-o', '/dev/null', `https://${NAME}/v2/`]);
    t.equal(untrusted.code, 60, 'without our CA curl refuses the bastion');
  });

  await t.test('skopeo pushes a local OCI image by the public name and pulls the same digests back', async (t) => {
    const image = await buildOciImage(join(dir, 'image'), '1', { 'hello.txt': 'hello from harbormaster\n' });
    const remote = `docker://${NAME}/pro1/demo:1`;
    const push = await client('skopeo', ['copy', '--dest-cert-dir', caDir, '--dest-authfile', pusher.authfile, image.ref, remote]);
    t.equal(push.code, 0, push.stderr);
    const digest = await client('skopeo', ['inspect', '--cert-dir', caDir, '--authfile', pusher.authfile, '--format', '{{.Digest}}', remote]);
    t.equal(digest.stdout.trim(), image.manifestDigest, 'the registry holds the manifest as pushed');
    const pulled = join(dir, 'pulled');
    const pull = await client('skopeo', ['copy', '--src-cert-dir', caDir, '--src-authfile', pusher.authfile, remote, `oci:${pulled}:1`]);
    t.equal(pull.code, 0, pull.stderr);
    const index = JSON.parse(await readFile(join(pulled, 'index.json'), 'utf8'));
    t.equal(index.manifests[0].digest, image.manifestDigest);
    const blob = (root: string) => readFile(join(root, 'blobs', 'sha256', image.layerDigest.slice('sha256:'.length)));
    t.ok((await blob(pulled)).equals(await blob(join(dir, 'image'))), 'the layer came back, byte for byte, under its digest');
    t.ok((await stat(upper('registry-1', 'var/lib/docker-registry/docker/registry/v2/repositories/pro1/demo'))).isDirectory(), 'stored on the registry host');

    const noCa = await client('skopeo', ['copy', '--dest-cert-dir', emptyDir, '--dest-authfile', pusher.authfile, image.ref, `docker://${NAME}/pro1/demo:2`]);
    t.not(noCa.code, 0);
    t.match(noCa.stderr, /x509: certificate signed by unknown authority/);
    const noCreds = await client('skopeo', ['inspect', '--cert-dir', caDir, '--no-creds', remote]);
    t.not(noCreds.code, 0, 'no credentials, no image');
  });

  await t.test('Apache refuses the backend when its certificate does not carry the requested name', async (t) => {
    // ProxyPreserveHost passes the client's Host on, and mod_ssl checks the backend against it.
    t.match(await curlStatus('-H', 'Host: other.lab.test', '--netrc-file', pusher.netrc), /^5\d\d$/);
    const log = await readFile(upper('bastion', 'var/log/apache2/registry_ssl_error.log'), 'utf8');
    t.match(log, /Error during SSL Handshake with remote server/);
    t.equal(await curlStatus('--netrc-file', pusher.netrc), '200', 'the public name still works');
  });

  await t.test('a new password in the vault: htpasswd rewritten, registry restarted, old password refused', async (t) => {
    const vault = await reopen();
    vault.set('registry_users.pusher', 'pusher-New-Passw0rd');
    vault.set('registry_users.puller', 'puller-Lab-Passw0rd');
    await vault.save();
    vars = await deploymentVars({ vault: await reopen(), certsDir });
    const changed = await converge();
    expectSuccess(t, changed);
    t.strictSame(
      changed.steps.filter((s) => s.status === 'changed').map((s) => `${s.host}: ${s.step}`),
      [
        'registry-1: htpasswd /etc/docker/registry/htpasswd',
        'registry-1: docker-registry runs the current config',
        'registry-1: restart docker-registry',
        'registry-1: check docker-registry health',
        'registry-1: record what docker-registry loaded',
      ],
    );
    t.equal(await curlStatus('--netrc-file', pusher.netrc), '401', 'the old password');
    const renewed = await credentialFiles(dir, NAME, 'pusher', 'pusher-New-Passw0rd');
    t.equal(await curlStatus('--netrc-file', renewed.netrc), '200', 'the new one');
    const puller = await credentialFiles(dir, NAME, 'puller', 'puller-Lab-Passw0rd');
    t.equal(await curlStatus('--netrc-file', puller.netrc), '200', 'the new user');
    const again = await converge();
    t.equal(again.result.hosts['registry-1']!.changed, 0, 'entries that verify are kept: nothing to do on the next run');
  });

  await t.test('a registry that died is started again and checked', async (t) => {
    await exec('registry-1', 'kill -9 $(cat /var/run/docker-registry.pid)');
    const r = await converge({}, [registry]);
    expectSuccess(t, r);
    t.strictSame(r.steps.filter((s) => s.status === 'changed').map((s) => s.step), ['service docker-registry started, enabled', 'docker-registry answers']);
    t.equal(await curlStatus('--netrc-file', (await credentialFiles(dir, NAME, 'puller', 'puller-Lab-Passw0rd')).netrc), '200');
  });

  await t.test('below ip_unprivileged_port_start the registry binary gets CAP_NET_BIND_SERVICE', async (t) => {
    await exec('registry-1', 'echo 1024 > /proc/sys/net/ipv4/ip_unprivileged_port_start');
    const r = await converge({}, [registry]);
    expectSuccess(t, r);
    t.strictSame(r.steps.filter((s) => s.status === 'changed').map((s) => s.step), [
      'allow docker-registry to bind port 443',
      'restart docker-registry',
      'check docker-registry health',
      'record what docker-registry loaded',
    ]);
    t.match((await exec('registry-1', 'getcap /usr/bin/docker-registry')).stdout, /cap_net_bind_service=ep/);
    t.equal((await converge({}, [registry])).result.hosts['registry-1']!.changed, 0);
  });

  await t.test('an invalid vhost fails the configtest, Apache keeps serving, and every run says so until fixed', async (t) => {
    const broken = { registry_backend: `${registryAddress}:notaport` };
    for (const attempt of ['first', 'second']) {
      const r = await converge(broken, [proxy]);
      t.equal(r.result.exitCode, 2, `${attempt} run fails`);
      const failed = r.steps.find((s) => s.status === 'failed');
      t.match(failed, { step: 'apache runs the current config' });
      t.match(failed?.output, /the Apache configuration is invalid: not reloading/);
      t.match(failed?.output, /ProxyPass Unable to parse URL/);
      t.notOk(r.steps.some((s) => s.handler), 'no reload');
      t.equal(await curlStatus(), '401', 'Apache still serves the old config');
    }
    const fixed = await converge({}, [proxy]);
    expectSuccess(t, fixed);
    t.strictSame(
      fixed.steps.filter((s) => s.status === 'changed').map((s) => s.step),
      ['template /etc/apache2/sites-available/registry_ssl.conf'],
      'the vhost is back to what Apache runs: no reload needed',
    );
  });

  await t.test('an sshd setting sshd rejects is moved aside and not loaded; SSH keeps working', async (t) => {
    const r = await converge({ sshd_max_auth_tries: 'lots' }, [bastion]);
    t.equal(r.result.exitCode, 2);
    t.match(r.steps.find((s) => s.status === 'failed'), { step: 'sshd runs the current config', output: /sshd rejects its configuration, not reloading/ });
    t.equal((await exec('bastion', 'ls /etc/ssh/sshd_config.d/')).stdout, '00-harbormaster.conf.rejected\nharbormaster-lab.conf\n');
    t.equal((await exec('bastion', 'sshd -t && echo valid')).stdout, 'valid\n', 'what a restart would load is valid');
    const fixed = await converge({}, [bastion]);
    expectSuccess(t, fixed);
    t.match((await exec('bastion', 'sshd -T')).stdout, /^maxauthtries 4$/m);
  });
});
