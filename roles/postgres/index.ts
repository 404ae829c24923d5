// The db host's PostgreSQL (Debian's postgresql package): Harbor's external database, on the
// private address only, TLS with the deployment's CA, the registry hosts admitted with SCRAM,
// and a backup the operator runs (`-t backup`).
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import type { Role, RoleContext } from '../../lib/run/types.ts';
import { command, pkg, service, template, type Step } from '../../lib/steps/index.ts';
import { loadedFiles } from '../shared/loaded.ts';
import { tlsPaths, tlsSteps } from '../shared/tls.ts';
import { need, needSecret } from '../shared/deployment.ts';
import { dbHostRole, listenAddress } from '../shared/db-host.ts';
import { groupHosts, GROUPS, HARBOR_DB, POSTGRES_PORT, privateAddress } from '../shared/topology.ts';
import { verifyService, waitUntil, type WaitOptions } from '../shared/verify.ts';

const ROLE = 'postgres';
const SERVICE = 'postgresql';
const TLS_DIR = '/etc/harbormaster/postgres-tls';
const BACKUP_SCRIPT = '/usr/local/sbin/harbormaster-postgres-backup';
/** A hash of the Harbor user's password as last set: the password itself never rests on the host. */
const PASSWORD_MARKER = '/etc/harbormaster/postgres-harbor-password.sha256';

const RESTART = 'restart postgresql';
const READY = 'check postgresql accepts connections';
const RECORD = 'record what postgresql loaded';

const paths = (version: string) => {
  const dir = `/etc/postgresql/${version}/main`;
  return { conf: `${dir}/conf.d/harbormaster.conf`, hba: `${dir}/pg_hba.conf` };
};

function versionOf(vars: RoleContext['vars']): string {
  const version = String(need(vars, 'postgres_version', ROLE));
  if (!/^\d+$/.test(version)) throw new Error(`role ${ROLE}: postgres_version "${version}" is not a major version like 15`);
  return version;
}

/** pg_hba addresses of the registry hosts: one address each (/32, /128), or a host name as given. */
function clientAddresses(ctx: RoleContext): string[] {
  return groupHosts(ctx.inventory, GROUPS.registry).map((h) => {
    const a = privateAddress(h);
    return isIP(a) === 4 ? `${a}/32` : isIP(a) === 6 ? `${a}/128` : a;
  });
}

const loaded = (version: string) =>
  loadedFiles({
    name: `${SERVICE} runs the current config`,
    paths: [paths(version).conf, paths(version).hba, tlsPaths(TLS_DIR).cert, tlsPaths(TLS_DIR).key],
    marker: '/etc/harbormaster/postgresql.loaded',
    notify: [RESTART, READY],
    recordName: RECORD,
  });

const psql = `runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 --port=${POSTGRES_PORT}`;

/**
 * Harbor's role and database. The password reaches psql through the environment (\getenv), never
 * argv; PostgreSQL stores it as a SCRAM verifier. Done when the role and database exist and the
 * marker holds this password's hash.
 */
function harborDatabase(ctx: RoleContext): Step {
  const password = needSecret(ctx.vars, 'harbor_db_password', ROLE);
  const hash = createHash('sha256').update(`harbormaster postgres ${HARBOR_DB.user}\0${password.reveal()}`).digest('hex');
  const { name, user } = HARBOR_DB;
  const sql = [
    `SELECT 'CREATE ROLE ${user} LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${user}') \\gexec`,
    `\\getenv pw HM_DB_PASSWORD`,
    `SET password_encryption = 'scram-sha-256';`,
    `ALTER ROLE ${user} WITH LOGIN PASSWORD :'pw';`,
    `SELECT 'CREATE DATABASE ${name} OWNER ${user}' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '${name}') \\gexec`,
    `REVOKE ALL ON DATABASE ${name} FROM PUBLIC;`,
  ].join('\n');
  const exists = `[ "$(${psql} -Atc "SELECT count(*) FROM pg_roles r, pg_database d WHERE r.rolname = '${user}' AND d.datname = '${name}' AND d.datdba = r.oid")" = 1 ]`;
  return command({
    name: `database ${name} and its user ${user}, password from the vault`,
    cmd: `${psql} <<'SQL'\n${sql}\nSQL\numask 077; echo ${hash} > ${PASSWORD_MARKER}`,
    env: { HM_DB_PASSWORD: password },
    unless: `[ "$(cat ${PASSWORD_MARKER} 2>/dev/null)" = ${hash} ] && ${exists}`,
    tags: ['database'],
  });
}

