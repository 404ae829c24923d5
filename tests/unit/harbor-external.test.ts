// registry_engine harbor beside a db host: harbor.yml carries external_database and
// external_redis for the db host, and Harbor's own prepare (its v2.15.2 installer) takes it
// without error or warning, pointing core, jobservice and the registry at PostgreSQL and Redis
// there and leaving its own database and Redis containers out of the compose file.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import type { Host, Inventory, Vars } from '../../lib/inventory/types.ts';
import { Secret } from '../../lib/secret.ts';
import registry from '../../roles/registry/index.ts';
import { installerScratch, pythonPrepare } from '../helpers/harbor-installer.ts';
import { context, DB, envOf, harborVars, s3Over } from '../fixtures/harbor/vars.ts';

const scratch = (await installerScratch('hm-harbor-external-')) ?? process.exit(0);
const REDIS = 'redis-Passw0rd-for-the-db-host';

const host = (name: string, groups: string[], vars: Vars): Host => ({ name, vars, groups: ['all', ...groups] });
const inventory: Inventory = {
  file: '/x/inventory.yaml',
  hosts: new Map([
    ['registry-1', host('registry-1', ['registry'], { private_ip: '10.177.1.11' })],
    ['registry-2', host('registry-2', ['registry'], { private_ip: '10.177.1.12' })],
    ['db-1', host('db-1', ['database'], { private_ip: '10.177.1.5' })],
  ]),
  groups: new Map(),
};

/** harbor.yml as the role renders it on registry-1 of that inventory. */
async function harborYml(vars: Vars): Promise<string> {
  const ctx = { ...context(vars), host: inventory.hosts.get('registry-1')!, inventory };
  const step = registry.steps(ctx).find((s) => s.name.endsWith('/harbor.yml'))!;
  const change = await step.plan({ output: '', files: new Map() }, envOf(vars, { wantDiff: true }));
  return String(change!.action.stdin);
}

for (const [name, over] of Object.entries({ filesystem: {}, S3: s3Over })) {
  t.test(`${name}: Harbor's prepare takes external_database and external_redis for the db host`, async (t) => {
    const vars = harborVars({ ...over, redis_password: new Secret(REDIS) });
    const text = await harborYml(vars);
    const yml = parse(text) as Record<string, any>;
    t.strictSame(yml.external_database.harbor, {
      host: '10.177.1.5', port: 5432, db_name: 'harbor', username: 'harbor', password: DB, ssl_mode: 'require', max_idle_conns: 100, max_open_conns: 900,
    });
    t.match(yml.external_redis, { host: '10.177.1.5:6379', password: REDIS, registry_db_index: 1, jobservice_db_index: 2, trivy_db_index: 5 });

    const r = await pythonPrepare(join(scratch, name), text);
    t.equal(r.code, 0, `prepare exits 0${r.code ? `: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`);
    t.notMatch(r.stdout + r.stderr, /warning|error/i, 'nothing warned about');
    const core = await readFile(join(r.dirs.config, 'core/env'), 'utf8');
    t.match(core, /^POSTGRESQL_HOST=10\.177\.1\.5$/m, 'core uses the db host');
    t.match(core, /^POSTGRESQL_SSLMODE=require$/m, 'over TLS');
    t.match(core, new RegExp(`^_REDIS_URL_CORE=redis://:${REDIS}@10\\.177\\.1\\.5:6379\\?`, 'm'), "core's Redis (database 0), with the password");
    t.match(core, new RegExp(`^_REDIS_URL_REG=redis://:${REDIS}@10\\.177\\.1\\.5:6379/1\\?`, 'm'));
    const registryConfig = parse(await readFile(join(r.dirs.config, 'registry/config.yml'), 'utf8')) as Record<string, any>;
    t.match(registryConfig.redis, { addr: '10.177.1.5:6379', password: REDIS, db: 1 }, "the registry's cache in Redis database 1");
    const compose = parse(await readFile(join(r.dirs.compose, 'docker-compose.yml'), 'utf8')) as Record<string, any>;
    t.notOk('postgresql' in compose.services, 'no database container');
    t.notOk('redis' in compose.services, 'no Redis container');
  });
}

t.test('without a db host harbor.yml has no external services', async (t) => {
  const ctx = context(harborVars());
  const step = registry.steps(ctx).find((s) => s.name.endsWith('/harbor.yml'))!;
  const change = await step.plan({ output: '', files: new Map() }, envOf(harborVars(), { wantDiff: true }));
  const yml = parse(String(change!.action.stdin)) as Record<string, unknown>;
  t.notOk('external_database' in yml);
  t.notOk('external_redis' in yml);
});
