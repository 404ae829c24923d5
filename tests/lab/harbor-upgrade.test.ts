// Harbor upgrades on a lab host, through the real runner over SSH: the registry role's Harbor
// steps (Docker's packages and service left out: no Docker engine here) with Harbor's own
// install.sh, prepare and migrator run by the stand-in docker (tests/helpers/harbor-installer),
// and a stand-in health endpoint that is healthy once compose has started Harbor. Proves: an
// install, a no-op rerun, --check showing the upgrade and doing none of it, an upgrade in
// Harbor's documented order (stop, back up, unpack beside, migrate, install, health), a no-op
// rerun, a downgrade refused with nothing changed, a failed upgrade that names its backup and
// whose restore script puts the old install back, and a 2.14 installed by hand (no marker)
// whose harbor.yml Harbor's migrator carries to 2.15's format on the way.
import { createHash } from 'node:crypto';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { parse } from 'yaml';
import { loadInventory } from '../../lib/inventory/index.ts';
import type { Vars } from '../../lib/inventory/types.ts';
import { labExec } from '../../lib/lab/index.ts';
import type { Role } from '../../lib/run/types.ts';
import { command, copy, unarchive } from '../../lib/steps/index.ts';
import registry from '../../roles/registry/index.ts';
import { expectSuccess, runCollect, type Collected } from '../fixtures/engine/run.ts';
import { sh } from '../fixtures/engine/local-shell.ts';
import { harborVars, renderedHarborYml } from '../fixtures/harbor/vars.ts';
import { INSTALLER, installerScratch } from '../helpers/harbor-installer.ts';
import { withLab } from '../helpers/lab.ts';

const scratch = (await installerScratch('hm-harbor-upgrade-')) ?? process.exit(0);
const HELPERS = fileURLToPath(new URL('../helpers', import.meta.url));
const KIT = '/srv/hukit';
const STATE_LOG = '/var/log/hm-harbor-calls.log';

// What the lab host gets: the stand-in docker and Harbor's prepare code, and offline installers
// shaped like Harbor's (its install.sh, prepare, common.sh, harbor.yml.tmpl, an images archive).
// 2.15.3's lacks its images archive: a broken release, to make an upgrade fail.
const kit = join(scratch, 'kit');
await cp(join(HELPERS, 'harbor-installer'), join(kit, 'helpers/harbor-installer'), { recursive: true });
await cp(join(HELPERS, 'harbor-prepare.py'), join(kit, 'helpers/harbor-prepare.py'));
await cp(join(INSTALLER, 'photon/prepare'), join(kit, 'prepare'), { recursive: true });
const sums: Record<string, string> = {};
for (const version of ['2.14.3', '2.15.1', '2.15.2', '2.15.3']) {
  const build = join(scratch, `build-${version}`, 'harbor');
  await mkdir(build, { recursive: true });
  for (const f of ['install.sh', 'prepare', 'common.sh', 'harbor.yml.tmpl']) await cp(join(INSTALLER, f), join(build, f));
  if (version !== '2.15.3') await writeFile(join(build, `harbor.v${version}.tar.gz`), `the images of Harbor ${version}\n`);
  const archive = join(kit, `installers/harbor-offline-installer-v${version}.tgz`);
  await mkdir(join(kit, 'installers'), { recursive: true });
  await sh(`tar -czf '${archive}' -C '${join(build, '..')}' harbor`);
  sums[version] = createHash('sha256').update(await readFile(archive)).digest('hex');
}
const kitArchive = join(scratch, 'hukit.tgz');
await sh(`tar -czf '${kitArchive}' -C '${kit}' .`);

/** Each docker call and health request, with how many database backups exist and which images archive /opt/harbor holds. */
const noteCall = (what: string) =>
  `printf 'backups=%s images=%s :: %s\\n' "$(ls -d /data/database-v* 2>/dev/null | wc -l)" "$(ls /opt/harbor 2>/dev/null | grep '^harbor\\.v' | tr '\\n' ' ')" "${what}" >> ${STATE_LOG}`;