function backupSettings(vars: RoleContext['vars']): { dir: string; days: number } {
  const dir = String(need(vars, 'postgres_backup_dir', ROLE));
  const days = Number(need(vars, 'postgres_backup_keep_days', ROLE));
  if (!/^\/[A-Za-z0-9_./-]+$/.test(dir)) throw new Error(`role ${ROLE}: postgres_backup_dir "${dir}" must be an absolute path of letters, digits, _ . / -`);
  if (!Number.isInteger(days) || days < 1) throw new Error(`role ${ROLE}: postgres_backup_keep_days must be a whole number of days, at least 1`);
  return { dir, days };
}

const postgres: Role = {
  ...dbHostRole(ROLE),
  defaults: {
    /** Debian 12's; Ubuntu 22.04 has 14, 24.04 has 16. */
    postgres_version: '15',
    postgres_backup_dir: '/var/backups/postgresql',
    postgres_backup_keep_days: 7,
  },
  steps: (ctx) => {
    const listen = listenAddress(ctx, ROLE, SERVICE);
    const version = versionOf(ctx.vars);
    const backup = backupSettings(ctx.vars);
    const conf = { owner: 'postgres', group: 'postgres', tags: ['config'] };
    const vars = { postgres_port: POSTGRES_PORT, postgres_db: HARBOR_DB.name, postgres_user: HARBOR_DB.user };
    return [
      pkg({ packages: [SERVICE], tags: ['packages'] }),
      ...tlsSteps({ role: ROLE, vars: ctx.vars, readerGroup: 'postgres', dir: TLS_DIR, pemVars: { cert: 'db_tls_cert_pem', key: 'db_tls_key_pem' } }),
      template({ src: 'harbormaster.conf.njk', dest: paths(version).conf, mode: '0644', ...conf, vars: { ...vars, listen_addresses: `localhost,${listen}`, tls: tlsPaths(TLS_DIR) } }),
      template({ src: 'pg_hba.conf.njk', dest: paths(version).hba, mode: '0640', ...conf, vars: { ...vars, clients: clientAddresses(ctx) } }),
      loaded(version).step,
      service({ service: SERVICE, state: 'started', enabled: true, tags: ['service'] }),
      verifyService({ name: `${SERVICE} accepts connections`, ...ready }),
      harborDatabase(ctx),
      template({
        src: 'backup.sh.njk', dest: BACKUP_SCRIPT, mode: '0750', owner: 'root', group: 'root', tags: ['backup', 'config'],
        vars: { ...vars, postgres_backup_dir: backup.dir, postgres_backup_keep_days: backup.days },
      }),
      // An operator's chore, never part of a converge: `role.mts -i INV postgres -t backup`.
      command({ name: `back up database ${HARBOR_DB.name}`, cmd: BACKUP_SCRIPT, tags: ['backup', 'never'] }),
    ];
  },
  handlers: ({ vars }) => [service({ name: RESTART, service: SERVICE, state: 'restarted' }), command({ name: READY, cmd: waitUntil(ready) }), loaded(versionOf(vars)).record],
};

/** Up to ~15 s for the server to accept connections (a restart replays its log first). */
const ready: WaitOptions = {
  test: 'pg_isready -q -h 127.0.0.1',
  seconds: 15,
  sleep: 0.25,
  failure: 'echo "postgresql does not accept connections" >&2',
};

export default postgres;
