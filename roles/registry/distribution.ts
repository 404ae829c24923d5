// registry_engine: distribution — the CNCF distribution registry (Debian/Ubuntu `docker-registry`)
// serving TLS itself with the deployment's certificate, htpasswd users from the vault.
import type { RoleContext } from '../../lib/run/types.ts';
import { command, directory, pkg, service, template, type Step } from '../../lib/steps/index.ts';
import { q } from '../../lib/transport/shell.ts';
import { flag } from './harbor.ts';
import { htpasswdFile } from './htpasswd.ts';
import { loadedFiles } from '../shared/loaded.ts';
import { servesCurrentCert, tlsPaths, tlsSteps } from '../shared/tls.ts';
import { verifyService, waitUntil } from '../shared/verify.ts';
import { need, needSecret } from '../shared/deployment.ts';
import { databaseHost, privateAddress, REDIS_DBS, REDIS_PORT } from '../shared/topology.ts';

const ROLE = 'registry';
export const SERVICE = 'docker-registry';
const USER = 'docker-registry';
const CONFIG_DIR = '/etc/docker/registry';
const BINARY = '/usr/bin/docker-registry';
const LOG = '/var/log/docker-registry.log';
const PIDFILE = '/var/run/docker-registry.pid';

const RESTART = 'restart docker-registry';
const HEALTH = 'check docker-registry health';
const RECORD = 'record what docker-registry loaded';

const DISTRIBUTION_PATHS = {
  config: `${CONFIG_DIR}/config.yml`,
  htpasswd: `${CONFIG_DIR}/htpasswd`,
};

/** GET /v2/ on this host under the public name, the certificate verified: prints the HTTP status. */
const statusOf = (publicName: string, port: number): string =>
  `curl -s -o /dev/null -w '%{http_code}' --max-time 3 --cacert ${q(tlsPaths().ca)} ` +
  `--resolve ${q(`${publicName}:${port}:127.0.0.1`)} ${q(`https://${publicName}:${port}/v2/`)}`;

/** Answers 401 (auth required) or 200 now, with the certificate on disk. */
const healthyNow = (publicName: string, port: number): string =>
  `case "$(${statusOf(publicName, port)})" in 401|200) ${servesCurrentCert(publicName, port)};; *) false;; esac`;

/**
 * Waits (up to ~15 s) until the registry answers; else the daemon's log tail: an init script may
 * report success for a registry that died at once.
 */
const untilHealthy = (publicName: string, port: number) => ({
  test: healthyNow(publicName, port),
  seconds: 15,
  sleep: 0.25,
  failure: `echo "docker-registry does not answer https://${publicName}:${port}/v2/ on this host with its current certificate; log tail:" >&2; tail -n 20 ${LOG} >&2`,
});

/**
 * A daemon running as its own user binds a port below net.ipv4.ip_unprivileged_port_start only
 * with CAP_NET_BIND_SERVICE on its binary (the lab lowers the sysctl; a stock host does not).
 * A package upgrade drops the capability; the next run sets it again.
 */
function bindCapability(port: number): Step[] {
  if (port >= 1024) return [];
  return [
    pkg({ packages: 'libcap2-bin', tags: ['packages'] }),
    command({
      name: `allow ${SERVICE} to bind port ${port}`,
      cmd: `setcap cap_net_bind_service=+ep ${BINARY}`,
      unless: `[ "$(sysctl -n net.ipv4.ip_unprivileged_port_start)" -le ${port} ] || getcap ${BINARY} | grep -q cap_net_bind_service`,
      notify: [RESTART, HEALTH, RECORD],
    }),
  ];
}

function portOf(vars: RoleContext['vars']): number {
  const port = Number(need(vars, 'registry_port', ROLE));
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`role ${ROLE}: registry_port ${String(vars.registry_port)} is not a port`);
  return port;
}

