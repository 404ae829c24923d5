// registry_engine harbor: the step list the registry role gives a Debian host, the steps that need
// no Docker engine run for real on this machine (installer fetched by sha256 from a file:// URL,
// unpacked once, harbor.yml written 0600), harbor.yml checked against Harbor 2.15's own
// harbor.yml.tmpl, the passwords only ever as Secrets, and one-line errors for what cannot work.
// Harbor itself (install.sh, ./prepare, docker compose) needs a Docker engine: not here.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import type { Facts } from '../../lib/facts/index.ts';
import type { Vars } from '../../lib/inventory/types.ts';
import { unifiedDiff } from '../../lib/run/diff.ts';
import { redact, Secret } from '../../lib/secret.ts';
import { VaultFile } from '../../lib/vault/index.ts';
import { harborHealthy } from '../../roles/registry/harbor.ts';
import registry from '../../roles/registry/index.ts';
import { meetsHarborPolicy } from '../../lib/harbor/password.ts';
import { ensureGeneratedSecrets } from '../../roles/shared/deployment.ts';
import { applyLocally, converge, debianFacts, planLocally, sh } from '../fixtures/engine/local-shell.ts';
import { ADMIN, byName, context, DB, envOf, harborVars as baseVars, PUBLIC, renderedHarborYml, s3Over, S3_SECRET } from '../fixtures/harbor/vars.ts';

const REFERENCE = new URL('../fixtures/harbor/harbor.yml.tmpl', import.meta.url);
const scratch = await mkdtemp(join(tmpdir(), 'hm-harbor-'));
t.teardown(() => rm(scratch, { recursive: true, force: true }));

// An installer archive shaped like Harbor's: a top `harbor` directory with install.sh.
const build = join(scratch, 'build');
await mkdir(join(build, 'harbor'), { recursive: true });
await writeFile(join(build, 'harbor', 'install.sh'), '#!/bin/sh\necho fake installer\n', { mode: 0o755 });
await writeFile(join(build, 'harbor', 'harbor.yml.tmpl'), await readFile(REFERENCE));
const tarball = join(scratch, 'installer.tgz');
await sh(`tar -czf '${tarball}' -C '${build}' harbor`);
const installerSum = createHash('sha256').update(await readFile(tarball)).digest('hex');

const opt = join(scratch, 'opt');
await mkdir(opt);

const harborVars = (over: Vars = {}): Vars =>
  baseVars({ harbor_installer_sha256: installerSum, harbor_installer_url: `file://${tarball}`, harbor_install_dir: `${opt}/harbor`, ...over });

/** The mode a file script leaves: its last chmod (the first may be the default for a new file). */
const lastMode = (script: string): string | undefined => [...script.matchAll(/chmod (\d+)/g)].at(-1)?.[1];

/** A YAML tree's leaf paths (`database.password`), lists as leaves. */
function leaves(value: unknown, prefix = ''): Map<string, unknown> {
  const out = new Map<string, unknown>();
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) for (const [p, leaf] of leaves(v, prefix ? `${prefix}.${k}` : k)) out.set(p, leaf);
  } else out.set(prefix, value);
  return out;
}

