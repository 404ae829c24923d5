// Harbor's own prepare code (photon/prepare of its v2.15.2 installer: parse_yaml_config, validate,
// every component's config renderer, the compose file) run on every harbor.yml the registry role
// renders, failing on any error or warning Harbor logs; the distribution registry's config.yml it
// generates holds the storage we meant. Harbor's migrator brings the harbor.yml of each release
// line the role upgrades from to the format the role writes.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import type { Vars } from '../../lib/inventory/types.ts';
import { installerScratch, pythonMigrate, pythonPrepare } from '../helpers/harbor-installer.ts';
import { UPGRADES_FROM } from '../../roles/registry/harbor-upgrade.ts';
import { harborVars, PUBLIC, renderedHarborYml, s3Over, S3_SECRET } from '../fixtures/harbor/vars.ts';

const scratch = (await installerScratch('hm-harbor-prepare-')) ?? process.exit(0);

/** Every harbor.yml the role renders: storage kinds, S3's redirect, with and without Trivy. */
const VARIANTS: Record<string, Vars> = {
  filesystem: {},
  'filesystem, Trivy': { harbor_trivy: true },
  S3: s3Over,
  'S3 with redirects': { ...s3Over, registry_s3_redirect: true },
  'S3 at a custom endpoint, Trivy': { ...s3Over, registry_s3_endpoint: 'http://10.155.0.9:9000', harbor_trivy: true },
};

type Tree = Record<string, any>;
const yamlOf = async (file: string): Promise<Tree> => parse(await readFile(file, 'utf8')) as Tree;

let n = 0;
for (const [name, over] of Object.entries(VARIANTS)) {
  t.test(`${name}: Harbor's prepare takes the role's harbor.yml without error or warning`, async (t) => {
    const vars = harborVars({ harbor_data_volume: '/srv/harbor-data', ...over });
    const trivy = vars.harbor_trivy === true;
    const root = join(scratch, String(n++));
    const r = await pythonPrepare(root, (await renderedHarborYml(vars)).text, { trivy });
    t.equal(r.code, 0, `prepare exits 0${r.code ? `: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`);
    t.notMatch(r.stdout + r.stderr, /warning|error/i, 'nothing warned about');

    const registry = await yamlOf(join(r.dirs.config, 'registry/config.yml'));
    const storage = registry.storage;
    if (vars.registry_storage === 's3') {
      const s3: Tree = {
        region: 'eu-west-1',
        bucket: 'harbor-images',
        accesskey: 'AKIAHARBORTESTKEY',
        secretkey: S3_SECRET,
        ...(vars.registry_s3_endpoint ? { regionendpoint: vars.registry_s3_endpoint, secure: false } : { secure: true }),
        v4auth: true,
        chunksize: 6291456,
        multipartcopychunksize: 8388608,
        multipartcopymaxconcurrency: 100,
        multipartcopythresholdsize: 33554432,
      };
      t.strictSame(storage.s3, s3, 'the registry gets our S3 settings, typed as we meant them');
      t.notOk('filesystem' in storage);
      if (vars.registry_s3_redirect) t.notOk('redirect' in storage, 'redirects left on: the registry\'s default');
      else t.strictSame(storage.redirect, { disable: true }, 'redirects off: blobs stream through Harbor and the proxy');
    } else {
      t.strictSame(storage.filesystem, { rootdirectory: '/storage', maxthreads: 100 }, 'the data volume\'s registry directory');
      t.notOk('redirect' in storage);
    }

    const compose = await yamlOf(join(r.dirs.compose, 'docker-compose.yml'));
    t.equal('trivy-adapter' in compose.services, trivy, `trivy-adapter ${trivy ? 'in' : 'not in'} the compose file`);
    t.ok(compose.services.registry.volumes.includes('/srv/harbor-data/registry:/storage:z'), 'the registry stores under harbor_data_volume');
    const core = await readFile(join(r.dirs.config, 'core/env'), 'utf8');
    t.match(core, `EXT_ENDPOINT=https://${PUBLIC}`, 'links name the public URL behind the proxy');
    t.match(core, new RegExp(`^WITH_TRIVY=${trivy ? 'True' : 'False'}$`, 'm'));
  });
}

t.test('the check fails when Harbor does: a harbor.yml it rejects, one it warns about', async (t) => {
  const text = (await renderedHarborYml(harborVars())).text;
  const rejected = await pythonPrepare(join(scratch, 'bad'), text.replace(`hostname: "${PUBLIC}"`, 'hostname: "127.0.0.1"'));
  t.not(rejected.code, 0);
  t.match(rejected.stderr, /127\.0\.0\.1 can not be the hostname/);
  // Harbor warns (and goes on) about plain HTTP: a warning fails the check too.
  const http = text.replace(/^https:\n(?: {2}.*\n)+/m, '');
  const warned = await pythonPrepare(join(scratch, 'http'), http);
  t.equal(warned.code, 3);
  t.match(warned.stderr, /Harbor logged: .*HTTP protocol is insecure/);
});

// Every release line the role upgrades from (roles/registry/harbor-upgrade.ts): Harbor's migrator
// carries its harbor.yml to the format the role writes, the deployment's values kept.
for (const line of UPGRADES_FROM) {
  t.test(`Harbor's migrator brings a ${line} harbor.yml to the format the role writes`, async (t) => {
    const current = parse((await renderedHarborYml(harborVars())).text) as Tree;
    const from = `${line}.0`;
    const r = await pythonMigrate(join(scratch, `migrate-${line}`), JSON.stringify({ ...current, _version: from }), '2.15.0');
    t.equal(r.code, 0, r.stderr);
    if (from === current._version) {
      t.match(r.stdout, /identical to target 2\.15\.0, no need to upgrade/, 'the same format: left as it is');
      return;
    }
    const steps = UPGRADES_FROM.filter((l) => l > line).map((l) => `migrating to version ${l.replace('.', '\\.')}\\.0`);
    t.match(r.stdout, new RegExp(steps.join('[\\s\\S]*')), 'through every release in between');
    const migrated = parse(r.migrated) as Tree;
    t.equal(migrated._version, '2.15.0');
    t.equal(migrated.hostname, PUBLIC);
    t.strictSame(migrated.storage_service, current.storage_service);
    t.equal(migrated.database.password, current.database.password);
    t.equal(migrated.data_volume, current.data_volume);
  });
}
