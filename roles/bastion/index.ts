import { fileURLToPath } from 'node:url';
import type { Role, RoleContext } from '../../lib/run/types.ts';
import { directory, pkg, service, template } from '../../lib/steps/index.ts';
import { q } from '../../lib/transport/shell.ts';
import { loadedFiles } from '../shared/loaded.ts';

const DROP_IN = '/etc/ssh/sshd_config.d/00-harbormaster.conf';
const RELOAD = 'reload sshd';
const RECORD = 'record what sshd loaded';
/** What `sshd -T` must print once the drop-in is in effect. */
const EFFECTIVE = ['passwordauthentication no', 'pubkeyauthentication yes', 'permitemptypasswords no'];

const sshService = ({ facts }: RoleContext): string => (facts.osFamily === 'redhat' ? 'sshd' : 'ssh');

/**
 * Before sshd reloads: it must accept its configuration — else the drop-in is moved aside so no
 * later restart (a reboot) can lock us out — and the drop-in must be in effect (an sshd_config
 * without `Include sshd_config.d` ignores it).
 */
const CHECK = [
  `if ! out=$(sshd -t 2>&1); then mv -f ${q(DROP_IN)} ${q(`${DROP_IN}.rejected`)}`,
  `  echo "sshd rejects its configuration, not reloading; moved ${DROP_IN} to .rejected: $out" >&2; exit 1; fi`,
  'eff=$(sshd -T 2>/dev/null)',
  `for want in ${EFFECTIVE.map(q).join(' ')}; do`,
  `  printf '%s\\n' "$eff" | grep -qx "$want" || { echo "sshd's effective configuration lacks \\"$want\\": does /etc/ssh/sshd_config include ${DROP_IN}?" >&2; exit 1; }`,
  'done',
].join('\n');

const loaded = () =>
  loadedFiles({
    name: 'sshd runs the current config',
    paths: [DROP_IN, '/etc/ssh/sshd_config'],
    marker: '/etc/harbormaster/sshd.loaded',
    check: CHECK,
    notify: [RELOAD],
    recordName: RECORD,
  });

/**
 * Base hardening of the bastion, the only host reachable from outside: key-only SSH logins,
 * checked by sshd itself before it reloads. The web server is the proxy role's.
 */
const bastion: Role = {
  name: 'bastion',
  hosts: 'bastion',
  templateDir: fileURLToPath(new URL('../../templates/bastion', import.meta.url)),
  defaults: {
    /** prohibit-password: root only with a key (the lab logs in as root); `no` where an admin user exists. */
    sshd_permit_root_login: 'prohibit-password',
    sshd_max_auth_tries: 4,
  },
  steps: (ctx) => [
    pkg({ packages: 'openssh-server', tags: ['packages'] }),
    directory({ path: '/etc/harbormaster', mode: '0755', owner: 'root', group: 'root' }),
    template({ src: 'sshd-hardening.conf.njk', dest: DROP_IN, mode: '0644', owner: 'root', group: 'root', tags: ['config'] }),
    loaded().step,
    service({ service: sshService(ctx), state: 'started', enabled: true, tags: ['service'] }),
  ],
  handlers: (ctx) => [service({ name: RELOAD, service: sshService(ctx), state: 'reloaded' }), loaded().record],
};

export default bastion;
