// Which connection reaches a host: `ansible_connection` in the inventory (ssh by default, or
// local: this machine), overridden for every host by `-c/--connection`.
import { UserError } from '../errors.ts';
import { sshTargetOf } from '../inventory/target.ts';
import type { Host, Inventory } from '../inventory/types.ts';
import type { ConnectionPool } from '../transport/pool.ts';
import type { Connection } from '../transport/types.ts';

export const CONNECTION_TYPES = ['ssh', 'local'] as const;
export type ConnectionType = (typeof CONNECTION_TYPES)[number];

/** The connection type a run uses for a host; Ansible's `smart` and `paramiko` are ssh here. */
export function connectionType(inv: Inventory, host: Host, override?: ConnectionType): ConnectionType {
  if (override) return override;
  const v = host.vars.ansible_connection;
  if (v === undefined || v === 'ssh' || v === 'smart' || v === 'paramiko') return 'ssh';
  if (v === 'local') return 'local';
  throw new UserError(`${inv.file}: host ${host.name}: ansible_connection ${JSON.stringify(v)} is not supported (ssh or local)`);
}

/** The pooled connection to a host for this run (opened at first use). */
export function connect(pool: ConnectionPool, inv: Inventory, host: Host, opts: { connection?: ConnectionType; knownHostsFile?: string }): Connection {
  if (connectionType(inv, host, opts.connection) === 'local') {
    // Ansible's local connection becomes only when asked, as the controller's user.
    const become = host.vars.ansible_become === true && process.getuid?.() !== 0;
    return pool.local(host.name, become);
  }
  return pool.get(sshTargetOf(inv, host, opts.knownHostsFile ? { knownHostsFile: opts.knownHostsFile } : {}));
}
