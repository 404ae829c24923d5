// The upgrade's decisions from what a host's probe reports: which changes of harbor_version are
// refused (one line naming the host and both versions), when the upgrade runs, and the order of
// its script; its probe run by this machine's shell on a marker in a scratch directory.
// tests/lab/harbor-upgrade.test.ts runs the whole upgrade on a lab host.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { compareVersions, harborUpgradeStep, harborVersionStep, type UpgradeTarget } from '../../roles/registry/harbor-upgrade.ts';
import { COMPOSE } from '../../roles/registry/harbor.ts';
import { localEnv, sh } from '../fixtures/engine/local-shell.ts';

const scratch = await mkdtemp(join(tmpdir(), 'hm-harbor-upgrade-'));
t.teardown(() => rm(scratch, { recursive: true, force: true }));

const target: UpgradeTarget = {
  version: '2.15.2',
  configVersion: '2.15.0',
  installDir: join(scratch, 'opt/harbor'),
  dataVolume: join(scratch, 'data'),
  installed: join(scratch, 'harbor.installed'),
  compose: COMPOSE,
};
const env = localEnv({ host: { name: 'registry-1', vars: {}, groups: ['registry'] } });
const guard = harborVersionStep(target);
const upgrade = harborUpgradeStep(target);
const plan = (step: typeof guard, output: string) => step.plan({ output, files: new Map() }, env);

t.test('release order: numbers, and a release candidate before its release', async (t) => {
  t.ok(compareVersions('2.15.2', '2.15.10') < 0);
  t.ok(compareVersions('2.14.9', '2.15.0') < 0);
  t.ok(compareVersions('2.15.0-rc1', '2.15.0') < 0);
  t.equal(compareVersions('2.15.1', '2.15.1'), 0);
});

t.test('refused, in one line naming the host and both versions', async (t) => {
  const refused = async (output: string, re: RegExp) => {
    await t.rejects(plan(guard, output), { name: 'UserError', message: re });
    await t.rejects(plan(guard, output), { message: /^[^\n]+$/ });
  };
  await refused('installed=2.15.3\n', /^role registry: host registry-1: Harbor 2\.15\.3 is installed and harbor_version is 2\.15\.2: downgrades are refused .*set harbor_version to 2\.15\.3 or later$/);
  await refused('installed=2.16.0\n', /Harbor 2\.16\.0 is installed and harbor_version is 2\.15\.2: downgrades are refused/);
  await refused('installed=2.12.4\n', /^role registry: host registry-1: Harbor 2\.12\.4 cannot be upgraded to 2\.15\.2 here: harbormaster upgrades from 2\.13\.x, 2\.14\.x, 2\.15\.x/);
  await refused('installed=unknown\n', /Harbor is installed in .*\/opt\/harbor but its release is unknown \(neither .*harbor\.installed nor an images archive/);
  await refused('upgrade.from=2.15.1\nupgrade.to=2.15.3\nupgrade.failed=to return to 2.15.1, run sh /opt/x.restore.sh\n', /the upgrade of Harbor from 2\.15\.1 to 2\.15\.3 has not finished: set harbor_version to 2\.15\.3 to finish it, or go back: to return to 2\.15\.1, run sh \/opt\/x\.restore\.sh$/);
});

t.test('accepted: nothing installed, the same release, an upgrade from a checked line, an upgrade under way to it', async (t) => {
  for (const output of ['', 'installed=2.15.2\n', 'installed=2.15.1\n', 'installed=2.13.0\ndatabase=yes\n', 'upgrade.from=2.15.1\nupgrade.to=2.15.2\n']) {
    t.equal(await plan(guard, output), null, JSON.stringify(output));
  }
});

t.test('the upgrade runs only from an installed older release, and in Harbor\'s order', async (t) => {
  for (const output of ['', 'installed=2.15.2\n', 'upgrade.from=2.15.1\nupgrade.to=2.15.2\ninstalled=2.15.1\n']) t.equal(await plan(upgrade, output), null, JSON.stringify(output));
  const change = await plan(upgrade, 'installed=2.15.1\ndatabase=yes\n');
  t.match(change?.summary, /^2\.15\.1 -> 2\.15\.2: Harbor stopped, backed up to .*\/opt\/harbor-v2\.15\.1-\d{8}T\d{6}Z and .*\/data\/database-v2\.15\.1-/);
  const script = change!.action.script;
  const at = ['$dc down', `cp -a '${target.dataVolume}/database'`, 'restore.sh', `mv '${target.installDir}'`, "'failed=Harbor'\\''s upgrade from 2.15.1 to 2.15.2", `rm -f '${target.installed}'`].map((s) => script.indexOf(s));
  t.ok(at.every((i, n) => i >= 0 && (n === 0 || i > at[n - 1]!)), `stop, copy the database, write the restore script, set the install aside, record, forget the install: ${at}`);
  const external = await plan(upgrade, 'installed=2.15.1\n');
  t.notMatch(external!.action.script, /cp -a/, 'no database of its own (external): none copied');
  t.match(external!.action.script, /the external database is not backed up here/);
});

t.test('the probe reads the marker, else the images archive of an install directory prepare ran in', async (t) => {
  const probe = async () => (await sh(`f() {\n${(await guard.probe(env)).shell}\n}; f`)).stdout;
  t.equal(await probe(), '', 'not installed');
  await writeFile(target.installed, '2.15.1\n');
  t.equal(await probe(), 'installed=2.15.1\n');
  await writeFile(target.installed, '');
  await sh(`mkdir -p '${target.installDir}' '${target.dataVolume}/database' && touch '${target.installDir}/harbor.v2.14.3.tar.gz'`);
  t.equal(await probe(), 'installed=2.14.3\ndatabase=yes\n');
  await rm(target.installed);
  t.equal(await probe(), 'database=yes\n', 'no marker and no compose file: not installed');
  await writeFile(join(target.installDir, 'docker-compose.yml'), 'services: {}\n');
  t.equal(await probe(), 'installed=2.14.3\ndatabase=yes\n', 'installed by hand (prepare ran there): its images archive says which');
});
