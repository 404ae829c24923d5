// The db host's Redis (Debian's redis-server): Harbor's external Redis and the distribution
// registry's blob-descriptor cache, on the private address only, with the vault's password.
import type { Role } from '../../lib/run/types.ts';
import { command, pkg, service, template } from '../../lib/steps/index.ts';
import { loadedFiles } from '../shared/loaded.ts';
import { needSecret } from '../shared/deployment.ts';
import { dbHostRole, listenAddress } from '../shared/db-host.ts';
import { REDIS_PORT } from '../shared/topology.ts';
import { verifyService, waitUntil, type WaitOptions } from '../shared/verify.ts';

const ROLE = 'redis';
const SERVICE = 'redis-server';
/** Debian's init script and unit read this file; it holds the password, so redis only (0640). */
const CONFIG = '/etc/redis/redis.conf';

const RESTART = 'restart redis-server';
const READY = 'check redis-server answers';
const RECORD = 'record what redis-server loaded';

const loaded = loadedFiles({
  name: `${SERVICE} runs the current config`,
  paths: [CONFIG],
  marker: '/etc/harbormaster/redis-server.loaded',
  notify: [RESTART, READY],
  recordName: RECORD,
});

/** Answers on loopback (PONG, or NOAUTH: it wants the password, so it is up) within 10 s. */
const ready: WaitOptions = {
  test: `redis-cli -p ${REDIS_PORT} ping 2>&1 | grep -q -e PONG -e NOAUTH`,
  seconds: 10,
  sleep: 0.25,
  failure: `echo "${SERVICE} does not answer; log tail:" >&2; tail -n 20 /var/log/redis/redis-server.log >&2`,
};

const redis: Role = {
  ...dbHostRole(ROLE),
  steps: (ctx) => {
    const listen = listenAddress(ctx, ROLE, SERVICE);
    const password = needSecret(ctx.vars, 'redis_password', ROLE);
    if (/[\x00-\x1f"\\]/.test(password.reveal())) throw new Error(`role ${ROLE}: vault redis_password holds a quote, backslash or control character; pick another`);
    return [
      pkg({ packages: [SERVICE], tags: ['packages'] }),
      template({ src: 'redis.conf.njk', dest: CONFIG, mode: '0640', owner: 'redis', group: 'redis', vars: { listen, redis_port: REDIS_PORT }, tags: ['config'] }),
      loaded.step,
      service({ service: SERVICE, state: 'started', enabled: true, tags: ['service'] }),
      verifyService({ name: `${SERVICE} answers`, ...ready }),
    ];
  },
  handlers: () => [service({ name: RESTART, service: SERVICE, state: 'restarted' }), command({ name: READY, cmd: waitUntil(ready) }), loaded.record],
};

export default redis;
