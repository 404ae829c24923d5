// Where Apache keeps things on each OS family (the reference ran CentOS; the lab runs Debian).
import type { Facts } from '../../lib/facts/index.ts';

export interface ApacheLayout {
  packages: string[];
  service: string;
  /** Checks the whole configuration without touching the running server. */
  configtest: string;
  /** Where the vhost goes; on Debian it is enabled with a2ensite. */
  vhostPath: string;
  logDir: string;
  /** Debian only: modules enabled with a2enmod (RHEL's httpd loads them by default, mod_ssl included). */
  modules: string[];
}

export function apacheLayout(facts: Facts, vhost: string): ApacheLayout {
  if (facts.osFamily === 'debian') {
    return {
      packages: ['apache2'],
      service: 'apache2',
      configtest: 'apache2ctl configtest',
      vhostPath: `/etc/apache2/sites-available/${vhost}.conf`,
      logDir: '/var/log/apache2',
      // The balancer and its health checks serve several registry hosts (and cost nothing with one).
      modules: ['ssl', 'proxy', 'proxy_http', 'headers', 'alias', 'proxy_balancer', 'lbmethod_byrequests', 'slotmem_shm', 'proxy_hcheck'],
    };
  }
  if (facts.osFamily === 'redhat') {
    return {
      packages: ['httpd', 'mod_ssl'],
      service: 'httpd',
      configtest: 'apachectl configtest',
      vhostPath: `/etc/httpd/conf.d/${vhost}.conf`,
      logDir: '/var/log/httpd',
      modules: [],
    };
  }
  throw new Error(`role proxy: no Apache layout for ${facts.distribution} (osFamily ${facts.osFamily})`);
}