const DOCKER = `#!/bin/sh
${noteCall('$*')}
HM_DOCKER_LOG=/var/log/hm-docker.log HM_HOSTFS=/ HM_PREPARE_DIR=${KIT}/prepare exec ${KIT}/helpers/harbor-installer/docker "$@"
`;
// Harbor's /api/v2.0/health: healthy once the last compose call started Harbor (up), not after a down.
const CURL = `#!/bin/sh
case "$*" in
*/api/v2.0/health*)
  ${noteCall('health')}
  case "$(grep -o '"argv": \\["compose", "[a-z]*"' /var/log/hm-docker.log 2>/dev/null | tail -n 1)" in
  *'"up"') printf '{"status":"healthy","components":[]}' ;;
  *) exit 7 ;;
  esac ;;
*) exec /usr/bin/curl "$@" ;;
esac
`;
const kitRole: Role = {
  name: 'harbor-kit',
  hosts: 'registry',
  steps: () => [
    copy({ dest: '/srv/hukit.tgz', src: kitArchive, mode: '0644' }),
    unarchive({ src: '/srv/hukit.tgz', dest: KIT }),
    copy({ dest: '/usr/local/bin/docker', content: DOCKER, mode: '0755' }),
    copy({ dest: '/usr/local/bin/curl', content: CURL, mode: '0755' }),
    // What a first prepare makes (openssl genrsa 4096, slow), and what Harbor's database container keeps.
    command({
      name: 'token key pair and database',
      creates: '/data/secret/registry/root.crt',
      cmd: [
        'set -e',
        'mkdir -p /data/secret/core /data/secret/registry /data/database',
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout /data/secret/core/private_key.pem -out /data/secret/registry/root.crt -subj /CN=harbor-token -days 2 2>/dev/null",
        'echo 15 > /data/database/PG_VERSION',
      ].join('\n'),
    }),
  ],
};

/** The registry role's Harbor steps up to its health check (what follows talks to Harbor's API). */
const harborRole: Role = {
  ...registry,
  prepare: undefined,
  steps: (ctx) => {
    const steps = registry.steps(ctx).filter((s) => s.kind !== 'pkg' && s.kind !== 'service');
    return steps.slice(0, steps.findIndex((s) => s.name === 'harbor answers') + 1);
  },
};

