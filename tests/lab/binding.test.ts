// A deployment's secrets are bound to its inventory (issue 9): the lab's inventory names its
// vault, password file and certificates; runs from another directory use them; --check writes
// nothing; a vault or CA other than the hosts' is refused with nothing changed, unless
// --rotate-ca, which replaces the CA everywhere in one run; one run per inventory (the second
// refused naming the first, a killed holder's lock taken over); bad patterns are refused.
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { BINDING_VARS } from '../../lib/inventory/binding.ts';
import { labExec } from '../../lib/lab/index.ts';
import { acquireLock, lockFileOf } from '../../lib/lock/index.ts';
import { certFingerprint } from '../../lib/pki/index.ts';
import { runScript } from '../helpers/cli.ts';
import { withLab } from '../helpers/lab.ts';

const repo = new URL('../..', import.meta.url).pathname;
const lab = await withLab(t, { name: 'bdbind', subnet: '10.145', registries: 1 });
const inv = lab.inventoryFile;
const { vaultFile, passwordFile, certsDir } = lab.secrets;
const bastion = lab.hosts.find((h) => h.group === 'bastion')!.address;
const elsewhere = await mkdtemp(join(tmpdir(), 'bd-cwd-'));
t.teardown(() => import('node:fs/promises').then((fs) => fs.rm(elsewhere, { recursive: true, force: true })));

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * bin/harbormaster.mjs from another directory, as the issue ran it: without the NODE_OPTIONS
 * npm set for this project (tap hands them to every child, hence `env -u`).
 */
