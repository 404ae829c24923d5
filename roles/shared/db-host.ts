// What the db host's roles (postgres, redis) share: where they run and what they listen on.
import { isIP } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Role, RoleContext } from '../../lib/run/types.ts';
import { prepareDeployment } from './deployment.ts';
import { GROUPS, privateAddress } from './topology.ts';

/** A role of the database group (skipped quietly when the inventory has none), its templates in templates/<name>/. */
export function dbHostRole(name: string): Pick<Role, 'name' | 'hosts' | 'optional' | 'prepare' | 'templateDir'> {
  return { name, hosts: GROUPS.database, optional: true, prepare: prepareDeployment, templateDir: fileURLToPath(new URL(`../../templates/${name}`, import.meta.url)) };
}

/** The private address the service listens on (besides localhost); Debian's packaging only. */
export function listenAddress(ctx: RoleContext, role: string, pkg: string): string {
  if (ctx.facts.osFamily !== 'debian') throw new Error(`role ${role}: uses Debian's ${pkg} packaging; ${ctx.facts.distribution} is not supported`);
  const listen = privateAddress(ctx.host);
  if (!isIP(listen)) throw new Error(`role ${role}: host ${ctx.host.name} needs private_ip (an address) to listen on`);
  return listen;
}
