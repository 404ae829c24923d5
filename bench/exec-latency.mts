/**
 * Latency of one exec on an open connection (lib/transport), for a command with no output and
 * one that prints a line: through the bastion, output costs a Nagle/delayed-ACK stall unless the
 * bastion's sshd has TCP_NODELAY on its socket. Prints {host: {silent, output}} in ms (median of 15).
 * Usage: node --import=tsx bench/exec-latency.mts INVENTORY HOST...
 */
import { loadInventory } from '../lib/inventory/index.ts';
import { sshTargetOf } from '../lib/inventory/target.ts';
import { ConnectionPool } from '../lib/transport/pool.ts';
import { median } from './lib/stats.ts';

const [inventoryFile, ...hosts] = process.argv.slice(2) as [string, ...string[]];
const inv = await loadInventory(inventoryFile);
const pool = new ConnectionPool();
const out: Record<string, { silent: number; output: number }> = {};
try {
  for (const name of hosts) {
    const conn = pool.get(sshTargetOf(inv, inv.hosts.get(name)!));
    await conn.exec('true');
    const ms = async (script: string) => {
      const xs: number[] = [];
      for (let i = 0; i < 15; i++) {
        const t = performance.now();
        await conn.exec(script);
        xs.push(performance.now() - t);
      }
      return median(xs);
    };
    out[name] = { silent: await ms('true'), output: await ms('echo ok') };
  }
} finally {
  pool.close();
}
console.log(JSON.stringify(out));