const reference = await readFile(REFERENCE, 'utf8');
const referenceTree = parse(reference) as Record<string, unknown>;
/** The template's commented-out `storage_service` block, uncommented. */
const referenceStorage = (() => {
  const lines = reference.split('\n');
  const start = lines.indexOf('# storage_service:');
  // The block: indented comment lines (and blank ones) up to the next top-level comment.
  const end = lines.findIndex((l, i) => i > start && l.trim() !== '' && !/^#\s{2,}/.test(l));
  return (parse(lines.slice(start, end).map((l) => l.replace(/^# ?/, '')).join('\n')) as { storage_service: Record<string, unknown> }).storage_service;
})();

t.test('the role dispatches harbor: Docker, installer, certificate, harbor.yml, install once', async (t) => {
  const vars = harborVars();
  const steps = registry.steps(context(vars));
  t.strictSame(
    steps.map((s) => `${s.kind} ${s.name}`),
    [
      'command harbor version 2.15.2',
      'pkg pkg docker.io docker-compose curl',
      'service service docker started, enabled',
      `file directory ${opt}`,
      `download download ${opt}/harbor-offline-installer-v2.15.2.tgz`,
      'command upgrade harbor: stop, back up, set aside',
      `unarchive unarchive ${opt}/harbor-offline-installer-v2.15.2.tgz -> ${opt}`,
      'command migrate harbor.yml to 2.15.0',
      'file directory /etc/harbormaster',
      'file directory /etc/harbormaster/tls',
      'copy copy /etc/harbormaster/tls/ca.crt',
      'copy copy /etc/harbormaster/tls/server.crt',
      'copy copy /etc/harbormaster/tls/server.key',
      'copy copy /etc/harbormaster/ca.sha256',
      `template template ${opt}/harbor/harbor.yml`,
      'command harbor runs the current harbor.yml',
      'command install harbor',
      'command harbor answers',
      'command harbor admin password',
      'command harbor system configuration',
    ],
  );
  const handlers = registry.handlers!(context(vars));
  t.strictSame(handlers.map((h) => h.name), ['reconfigure harbor', 'record what harbor loaded']);
  const handlerNames = new Set(handlers.map((h) => h.name));
  for (const s of steps) for (const n of s.notify) t.ok(handlerNames.has(n), `${s.name} notifies an existing handler (${n})`);

  const loadedStep = byName(steps, 'harbor runs the current harbor.yml');
  t.equal(loadedStep.when, "[ -e '/etc/harbormaster/harbor.installed' ]", 'reconfigures only a Harbor installed before');
  t.strictSame(loadedStep.notify, ['reconfigure harbor', 'record what harbor loaded']);
  t.match(loadedStep.probe(envOf(vars)), { shell: /grep -v -E '\^harbor_admin_password:'/ }, 'the admin password line is not what Harbor runs on (harbor-admin-password.test.ts)');
  const install = byName(steps, 'install harbor');
  t.strictSame(install.notify, ['record what harbor loaded'], 'a fresh install records what it loaded, no reconfigure');
  t.match((await install.probe(envOf(vars))).shell, "[ -e '/etc/harbormaster/harbor.installed' ] && echo creates=yes");
  const installRun = await install.plan({ output: '', files: new Map() }, envOf(vars));
  t.match(installRun?.action.script, `cd '${opt}/harbor' || exit 1`);
  t.match(installRun?.action.script, /TERM=dumb \.\/install\.sh 2>&1\) && printf '%s' "\$out" \| grep -q 'Harbor has been installed and started successfully'/, 'install.sh output checked');
  t.match(installRun?.action.script, /api\/v2\.0\/health/, 'then waits for Harbor to report healthy');
  t.match(installRun?.action.script, /printf '%s\\n' '2\.15\.2' > '\/etc\/harbormaster\/harbor\.installed' && rm -f '\/etc\/harbormaster\/harbor\.upgrade'$/, 'then records the release: an upgrade is over');
  t.match(installRun?.action.script, /^hm_upgrade_failed\(\) .*s\/\^failed=\/\/p/m, 'a failure during an upgrade prints the line that returns to its backup');
  t.equal(await install.plan({ output: 'creates=yes\n', files: new Map() }, envOf(vars)), null, 'installed: skipped');

  const reconfigure = await handlers[0]!.plan({ output: '', files: new Map() }, envOf(vars));
  const script = reconfigure!.action.script;
  const order = ['$dc down', './prepare', '$dc up -d', 'api/v2.0/health'].map((s) => script.indexOf(s));
  t.ok(order.every((i, n) => i >= 0 && (n === 0 || i > order[n - 1]!)), 'down with the old compose file, prepare, up, health');

  const parent = await byName(steps, `directory ${opt}`).plan({ output: '', files: new Map() }, envOf(vars));
  t.notMatch(parent?.action.script, /chmod|chown/, 'the install directory\'s parent is only made, never re-moded');
  const modes = Object.fromEntries(
    await Promise.all(
      steps.filter((s) => s.name.includes('/etc/harbormaster')).map(async (s) => [s.name, lastMode((await s.plan({ output: '', files: new Map() }, envOf(vars)))!.action.script)]),
    ),
  );
  t.strictSame(modes, {
    'directory /etc/harbormaster': '755',
    'directory /etc/harbormaster/tls': '700',
    'copy /etc/harbormaster/tls/ca.crt': '644',
    'copy /etc/harbormaster/tls/server.crt': '644',
    'copy /etc/harbormaster/tls/server.key': '600',
    'copy /etc/harbormaster/ca.sha256': '644',
  });
  const keyPlan = await byName(steps, 'copy /etc/harbormaster/tls/server.key').plan({ output: '', files: new Map() }, envOf(vars, { wantDiff: true }));
  t.match(keyPlan?.content, { sensitive: true, after: null }, 'the key is a Secret: its content is never shown');
  t.equal(byName(steps, `template ${opt}/harbor/harbor.yml`).sensitive, true);

  const pkgPlan = await steps.find((s) => s.kind === 'pkg')!.plan({ output: '', files: new Map() }, envOf(vars));
  t.match(pkgPlan?.action.script, /install 'docker\.io' 'docker-compose' 'curl'$/);
  const ubuntu = registry.steps(context(vars, { ...debianFacts, distribution: 'ubuntu', version: '24.04' }));
  t.equal(ubuntu.find((s) => s.kind === 'pkg')!.name, 'pkg docker.io docker-compose-v2 curl', 'Ubuntu ships compose v2 as docker-compose-v2');
});

t.test('on this machine: the installer is fetched by its sha256, unpacked once, harbor.yml written 0600', async (t) => {
  const vars = harborVars();
  const env = envOf(vars);
  const steps = registry.steps(context(vars));
  const fetched = await converge(byName(steps, `download ${opt}/harbor-offline-installer-v2.15.2.tgz`), env);
  t.equal(fetched.first?.summary, 'fetch');
  t.notMatch(fetched.first?.action.script, tarball, 'the URL travels on stdin');
  t.equal(fetched.second, null, 'present with that sum: not fetched again');
  const unpacked = await converge(byName(steps, `unarchive ${opt}/harbor-offline-installer-v2.15.2.tgz -> ${opt}`), env);
  t.equal(unpacked.first?.summary, 'unpack');
  t.equal(unpacked.second, null, 'install.sh exists: not unpacked again');
  t.ok((await stat(`${opt}/harbor/install.sh`)).isFile());

  const wrong = registry.steps(context(harborVars({ harbor_installer_sha256: 'ab'.repeat(32), harbor_install_dir: `${scratch}/other/harbor` })));
  await mkdir(`${scratch}/other`);
  const bad = await planLocally(wrong.find((s) => s.kind === 'download')!, env);
  t.equal(bad?.summary, 'fetch');
  const result = await applyLocally(bad!);
  t.not(result.code, 0, 'a checksum mismatch fails');
  t.match(result.log + result.stderr, /checksum mismatch/);
  await t.rejects(stat(`${scratch}/other/harbor-offline-installer-v2.15.2.tgz`), 'and installs nothing');

  const written = await converge(byName(steps, `template ${opt}/harbor/harbor.yml`), env);
  t.equal(written.first?.summary, 'create');
  t.equal(written.second, null, 'rendered again: same content');
  t.equal(((await stat(`${opt}/harbor/harbor.yml`)).mode & 0o777).toString(8), '600');
  t.equal((parse(await readFile(`${opt}/harbor/harbor.yml`, 'utf8')) as { database: { password: string } }).database.password, DB);
});

async function rendered(vars: Vars) {
  const { change, text } = await renderedHarborYml(vars);
  return { change, tree: parse(text) as Record<string, any> };
}

t.test('the health test reads Harbor\'s overall status, as /api/v2.0/health reports it', async (t) => {
  // A stand-in curl on PATH (Harbor is not here): prints the body given in $BODY, fails without one.
  const bin = join(scratch, 'bin');
  await mkdir(bin, { recursive: true });
  await writeFile(join(bin, 'curl'), '#!/bin/sh\n[ -n "$BODY" ] || exit 7\nprintf %s "$BODY"\n', { mode: 0o755 });
  const check = async (body: string) => (await sh(`export PATH='${bin}':$PATH BODY='${body}'\n${harborHealthy(PUBLIC)}`)).code === 0;
  t.ok(await check('{"status":"healthy","components":[{"name":"core","status":"healthy"}]}'));
  t.ok(await check('{\n  "status": "healthy",\n  "components": []\n}'), 'pretty-printed too');
  t.notOk(await check('{"status":"unhealthy","components":[{"name":"core","status":"healthy"},{"name":"database","status":"unhealthy","error":"down"}]}'), 'a healthy component is not enough');
  t.notOk(await check(''), 'no answer');
});

t.test('harbor.yml keeps harbor.yml.tmpl\'s keys and values, with the deployment\'s', async (t) => {
  const { tree } = await rendered(harborVars());
  const ours = leaves(tree);
  const theirs = leaves(referenceTree);
  const set = new Map<string, unknown>([
    ['hostname', PUBLIC],
    ['https.certificate', '/etc/harbormaster/tls/server.crt'],
    ['https.private_key', '/etc/harbormaster/tls/server.key'],
    ['harbor_admin_password', ADMIN],
    ['database.password', DB],
  ]);
  for (const [path, value] of theirs) t.strictSame(ours.get(path), set.has(path) ? set.get(path) : value, path);
  const extra = [...ours.keys()].filter((p) => !theirs.has(p));
  t.strictSame(extra, ['external_url', 'storage_service.filesystem.maxthreads'], 'only the template\'s commented-out keys are added');
  t.equal(tree.external_url, `https://${PUBLIC}`, 'behind the bastion\'s TLS proxy');
  t.strictSame(tree.storage_service.filesystem, referenceStorage.filesystem, 'filesystem as the commented template has it');
  t.equal(tree.data_volume, '/data');
});

t.test('harbor.yml with S3: the driver\'s settings under storage_service.s3', async (t) => {
  const { tree } = await rendered(harborVars(s3Over));
  t.strictSame(Object.keys(tree.storage_service), ['s3', 'redirect']);
  t.strictSame(tree.storage_service.redirect, { disable: true }, 'pulls stream through the proxy by default');
  const redirected = await rendered(harborVars({ ...s3Over, registry_s3_redirect: 'true' }));
  t.strictSame(redirected.tree.storage_service.redirect, { disable: false }, 'registry_s3_redirect: presigned S3 URLs');
  t.strictSame(tree.storage_service.s3, {
    region: 'eu-west-1',
    bucket: 'harbor-images',
    accesskey: 'AKIAHARBORTESTKEY',
    secretkey: S3_SECRET,
    secure: true,
    v4auth: true,
    chunksize: 6291456,
    multipartcopychunksize: 8388608,
    multipartcopymaxconcurrency: 100,
    multipartcopythresholdsize: 33554432,
  });
  const endpoint = await rendered(harborVars({ ...s3Over, registry_s3_endpoint: 'http://127.0.0.1:9000' }));
  t.match(endpoint.tree.storage_service.s3, { regionendpoint: 'http://127.0.0.1:9000', secure: false });
  t.throws(() => registry.steps(context(harborVars({ ...s3Over, registry_s3_bucket: '' }))), { message: /^role registry: variable registry_s3_bucket is not set/ });
});

t.test('the passwords appear only as Secrets: no diff, script or summary shows them', async (t) => {
  const { change } = await rendered(harborVars(s3Over));
  t.match(change.content, { sensitive: true, before: null, after: null });
  const shown = [change.summary, change.action.script, unifiedDiff(change.content!.before, change.content!.after, 'host', 'wanted'), JSON.stringify(change.content)].join('\n');
  for (const secret of [ADMIN, DB, S3_SECRET]) {
    t.notOk(shown.includes(secret), 'not in what is shown');
    t.ok(String(change.action.stdin).includes(secret), 'only in the content, on stdin');
    t.notOk(redact(String(change.action.stdin)).includes(secret), 'redact() masks it');
  }
});

t.test('what cannot work fails before anything runs, in one line', async (t) => {
  const oneLine = (fn: () => unknown, re: RegExp) => t.throws(fn, { message: re }) && t.throws(fn, { message: /^[^\n]+$/ });
  oneLine(() => registry.steps(context(harborVars({ harbor_installer_sha256: '' }))), /^role registry: harbor_installer_sha256 is not set: .*harbor-offline-installer-v2\.15\.2\.tgz.*releases\/tag\/v2\.15\.2/);
  oneLine(() => registry.steps(context(harborVars({ harbor_installer_sha256: 'abc' }))), /harbor_installer_sha256 is not 64 hex digits/);
  const rhel: Facts = { ...debianFacts, osFamily: 'redhat', distribution: 'rocky', version: '9.4', packageManager: 'dnf', init: 'systemd' };
  oneLine(() => registry.steps(context(harborVars(), rhel)), /^role registry: registry_engine harbor needs Docker, which rocky gets only from Docker's own repository \(docker-ce\)/);
  oneLine(() => registry.steps(context(harborVars({ harbor_admin_password: new Secret('alllowercase1') }))), /harbor_admin_password must have 8 to 128 characters with an upper-case letter/);
  oneLine(() => registry.steps(context(harborVars({ harbor_db_password: undefined }))), /vault lacks harbor_db_password: run the site once without --check/);
  oneLine(() => registry.steps(context(harborVars({ harbor_admin_password: ADMIN }))), /harbor_admin_password must come from the vault/);
  oneLine(() => registry.steps(context(harborVars({ harbor_install_dir: '/opt/registry' }))), /harbor_install_dir \/opt\/registry must be an absolute path ending in \/harbor/);
  oneLine(() => registry.steps(context(harborVars({ harbor_data_volume: 'data' }))), /^role registry: harbor_data_volume data must be an absolute path$/);
  oneLine(() => registry.steps(context(harborVars({ harbor_version: '1.6.1' }))), /harbor_version 1\.6\.1 is not a Harbor 2\.x release/);
  oneLine(() => registry.steps(context(harborVars({ harbor_version: '2.16.0' }))), /^role registry: harbor_version 2\.16\.0 has not been checked against harbormaster's harbor\.yml \(checked: 2\.15\.x\)/);
  for (const bad of ['/srv/harbor data', '/data"', "/data'x", '/data/*', '/data:ro', '/data#1', '/da$ta']) {
    oneLine(() => registry.steps(context(harborVars({ harbor_data_volume: bad }))), /^role registry: harbor_data_volume .* holds characters Harbor's installer cannot pass to docker/);
  }
  oneLine(() => registry.steps(context(harborVars({ harbor_config: { self_registraton: false } }))), /^registry role: harbor_config: self_registraton is not a Harbor configuration key/);
  oneLine(() => registry.steps(context(harborVars({ harbor_trivy: 'yes' }))), /^role registry: harbor_trivy must be true or false, not "yes"$/);
  oneLine(() => registry.steps(context(harborVars({ ...s3Over, registry_s3_redirect: 'no' }))), /^role registry: registry_s3_redirect must be true or false/);
});

t.test('the vault gets Harbor\'s passwords once, meeting Harbor\'s rule; check mode writes nothing', async (t) => {
  const file = join(scratch, 'vault.yml');
  const password = new Secret('vault-password-for-the-test');
  const fresh = await VaultFile.open(file, password, { create: true });
  fresh.set('registry_http_secret', 'an-http-secret-of-this-deployment');
  fresh.set('registry_users.admin', 'Admin-passw0rd-x');
  await fresh.save();
  await ensureGeneratedSecrets(await VaultFile.open(file, password), true);
  t.equal((await VaultFile.open(file, password)).get('harbor_admin_password'), undefined, 'check mode: nothing made, no failure');
  await ensureGeneratedSecrets(await VaultFile.open(file, password));
  const saved = await VaultFile.open(file, password);
  const admin = saved.get('harbor_admin_password')!.reveal();
  t.ok(meetsHarborPolicy(admin), 'admin password meets Harbor\'s rule');
  t.equal(saved.get('harbor_db_password')!.reveal().length, 32);
  t.not(saved.get('harbor_db_password')!.reveal(), admin);
  await ensureGeneratedSecrets(saved);
  t.equal((await VaultFile.open(file, password)).get('harbor_admin_password')!.reveal(), admin, 'made once');
});