const lab = await withLab(t, { name: 'huupg', subnet: '10.214', registries: 1 });
const inv = await loadInventory(lab.inventoryFile);
const exec = async (cmd: string) => {
  const r = await labExec(lab, 'registry-1', cmd);
  if (r.code !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  return r.stdout;
};
const varsAt = (version: string): Vars =>
  harborVars({ harbor_version: version, harbor_installer_sha256: sums[version], harbor_installer_url: `file://${KIT}/installers/harbor-offline-installer-v${version}.tgz` });
const converge = (version: string): Promise<Collected> => runCollect(inv, [harborRole], { extraVars: varsAt(version) });
const changed = (r: Collected) => r.steps.filter((s) => s.status === 'changed').map((s) => s.step);
/** The calls noted since `from` lines, health requests apart. */
const callsSince = async (from: number) => (await exec(`cat ${STATE_LOG}`)).trim().split('\n').slice(from);
const lines = async () => Number((await exec(`wc -l < ${STATE_LOG} 2>/dev/null || echo 0`)).trim());
const installed = () => exec('cat /etc/harbormaster/harbor.installed');
/** A converge at `version` that succeeds and changes nothing. */
async function unchanged(t: Test, version: string, why: string) {
  const r = await converge(version);
  expectSuccess(t, r);
  t.strictSame(changed(r), [], why);
}

t.before(async () => {
  const r = await runCollect(inv, [kitRole]);
  if (r.result.exitCode !== 0) throw new Error(`kit: ${r.printed}`);
  await exec(`: > ${STATE_LOG}`);
});

t.test('a first install at 2.15.1, then a rerun that changes nothing', async (t) => {
  const r = await converge('2.15.1');
  expectSuccess(t, r);
  t.ok(changed(r).includes('install harbor'));
  t.equal(await installed(), '2.15.1\n', 'the marker holds the release');
  await unchanged(t, '2.15.1', 'a rerun: changed=0');
});

const UPGRADE_STEPS = ['upgrade harbor: stop, back up, set aside', 'unarchive /opt/harbor-offline-installer-v2.15.2.tgz -> /opt', 'migrate harbor.yml to 2.15.0', 'install harbor'];
const upgradeSteps = (r: Collected) => changed(r).filter((s) => UPGRADE_STEPS.includes(s));

t.test('--check shows the upgrade and does none of it', async (t) => {
  const from = await lines();
  const r = await runCollect(inv, [harborRole], { extraVars: varsAt('2.15.2'), check: true });
  expectSuccess(t, r);
  t.strictSame(upgradeSteps(r), UPGRADE_STEPS, 'each step the upgrade would run');
  t.equal(await installed(), '2.15.1\n');
  t.strictSame((await callsSince(from)).filter((c) => !c.endsWith(':: health')), [], 'docker never called');
});

t.test('harbor_version 2.15.2: stop, back up, unpack beside, migrate, install, health', async (t) => {
  const from = await lines();
  const r = await converge('2.15.2');
  expectSuccess(t, r);
  t.strictSame(upgradeSteps(r), UPGRADE_STEPS);
  const calls = await callsSince(from);
  // Health requests (each probe asks) and install.sh's version checks apart.
  const work = calls.filter((c) => !/:: (health|compose version|--version)$/.test(c));
  t.strictSame(
    work.map((c) => c.replace(/^.* :: /, '').replace(/ -v .*goharbor\/prepare:\S+/, ' goharbor/prepare')),
    ['compose down', 'load -i harbor.v2.15.2.tar.gz', 'run --rm goharbor/prepare migrate -i /opt/harbor/harbor.yml -t 2.15.0', 'load -i ./harbor.v2.15.2.tar.gz', 'run --rm goharbor/prepare prepare', 'compose down -v', 'compose up -d'],
    'Harbor stopped, then the new prepare image migrates harbor.yml, then install.sh',
  );
  t.match(work[0], /^backups=0 images=harbor\.v2\.15\.1\.tar\.gz  :: compose down$/, 'stopped before anything was backed up, in the old install directory');
  t.match(work[1], /^backups=1 images=harbor\.v2\.15\.2\.tar\.gz  :: load/, 'the database backed up and the old directory set aside before the new one was unpacked');
  t.match(calls.slice(calls.indexOf(work.at(-1)!)).join('\n'), /:: health/, 'then the health wait');
  const backups = (await exec('ls -d /opt/harbor-v2.15.1-* /data/database-v2.15.1-*')).trim().split('\n');
  t.equal(backups.length, 3, 'the old install, its restore script, the database copy');
  t.equal(await exec(`cat ${backups.find((b) => b.startsWith('/data/'))}/PG_VERSION`), '15\n');
  const oldInstall = backups.find((b) => /^\/opt\/.*Z$/.test(b));
  t.match(await exec(`ls ${oldInstall}`), /^docker-compose\.yml\nharbor\.v2\.15\.1\.tar\.gz\nharbor\.yml\n/m, 'the old install directory, as it ran');
  t.equal(await installed(), '2.15.2\n');
  t.equal((await labExec(lab, 'registry-1', 'test -e /etc/harbormaster/harbor.upgrade')).code, 1, 'the upgrade is over');
  t.match(await exec('cat /opt/harbor/harbor.yml'), /^_version: 2\.15\.0$/m);

  await unchanged(t, '2.15.2', 'a rerun after the upgrade: changed=0');
});

t.test('a downgrade is refused in one line, before anything changes', async (t) => {
  const from = await lines();
  const before = await exec('ls -la /opt /opt/harbor; cat /etc/harbormaster/harbor.installed');
  const r = await converge('2.15.1');
  t.not(r.result.exitCode, 0);
  const failed = r.steps.filter((s) => s.status === 'failed');
  t.equal(failed.length, 1);
  t.equal(failed[0]!.step, 'harbor version 2.15.1');
  t.match(failed[0]!.error, /^role registry: host registry-1: Harbor 2\.15\.2 is installed and harbor_version is 2\.15\.1: downgrades are refused [^\n]*$/);
  t.strictSame(changed(r), [], 'nothing changed');
  t.equal(await exec('ls -la /opt /opt/harbor; cat /etc/harbormaster/harbor.installed'), before);
  t.strictSame((await callsSince(from)).filter((c) => !c.endsWith(':: health')), [], 'docker never called');
});

t.test('a failed upgrade names its backup; its restore script returns to the old release', async (t) => {
  const r = await converge('2.15.3');
  t.not(r.result.exitCode, 0);
  const failed = r.steps.find((s) => s.status === 'failed');
  t.equal(failed?.step, 'migrate harbor.yml to 2.15.0');
  const line = /^Harbor's upgrade from 2\.15\.2 to 2\.15\.3 did not finish; the old install is in (\/opt\/harbor-v2\.15\.2-\S+) and its database in (\/data\/database-v2\.15\.2-\S+): to return to 2\.15\.2, run sh (\S+) on this host$/m.exec(failed?.output ?? '');
  t.ok(line, `the failure says how to go back: ${failed?.output}`);
  const [, oldInstall, , restore] = line ?? [];
  t.equal(restore, `${oldInstall}.restore.sh`);

  const meanwhile = await converge('2.15.2');
  t.match(meanwhile.steps.find((s) => s.status === 'failed')?.error, /^role registry: host registry-1: the upgrade of Harbor from 2\.15\.2 to 2\.15\.3 has not finished: set harbor_version to 2\.15\.3 to finish it, or go back: Harbor's upgrade/);

  const from = await lines();
  await exec(`sh ${restore}`);
  t.equal(await installed(), '2.15.2\n');
  t.match(await exec('ls /opt/harbor'), /^harbor\.v2\.15\.2\.tar\.gz$/m, 'the old install directory is back');
  t.equal(await exec('cat /data/database/PG_VERSION'), '15\n');
  t.match((await callsSince(from)).join('\n'), /images=harbor\.v2\.15\.2\.tar\.gz\s+:: compose up -d/, 'started from the old directory');
  await unchanged(t, '2.15.2', 'and the role finds it as it left it');
});

t.test('a Harbor 2.14 installed by hand: Harbor\'s migrator carries its harbor.yml, then the role upgrades it', async (t) => {
  // As the reference's playbook leaves a host: the 2.14.3 installer unpacked and run, harbor.yml
  // in 2.14's format, Harbor up, and no marker of harbormaster's.
  const old = JSON.stringify({ ...(parse((await renderedHarborYml(varsAt('2.15.2'))).text) as object), _version: '2.14.0' });
  await exec(
    [
      'set -e',
      'cd /opt/harbor && docker compose down && cp docker-compose.yml /tmp/compose.yml && cd /',
      'rm -rf /opt/harbor /etc/harbormaster/harbor.installed /etc/harbormaster/harbor.loaded',
      `tar -xzf ${KIT}/installers/harbor-offline-installer-v2.14.3.tgz -C /opt`,
      `echo ${Buffer.from(old).toString('base64')} | base64 -d > /opt/harbor/harbor.yml`,
      'mv /tmp/compose.yml /opt/harbor/docker-compose.yml',
      'cd /opt/harbor && docker compose up -d',
    ].join('\n'),
  );
  const r = await runCollect(inv, [harborRole], { extraVars: varsAt('2.15.2'), verbose: true });
  expectSuccess(t, r);
  t.strictSame(upgradeSteps(r), UPGRADE_STEPS, 'found installed at 2.14.3 (its images archive), upgraded');
  const migrate = r.steps.find((s) => s.step === 'migrate harbor.yml to 2.15.0');
  t.match(migrate?.output, /migrating to version 2\.15\.0[\s\S]*Written new values to \/opt\/harbor\/harbor\.yml/, 'Harbor\'s migrator carried 2.14.0 to 2.15.0');
  const [backup] = (await exec('ls -d /opt/harbor-v2.14.3-*Z')).trim().split('\n');
  t.match(await exec(`cat ${backup}/harbor.yml`), /"_version":"2\.14\.0"/, 'the backup keeps the old harbor.yml as it was');
  t.equal(await installed(), '2.15.2\n');
  t.match(await exec('cat /opt/harbor/harbor.yml'), /^_version: 2\.15\.0$/m);
  await unchanged(t, '2.15.2', 'then a rerun: changed=0');
});
