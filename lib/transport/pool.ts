import type { SshTarget } from '../inventory/types.ts';
import { HostConnection, type ConnectionStats, type TransportSettings } from './connection.ts';
import { KeyStore } from './keys.ts';
import { LocalConnection } from './local.ts';
import type { Connection } from './types.ts';

const DEFAULTS: TransportSettings = {
  hostKeyChecking: 'strict',
  connectTimeoutMs: 15_000,
  commandTimeoutMs: 600_000,
};

/**
 * One connection per target name for the whole run. A host behind a jump host gets its
 * session through a channel forwarded over the jump's single pooled connection.
 */
export class ConnectionPool {
  readonly settings: TransportSettings;
  #connections = new Map<string, HostConnection>();
  #local = new Map<string, LocalConnection>();
  #keys = new KeyStore();

  constructor(
    settings: Partial<TransportSettings> = {},
    private readonly warn: (message: string) => void = () => undefined,
  ) {
    this.settings = { ...DEFAULTS, ...settings };
    if (this.settings.hostKeyChecking === 'off') {
      warn('host key checking is OFF: any host key is accepted, connections can be intercepted');
    }
  }

  /** The pooled connection for this target (not opened until first used). */
  get(target: SshTarget): HostConnection {
    let conn = this.#connections.get(target.name);
    if (!conn) {
      conn = new HostConnection(
        target,
        this.settings,
        (jump, address, port) => this.get(jump).forwardOut(address, port),
        this.warn,
        this.#keys,
      );
      this.#connections.set(target.name, conn);
    }
    return conn;
  }

  /** A host reached as this machine (`ansible_connection: local`). */
  local(name: string, become = false): Connection {
    let conn = this.#local.get(name);
    if (!conn) this.#local.set(name, (conn = new LocalConnection(name, become, this.settings.commandTimeoutMs)));
    return conn;
  }

  /** Cost per connection name, for the recap and the benchmark. */
  stats(): Map<string, ConnectionStats & { via?: string }> {
    const out = new Map<string, ConnectionStats & { via?: string }>();
    for (const [name, conn] of this.#connections) {
      out.set(name, { ...conn.stats, ...(conn.target.jump ? { via: conn.target.jump.name } : {}) });
    }
    for (const [name, conn] of this.#local) out.set(name, { ...conn.stats });
    return out;
  }

  /** Closes inner (jumped) connections before the jump hosts that carry them. */
  close(): void {
    const conns = [...this.#connections.values()];
    for (const c of conns.filter((c) => c.target.jump)) c.close();
    for (const c of conns.filter((c) => !c.target.jump)) c.close();
    for (const c of this.#local.values()) c.close();
    this.#connections.clear();
    this.#local.clear();
  }
}
