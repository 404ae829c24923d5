// `ssh.mts tunnel`: a local port forwarded to a registry host's HTTPS through the one SSH
// connection to the bastion (the reference's hand-made `ssh -L`), for Harbor's web UI.
import { createServer, type Server, type Socket } from 'node:net';
import { sshTargetOf } from '../inventory/target.ts';
import type { Host, Inventory } from '../inventory/types.ts';
import { ConnectionPool } from '../transport/pool.ts';
import { UserError } from '../errors.ts';

export interface Tunnel {
  /** The local port (the one asked for, or the one the system picked for 0). */
  port: number;
  /** What the forwarded connections reach, e.g. `10.90.1.11:443 through bastion`. */
  reaches: string;
  close(): Promise<void>;
}

/**
 * Listens on 127.0.0.1:port; each connection becomes a channel from the bastion's connection to
 * the host's registry port (or, for a host reached directly, to its own 127.0.0.1). The SSH
 * connection is opened before listening, so a refused host key fails here and not per request.
 */
export async function openTunnel(inv: Inventory, host: Host, port: number, warn: (message: string) => void): Promise<Tunnel> {
  const target = sshTargetOf(inv, host);
  const registryPort = Number(host.vars.registry_port ?? 443);
  const pool = new ConnectionPool({ hostKeyChecking: 'strict' }, warn);
  const via = target.jump ? pool.get(target.jump) : pool.get(target);
  const address = target.jump ? target.address : '127.0.0.1';
  try {
    await via.ssh();
  } catch (err) {
    pool.close();
    throw new UserError((err as Error).message);
  }
  const sockets = new Set<Socket>();
  const server: Server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    via.forwardOut(address, registryPort).then(
      (channel) => {
        channel.on('error', () => sock.destroy());
        sock.pipe(channel as unknown as NodeJS.WritableStream);
        channel.pipe(sock);
      },
      (err: Error) => {
        warn(`tunnel: ${err.message}`);
        sock.destroy();
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      pool.close();
      reject(new UserError(err.code === 'EADDRINUSE' ? `port ${port} is in use on 127.0.0.1: pick another with --port` : `cannot listen on 127.0.0.1:${port}: ${err.message}`));
    });
    server.listen(port, '127.0.0.1', resolve);
  });
  const bound = (server.address() as { port: number }).port;
  return {
    port: bound,
    reaches: `${target.jump ? `${host.name} (${address}:${registryPort}) through ${target.jump.name}` : `${host.name}'s own port ${registryPort}`}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      pool.close();
    },
  };
}
