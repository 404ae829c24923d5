// Harbor's shell installer (install.sh, prepare, common.sh of v2.15.2) run as the registry role runs
// it, in an install directory holding the role's harbor.yml, with a stand-in docker on PATH that
// keeps Docker's rules for -v and runs Harbor's prepare code for the prepare image: what reaches
// Docker (the data volume's -v, the flags, compose in the install directory) is what we meant.
// The harbor.yml the role wrote before (data_volume quoted) fails here as it did on a real host.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { installScript, prepareScript } from '../../roles/registry/harbor.ts';
import { installerScratch, installerHost, volumes, type DockerCall } from '../helpers/harbor-installer.ts';
import { harborVars, renderedHarborYml, s3Over } from '../fixtures/harbor/vars.ts';

const scratch = (await installerScratch('hm-harbor-install-')) ?? process.exit(0);

const runs = (calls: DockerCall[]) => calls.filter((c) => c.argv[0] === 'run');
const composeCalls = (calls: DockerCall[]) => calls.filter((c) => c.argv[0] === 'compose' && c.argv[1] !== 'version').map((c) => c.argv.slice(1).join(' '));

t.test('install.sh with the role\'s harbor.yml: prepare gets the data volume, compose starts in the install directory', async (t) => {
  const data = join(scratch, 'fs/data');
  const vars = harborVars({ harbor_data_volume: data });
  const host = await installerHost(join(scratch, 'fs'), (await renderedHarborYml(vars)).text, data);
  const r = await host.sh(installScript(vars));
  t.equal(r.code, 0, `the role's install command succeeds${r.code ? `: ${r.stderr.trim().split('\n').slice(-5).join(' | ')}` : ''}`);
  const calls = await host.calls();
  t.ok(calls.some((c) => c.argv.join(' ') === `load -i ./harbor.v2.15.2.tar.gz`), 'the offline installer\'s images are loaded');
  const [prepare, ...more] = runs(calls);
  t.equal(more.length, 0, 'one prepare run');
  t.strictSame(volumes(prepare!), [`${host.dir}/input:/input`, `${data}:/data`, `${host.dir}:/compose_location`, `${host.dir}/common/config:/config`, '/:/hostfs/']);
  t.strictSame(prepare!.argv.slice(-2), ['goharbor/prepare:dev-legacy', 'prepare'], 'no --with-trivy: Trivy stays out');
  t.ok(prepare!.argv.includes('--privileged'));
  t.strictSame(composeCalls(calls), ['down -v', 'up -d'], 'compose v2, stopped then started');
  t.ok(calls.filter((c) => c.argv[0] === 'compose').every((c) => c.cwd === host.dir), 'compose runs beside its docker-compose.yml');
  const compose = await host.compose();
  t.notOk('trivy-adapter' in compose.services);
  t.ok(compose.services.registry!.volumes!.includes(`${data}/registry:/storage:z`), 'the registry stores in the data volume');
  const registry = parse(await readFile(join(host.dir, 'common/config/registry/config.yml'), 'utf8')) as { storage: Record<string, unknown> };
  t.strictSame(registry.storage.filesystem, { rootdirectory: '/storage', maxthreads: 100 });

  // A reconfigure (harbor.mts reconfigure and the role's handler) runs prepare the same way.
  const again = await host.sh(prepareScript(vars));
  t.equal(again.code, 0, again.stderr);
  t.strictSame(volumes(runs(await host.calls())[1]!), volumes(prepare!));
});

t.test('harbor_trivy and S3: --with-trivy reaches prepare, compose runs the scanner, the registry gets S3', async (t) => {
  const data = join(scratch, 's3/data');
  const vars = harborVars({ ...s3Over, harbor_trivy: true, harbor_data_volume: data });
  const host = await installerHost(join(scratch, 's3'), (await renderedHarborYml(vars)).text, data);
  const r = await host.sh(installScript(vars));
  t.equal(r.code, 0, r.stderr);
  const [prepare] = runs(await host.calls());
  t.strictSame(prepare!.argv.slice(-3), ['goharbor/prepare:dev-legacy', 'prepare', '--with-trivy']);
  t.ok('trivy-adapter' in (await host.compose()).services);
  const registry = parse(await readFile(join(host.dir, 'common/config/registry/config.yml'), 'utf8')) as { storage: Record<string, any> };
  t.match(registry.storage.s3, { bucket: 'harbor-images', region: 'eu-west-1' });
  t.strictSame(registry.storage.redirect, { disable: true });
  t.equal((await host.sh(prepareScript(vars))).code, 0);
  t.strictSame(runs(await host.calls())[1]!.argv.slice(-1), ['--with-trivy'], 'a reconfigure keeps Trivy');
});

t.test('the quoted data_volume the role wrote before: Docker refuses it and install.sh stops before starting Harbor', async (t) => {
  const data = join(scratch, 'quoted/data');
  const text = (await renderedHarborYml(harborVars({ harbor_data_volume: data }))).text.replace(`data_volume: ${data}`, `data_volume: "${data}"`);
  t.match(text, `data_volume: "${data}"`);
  const host = await installerHost(join(scratch, 'quoted'), text, data);
  const r = await host.sh(installScript(harborVars()));
  t.not(r.code, 0);
  t.match(r.stderr, 'install.sh did not report success');
  const [prepare] = runs(await host.calls());
  t.ok(volumes(prepare!).includes(`"${data}":/data`), 'the quotes reach docker');
  t.strictSame(composeCalls(await host.calls()), [], 'Harbor is never started');
});