/** distribution reads its config, users and certificate only at start: any change means a restart. */
const loaded = () =>
  loadedFiles({
    name: `${SERVICE} runs the current config`,
    paths: [DISTRIBUTION_PATHS.config, DISTRIBUTION_PATHS.htpasswd, tlsPaths().cert, tlsPaths().key],
    marker: '/etc/harbormaster/docker-registry.loaded',
    notify: [RESTART, HEALTH],
    recordName: RECORD,
  });

/** With a db host, its Redis caches blob descriptors for every registry host (the password must be in the vault). */
function redisCache({ vars, inventory }: RoleContext): { addr: string; db: number } | null {
  const db = databaseHost(inventory);
  if (!db) return null;
  needSecret(vars, 'redis_password', ROLE);
  return { addr: `${privateAddress(db)}:${REDIS_PORT}`, db: REDIS_DBS.registry };
}

export function distributionSteps(ctx: RoleContext): Step[] {
  const { vars, facts } = ctx;
  if (facts.osFamily !== 'debian') {
    throw new Error(`role ${ROLE}: registry_engine distribution uses the Debian/Ubuntu ${SERVICE} package; ${facts.distribution} is not supported`);
  }
  const port = portOf(vars);
  const publicName = need<string>(vars, 'registry_public_name', ROLE);
  const storage = need<string>(vars, 'registry_storage', ROLE);
  if (storage !== 'filesystem' && storage !== 's3') throw new Error(`role ${ROLE}: registry_storage must be filesystem or s3, not ${storage}`);
  const dataDir = directory({ path: need<string>(vars, 'registry_data_dir', ROLE), mode: '0750', owner: USER, group: USER });
  const attrs = { mode: '0640', owner: 'root', group: USER, tags: ['config'] };
  return [
    pkg({ packages: [SERVICE, 'curl', 'openssl'], tags: ['packages'] }),
    ...bindCapability(port),
    ...tlsSteps({ role: ROLE, vars, readerGroup: USER }),
    ...(storage === 'filesystem' ? [dataDir] : []),
    directory({ path: CONFIG_DIR, mode: '0755', owner: 'root', group: 'root', tags: ['config'] }),
    htpasswdFile({ dest: DISTRIBUTION_PATHS.htpasswd, users: need(vars, 'registry_users', ROLE), ...attrs }),
    template({
      src: 'config.yml.njk',
      dest: DISTRIBUTION_PATHS.config,
      vars: { tls: tlsPaths(), htpasswd_path: DISTRIBUTION_PATHS.htpasswd, redis: redisCache(ctx), s3_redirect: storage === 's3' && flag(vars, 'registry_s3_redirect') },
      ...attrs,
    }),
    loaded().step,
    service({ service: SERVICE, state: 'started', enabled: true, tags: ['service'] }),
    // After the restart a changed config, certificate or port asks for: it checks the new daemon.
    verifyService({ name: `${SERVICE} answers`, ...untilHealthy(publicName, port) }),
  ];
}

/**
 * Debian's init script restarts by `stop; start` without waiting: start finds the old daemon
 * still alive and fails, and stop fails (set -e) when nothing runs. So: stop, wait, start.
 */
const SYSV_RESTART = [
  `pid=$(cat ${PIDFILE} 2>/dev/null || true)`,
  `service ${SERVICE} stop >/dev/null 2>&1 || true`,
  'i=0',
  'while [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; do',
  `  i=$((i+1)); [ $i -lt 50 ] || { echo "${SERVICE} (pid $pid) did not stop" >&2; exit 1; }`,
  '  sleep 0.2',
  'done',
  `service ${SERVICE} start`,
].join('\n');

/** Restart, check it answers, then record what it loaded. */
export function distributionHandlers({ vars, facts }: RoleContext): Step[] {
  const publicName = need<string>(vars, 'registry_public_name', ROLE);
  return [
    facts.init === 'systemd' ? service({ name: RESTART, service: SERVICE, state: 'restarted' }) : command({ name: RESTART, cmd: SYSV_RESTART }),
    command({ name: HEALTH, cmd: waitUntil(untilHealthy(publicName, portOf(vars))) }),
    loaded().record,
  ];
}
