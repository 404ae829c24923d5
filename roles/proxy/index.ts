import { fileURLToPath } from 'node:url';
import { roleVars, type Role, type RoleContext } from '../../lib/run/types.ts';
import { command, pkg, service, template, type Step } from '../../lib/steps/index.ts';
import { loadedFiles } from '../shared/loaded.ts';
import { servesCurrentCert, tlsPaths, tlsSteps } from '../shared/tls.ts';
import { verifyService } from '../shared/verify.ts';
import { need, prepareDeployment } from '../shared/deployment.ts';
import { groupHosts, GROUPS, privateAddress } from '../shared/topology.ts';
import registry from '../registry/index.ts';
import { apacheLayout, type ApacheLayout } from './apache.ts';

const ROLE = 'proxy';
const VHOST = 'registry_ssl';
const RELOAD = 'reload apache';
const RECORD = 'record what apache loaded';
const DEBIAN_DEFAULT_SITE = '000-default';
const DEBIAN_DEFAULT_LINK = `/etc/apache2/sites-enabled/${DEBIAN_DEFAULT_SITE}.conf`;

export interface Backend {
  /** The registry host's inventory name (the balancer's route), or `registry_backend`. */
  route: string;
  url: string;
  /** The balancer member: the URL without a path (mod_proxy_hcheck prefixes the member's path to hcuri). */
  member: string;
  /** What mod_proxy_hcheck GETs: the registry's `/v2/` (401 or 200 is healthy) or Harbor's `/api/v2.0/ping`. */
  healthPath: string;
}

/** The balancer's name; registry hosts take themselves out of it at https://<proxy>/balancer-manager. */
export const BALANCER = 'registry';

/**
 * Where the proxy sends requests: `registry_backend` (host[:port]) when set, else every host of
 * the registry group by its private address and the port and engine the registry role uses
 * there in this run (its defaults < that host's vars < extra vars).
 */
export function backends({ vars, inventory, extraVars }: RoleContext): Backend[] {
  if (vars.registry_backend !== undefined) {
    const member = `https://${String(vars.registry_backend)}`;
    return [{ route: 'registry_backend', url: `${member}/`, member, healthPath: '/v2/' }];
  }
  return groupHosts(inventory, GROUPS.registry).map((h) => {
    const hv = roleVars(registry, h, { extraVars });
    const port = Number(hv.registry_port);
    const member = `https://${privateAddress(h)}${port === 443 ? '' : `:${port}`}`;
    return { route: h.name, url: `${member}/`, member, healthPath: hv.registry_engine === 'harbor' ? '/api/v2.0/ping' : '/v2/' };
  });
}

/** Apache has loaded the vhost, the TLS files and (Debian) the enabled modules and sites; else configtest, reload. */
function loaded(apache: ApacheLayout) {
  const tls = tlsPaths();
  const enabled = apache.modules.length ? ['/etc/apache2/mods-enabled', '/etc/apache2/sites-enabled'] : [];
  return loadedFiles({
    name: 'apache runs the current config',
    paths: [apache.vhostPath, tls.ca, tls.cert, tls.key, ...enabled],
    marker: '/etc/harbormaster/apache.loaded',
    check: `${apache.configtest} || { echo "the Apache configuration is invalid: not reloading" >&2; exit 1; }`,
    notify: [RELOAD],
    recordName: RECORD,
  });
}

/** Debian: the modules and the site, enabled by the distribution's own tools. */
function debianEnable(apache: ApacheLayout): Step[] {
  if (apache.modules.length === 0) return [];
  const mods = apache.modules;
  return [
    command({
      name: `a2enmod ${mods.join(' ')}`,
      cmd: `a2enmod -q ${mods.join(' ')}`,
      unless: mods.map((m) => `[ -e /etc/apache2/mods-enabled/${m}.load ]`).join(' && '),
      tags: ['config'],
    }),
    command({ name: `a2ensite ${VHOST}`, cmd: `a2ensite -q ${VHOST}`, creates: `/etc/apache2/sites-enabled/${VHOST}.conf`, tags: ['config'] }),
    // Debian's welcome page would answer port 80 for any name; the vhost redirects it to https instead.
    command({
      name: `a2dissite ${DEBIAN_DEFAULT_SITE}`,
      cmd: `a2dissite -q ${DEBIAN_DEFAULT_SITE}`,
      unless: `[ ! -e ${DEBIAN_DEFAULT_LINK} ] && [ ! -L ${DEBIAN_DEFAULT_LINK} ]`,
      tags: ['config'],
    }),
  ];
}

/** RHEL with SELinux enforcing: httpd may not open connections to the backend unless allowed. */
function selinuxAllowProxy(ctx: RoleContext): Step[] {
  if (ctx.facts.osFamily !== 'redhat') return [];
  return [
    command({
      name: 'selinux: httpd_can_network_connect',
      cmd: 'setsebool -P httpd_can_network_connect 1',
      when: 'command -v getsebool && selinuxenabled',
      unless: 'getsebool httpd_can_network_connect | grep -q "on$"',
    }),
  ];
}

/**
 * The public face of the registry on the bastion: Apache terminating TLS for the public name and
 * proxying to the registry host over TLS it verifies (the reference did not). Needs the vars of
 * deploymentVars (roles/shared/deployment.ts).
 */
const proxy: Role = {
  name: ROLE,
  hosts: 'bastion',
  prepare: prepareDeployment,
  templateDir: fileURLToPath(new URL('../../templates/proxy', import.meta.url)),
  steps: (ctx) => {
    const apache = apacheLayout(ctx.facts, VHOST);
    const publicName = need<string>(ctx.vars, 'registry_public_name', ROLE);
    const members = backends(ctx);
    if (members.length === 0) throw new Error(`role ${ROLE}: the inventory has no registry host to proxy to; add one to group ${GROUPS.registry} or set registry_backend`);
    const balanced = members.length > 1;
    return [
      pkg({ packages: [...apache.packages, 'openssl'], tags: ['packages'] }),
      ...tlsSteps({ role: ROLE, vars: ctx.vars }),
      template({
        src: `${VHOST}.conf.njk`,
        dest: apache.vhostPath,
        mode: '0644',
        owner: 'root',
        group: 'root',
        vars: { apache, tls: tlsPaths(), backends: members, balanced, balancer: BALANCER, manager_clients: groupHosts(ctx.inventory, GROUPS.registry).map(privateAddress) },
        tags: ['config'],
      }),
      ...debianEnable(apache),
      ...selinuxAllowProxy(ctx),
      loaded(apache).step,
      service({ service: apache.service, state: 'started', enabled: true, tags: ['service'] }),
      // A graceful reload takes a moment to reach every worker.
      verifyService({
        name: `${apache.service} serves the current certificate`,
        test: servesCurrentCert(publicName, 443),
        seconds: 10,
        sleep: 0.25,
        failure: `echo "${apache.service} does not serve ${tlsPaths().cert} for ${publicName} on port 443; error log tail:" >&2; tail -n 20 ${apache.logDir}/${VHOST}_error.log >&2`,
      }),
    ];
  },
  handlers: (ctx) => {
    const apache = apacheLayout(ctx.facts, VHOST);
    return [service({ name: RELOAD, service: apache.service, state: 'reloaded' }), loaded(apache).record];
  },
};

export default proxy;