function fromElsewhere(...args: string[]): Promise<Ran> {
  return promisify(execFile)('env', ['-u', 'NODE_OPTIONS', process.execPath, join(repo, 'bin/harbormaster.mjs'), ...args], { cwd: elsewhere, maxBuffer: 1 << 24 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: Ran) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

const recap = (stdout: string): Record<string, { changed: number; failed: number; unreachable: number }> =>
  (stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).find((e) => e.type === 'recap')?.hosts ?? {});

const onHost = async (host: string, cmd: string) => (await labExec(lab, host, cmd)).stdout.trim();
const records = async () => [await onHost('bastion', 'cat /etc/harbormaster/ca.sha256 2>&1'), await onHost('registry-1', 'cat /etc/harbormaster/ca.sha256 2>&1')];
const localState = async () => Promise.all([vaultFile, passwordFile, join(certsDir, 'ca.crt'), join(certsDir, 'server.crt')].map((f) => readFile(f, 'utf8').catch(() => 'absent')));

/** HTTP status of the registry through the proxy, trusting only `caFile` (000 when TLS fails). */
async function throughProxy(caFile: string): Promise<string> {
  const r = await promisify(execFile)('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '10', '--resolve', `registry.lab.test:443:${bastion}`, '--cacert', caFile, 'https://registry.lab.test/v2/']).catch(
    (e: Ran) => e,
  );
  return r.stdout;
}

t.test('the lab inventory names its vault, password file and certificates, absolute', async (t) => {
  const text = await readFile(inv, 'utf8');
  for (const [name, path] of [[BINDING_VARS.vaultFile, vaultFile], [BINDING_VARS.passwordFile, passwordFile], [BINDING_VARS.certsDir, certsDir]] as const) {
    t.match(text, `${name}: ${path}\n`);
    t.ok(path.startsWith(dirname(inv)), `${name} beside the inventory, which is not the project's`);
  }
});

t.test('--check on a lab never deployed writes nothing, locally or remotely', async (t) => {
  const r = await fromElsewhere('site', '-i', inv, '--check');
  t.equal(r.code, 1);
  t.match(r.stderr.trim(), new RegExp(`^site: vault ${vaultFile} does not exist yet: run once without --check to create it$`));
  t.same(await localState(), ['absent', 'absent', 'absent', 'absent'], 'no vault, password file or certificates');
  t.same(await readdir(dirname(inv)).then((names) => names.filter((n) => n.endsWith('.lock'))), [], 'no lock file either');
  t.same(await readdir(elsewhere), [], 'nothing in the current directory');
  t.equal(await onHost('bastion', 'ls /etc/harbormaster 2>&1 || true'), 'ls: cannot access \'/etc/harbormaster\': No such file or directory');
});

t.test('a second run on the inventory is refused naming the holder; nothing happens', async (t) => {
  const held = await acquireLock(lockFileOf(inv), { what: 'test', waitSeconds: 0 });
  const r = await fromElsewhere('site', '-i', inv);
  await held.release();
  t.equal(r.code, 1);
  t.match(r.stderr.trim(), new RegExp(`^site: inventory ${inv} is in use by pid ${process.pid} on \\S+, started \\d{4}-[\\d-]+T[\\d:.]+Z \\(lock \\S+\\): wait for it to finish$`));
  t.same(await localState(), ['absent', 'absent', 'absent', 'absent'], 'refused before making anything');
});

let firstCa = '';

t.test('the first run, from another directory, makes the bound vault, password and CA and deploys them', async (t) => {
  // A run killed while holding the lock: the next one takes it over, saying so.
  const dead = spawn(process.execPath, ['--import=tsx', join(repo, 'tests/fixtures/lock/holder.ts'), lockFileOf(inv)], { stdio: ['pipe', 'pipe', 'inherit'] });
  await once(dead.stdout!, 'data');
  dead.kill('SIGKILL');
  await once(dead, 'exit');
  const r = await fromElsewhere('site', '-i', inv, '--json');
  t.equal(r.code, 0, r.code ? r.stderr : 'exits 0');
  t.match(r.stderr, `took over the lock of pid ${dead.pid}`);
  t.match(r.stderr, `vault: creating ${vaultFile} (no host of this run has been deployed yet)`);
  t.equal((await stat(passwordFile)).mode & 0o777, 0o600, 'a random password file, 0600');
  t.equal((await stat(vaultFile)).mode & 0o777, 0o600);
  t.same(await readdir(elsewhere), [], 'nothing in the current directory');
  firstCa = certFingerprint(await readFile(join(certsDir, 'ca.crt'), 'utf8'))!;
  t.same(await records(), [firstCa, firstCa], 'each host records the CA it was given');
  t.equal(await throughProxy(join(certsDir, 'ca.crt')), '401', 'the proxy serves with it');
});

t.test("the issue's case: role.mts with only a password file uses the inventory's vault and changes nothing", async (t) => {
  const stray = join(repo, 'vault/secrets.yaml');
  const before = existsSync(stray);
  const r = await runScript('role', '-i', inv, 'proxy', '--vault-password-file', passwordFile, '--json');
  t.equal(r.code, 0, r.code ? r.stderr : 'exits 0');
  t.equal(recap(r.stdout).bastion?.changed, 0);
  t.equal(existsSync(stray), before, 'no vault/secrets.yaml made');
  t.same(await records(), [firstCa, firstCa]);
});

t.test('another vault or CA is refused in one line naming both fingerprints, nothing changed anywhere', async (t) => {
  const other = await mkdtemp(join(tmpdir(), 'bd-other-'));
  t.teardown(() => import('node:fs/promises').then((fs) => fs.rm(other, { recursive: true, force: true })));
  const flags = ['--vault', join(other, 'vault.yaml'), '--vault-password-file', passwordFile, '--certs-dir', join(other, 'certs')];
  const missing = await runScript('site', '-i', inv, ...flags);
  t.equal(missing.code, 1);
  t.match(missing.stderr.trim(), new RegExp(`^site: vault ${other}/vault\\.yaml does not exist but \\S+ holds CA ${firstCa}: `));
  t.same(await readdir(other), [], 'no vault made for it');
  const made = await runScript('certs', 'issue', '-i', inv, ...flags);
  t.equal(made.code, 0, made.stderr);
  const otherCa = certFingerprint(await readFile(join(other, 'certs/ca.crt'), 'utf8'))!;
  const local = await localState();
  const r = await runScript('site', '-i', inv, ...flags);
  t.equal(r.code, 1);
  t.match(r.stderr.trim(), new RegExp(`^site: \\S+ holds CA ${firstCa} but this run's CA is ${otherCa} \\(.*\\): nothing changed; if this is the deployment's vault, pass --rotate-ca to replace the CA on every host$`));
  t.same(await records(), [firstCa, firstCa], 'hosts untouched');
  t.same(await localState(), local, "the deployment's files untouched");
});

t.test('--check --rotate-ca writes nothing; --rotate-ca replaces the CA everywhere in one run; a rerun changes nothing', async (t) => {
  const local = await localState();
  const check = await runScript('site', '-i', inv, '--check', '--rotate-ca', '--json');
  t.equal(check.code, 0, check.stderr);
  t.same(await localState(), local, 'check mode: vault and certificates untouched');
  t.same(await records(), [firstCa, firstCa], 'check mode: hosts untouched');
  const r = await runScript('site', '-i', inv, '--rotate-ca', '--json');
  t.equal(r.code, 0, r.code ? r.stderr : 'exits 0');
  t.match(r.stderr, 'pki: CA rotated');
  const newCa = certFingerprint(await readFile(join(certsDir, 'ca.crt'), 'utf8'))!;
  t.not(newCa, firstCa);
  t.same(await records(), [newCa, newCa], 'every host holds the new CA');
  t.equal(await throughProxy(join(certsDir, 'ca.crt')), '401', 'the proxy serves a chain of the new CA, to the registry verified with it');
  const again = await runScript('site', '-i', inv, '--json');
  t.equal(again.code, 0, again.stderr);
  for (const [host, c] of Object.entries(recap(again.stdout))) t.equal(c.changed, 0, `rerun: ${host} changed=0`);
});

t.test('a malformed --limit or --tags is a one-line error naming it, and nothing runs', async (t) => {
  for (const [flag, value] of [['-l', '['], ['-l', ':'], ['-l', '~'], ['-l', ' , '], ['-l', ''], ['-t', ' , '], ['--skip-tags', ',']]) {
    const r = await runScript('role', '-i', inv, 'proxy', flag!, value!, '--json');
    t.equal(r.code, 1, `${flag} '${value}' refused`);
    t.equal(r.stdout, '', 'no run event');
    t.match(r.stderr.trim(), flag === '-l' ? `role: host pattern '${value}'` : `role: ${flag === '-t' ? '--tags' : '--skip-tags'} '${value}'`);
    t.notMatch(r.stderr.trim(), /\n/);
  }
});
