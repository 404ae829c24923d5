// registry_engine harbor with a db host: harbor.yml's external_database and external_redis point
// every Harbor node at the db host's PostgreSQL and Redis (roles/postgres, roles/redis) instead of
// the containers of its own compose project, so nodes share users, projects and sessions.
import type { RoleContext } from '../../lib/run/types.ts';
import type { Secret } from '../../lib/secret.ts';
import { needSecret } from '../shared/deployment.ts';
import { databaseHost, HARBOR_DB, POSTGRES_PORT, privateAddress, REDIS_DBS, REDIS_PORT } from '../shared/topology.ts';

export interface HarborExternal {
  db: { host: string; port: number; name: string; user: string; sslMode: string };
  redis: { host: string; password: Secret; dbs: typeof REDIS_DBS };
}

/**
 * The db host's services for harbor.yml, or null without a database group. TLS to PostgreSQL is
 * required (pg_hba admits nothing else); `require`, not `verify-full`: Harbor's containers do not
 * trust the deployment's CA.
 */
export function harborExternal(ctx: RoleContext): HarborExternal | null {
  const db = databaseHost(ctx.inventory);
  if (!db) return null;
  const address = privateAddress(db);
  return {
    db: { host: address, port: POSTGRES_PORT, name: HARBOR_DB.name, user: HARBOR_DB.user, sslMode: 'require' },
    redis: { host: `${address}:${REDIS_PORT}`, password: needSecret(ctx.vars, 'redis_password', 'registry'), dbs: REDIS_DBS },
  };
}
