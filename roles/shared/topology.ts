// The deployment's shape as the inventory tells it: which group holds which hosts, where each
// host listens on the private network, and the fixed numbers the registry and db roles agree on.
import type { Host, Inventory } from '../../lib/inventory/types.ts';

export const GROUPS = { bastion: 'bastion', registry: 'registry', database: 'database' } as const;

export const POSTGRES_PORT = 5432;
export const REDIS_PORT = 6379;

/**
 * The Redis databases Harbor uses (harbor.yml's external_redis; core is always 0), and the one
 * the distribution registry caches blob descriptors in (Harbor's registry index, as it would).
 */
export const REDIS_DBS = { core: 0, registry: 1, jobservice: 2, trivy: 5, harbor: 6, cache: 7 } as const;

/** The hosts of a group in inventory order; none when the inventory has no such group. */
export function groupHosts(inv: Inventory, group: string): Host[] {
  return [...inv.hosts.values()].filter((h) => h.groups.includes(group));
}

/** Where a host is reached on the private network: `private_ip`, else `ansible_host`, else its name. */
export function privateAddress(h: Host): string {
  return String(h.vars.private_ip ?? h.vars.ansible_host ?? h.name);
}

/** The db host the registries use: the first of the database group, or null without one. */
export function databaseHost(inv: Inventory): Host | null {
  return groupHosts(inv, GROUPS.database)[0] ?? null;
}

/** Harbor's database and its user on the db host (harbor.yml's external_database). */
export const HARBOR_DB = { name: 'harbor', user: 'harbor' } as const;
