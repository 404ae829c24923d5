// The certificates on real lab hosts: trust --host installs the CA over SSH, and a client on the
// bastion verifies a TLS server on the registry host with nothing but that CA.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { loadInventory } from '../../lib/inventory/index.ts';
import { selectHosts } from '../../lib/inventory/limit.ts';
import { sshTargetOf } from '../../lib/inventory/target.ts';
import { labDown, labExec, labUp, type LabInfo } from '../../lib/lab/index.ts';
import { loadPki } from '../../lib/pki/index.ts';
import { Secret } from '../../lib/secret.ts';
import { ConnectionPool } from '../../lib/transport/pool.ts';
import { VaultFile } from '../../lib/vault/index.ts';

const LAB = 'pkilab';
const SUBNET = '10.237';
const NAME = 'registry.lab.test';
const PASSWORD = 'pki lab test password';
const ROOT = new URL('../..', import.meta.url).pathname;
const CA_ON_HOST = `/etc/docker/certs.d/${NAME}/ca.crt`;

const dir = t.testdir();
const vault = join(dir, 'vault', 'secrets.yaml');
const certs = join(dir, 'certs');
const passwordFile = join(dir, 'vault-password');
let lab: LabInfo;

function certsMts(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const argv = ['zx', 'scripts/certs.mts', ...args, '-i', lab.inventoryFile, '--name', NAME];
  const all = [...argv, '--vault', vault, '--vault-password-file', passwordFile, '--certs-dir', certs];
  return new Promise((resolve) => {
    const child = execFile('npx', all, { cwd: ROOT, encoding: 'utf8' }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
    child.stdin?.end();
  });
}

t.before(async () => {
  await labDown({ name: LAB }); // leftovers of an interrupted run
  lab = await labUp({ name: LAB, subnet: SUBNET, registries: 1, inventoryFile: join(dir, 'lab.yaml') });
  await writeFile(passwordFile, PASSWORD, { mode: 0o600 });
});
t.teardown(() => labDown({ name: LAB }));

t.test('issue uses the lab inventory: public name from --name, the registry host by address and name', async (t) => {
  const r = await certsMts('issue');
  t.equal(r.code, 0, r.stderr);
  const show = await certsMts('show');
  t.match(show.stdout, `  SANs:       DNS:${NAME}, IP:${SUBNET}.1.11, DNS:registry-1\n`);
});

t.test('trust --host installs the CA on every host once, atomically and world-readable', async (t) => {
  const first = await certsMts('trust', '--host', 'all');
  t.equal(first.code, 0, first.stderr);
  t.same(first.stdout.split('\n').filter(Boolean).sort(), [
    `trust: bastion: installed ${CA_ON_HOST}`,
    `trust: registry-1: installed ${CA_ON_HOST}`,
  ]);
  const ca = await readFile(join(certs, 'ca.crt'), 'utf8');
  for (const host of ['bastion', 'registry-1']) {
    const r = await labExec(lab, host, `stat -c %a $(dirname ${CA_ON_HOST}) ${CA_ON_HOST}; ls -A $(dirname ${CA_ON_HOST}); cat ${CA_ON_HOST}`);
    t.equal(r.stdout, `755\n644\nca.crt\n${ca}`, `${host}: modes, no temp file left, content`);
  }
  t.notOk(existsSync(CA_ON_HOST), 'the machine itself was not touched');
  const again = await certsMts('trust', '--host', 'registry');
  t.equal(again.stdout, `trust: registry-1: already installed ${CA_ON_HOST}\n`);
});

t.test('a client on the bastion trusting only the installed CA verifies the registry host', async (t) => {
  const pki = await loadPki({ vault: await VaultFile.open(vault, new Secret(PASSWORD)), certsDir: certs });
  const inventory = await loadInventory(lab.inventoryFile);
  const pool = new ConnectionPool();
  t.teardown(() => pool.close());
  const registry = pool.get(sshTargetOf(inventory, selectHosts(inventory, 'registry-1')[0]!));
  // As the registry role will: key 0600 in a 0700 directory, content on stdin, never in argv.
  const put = await registry.exec('umask 077; mkdir -p /etc/pkitest; cat > /etc/pkitest/server.key', { stdin: pki.keyPem.reveal() });
  t.equal(put.code, 0, put.stderr);
  t.equal((await registry.exec('cat > /etc/pkitest/server.crt', { stdin: pki.certPem })).code, 0);
  const serve = await labExec(
    lab,
    'registry-1',
    'setsid timeout 300 openssl s_server -quiet -www -accept 8443 -cert /etc/pkitest/server.crt -key /etc/pkitest/server.key </dev/null >/tmp/s_server.log 2>&1 & ' +
      'for i in $(seq 100); do ss -ltn | grep -q ":8443 " && exit 0; sleep 0.1; done; cat /tmp/s_server.log; exit 1',
  );
  t.equal(serve.code, 0, serve.stdout + serve.stderr);

  const curl = (name: string, caArg: string) =>
    labExec(lab, 'bastion', `curl -sS -o /dev/null -w '%{http_code}' ${caArg} --resolve ${name}:8443:${SUBNET}.1.11 https://${name}:8443/`);
  const trusted = await curl(NAME, `--cacert ${CA_ON_HOST}`);
  t.same([trusted.code, trusted.stdout], [0, '200'], trusted.stderr);
  const untrusted = await curl(NAME, '');
  t.equal(untrusted.code, 60, 'no CA: certificate problem');
  t.match(untrusted.stderr, /unable to get local issuer certificate/);
  const wrongName = await curl('other.lab.test', `--cacert ${CA_ON_HOST}`);
  t.equal(wrongName.code, 60);
  t.match(wrongName.stderr, /no alternative certificate subject name matches/);

  const sClient = await labExec(
    lab,
    'bastion',
    `openssl s_client -connect ${SUBNET}.1.11:8443 -servername ${NAME} -verify_hostname ${NAME} -verify_return_error -CAfile ${CA_ON_HOST} </dev/null`,
  );
  t.equal(sClient.code, 0, sClient.stderr);
  t.match(sClient.stdout, /Verify return code: 0 \(ok\)/);
});
