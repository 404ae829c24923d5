/**
 * harbormaster's side of the upload benchmark: one pooled connection to HOST (through its jump
 * host, as the inventory says) and lib/transport's SFTP upload of LOCAL to REMOTE.
 * Prints {seconds, bytes, stats}; seconds run from before the SSH connections to the end of the upload.
 * Usage: node --import=tsx bench/upload.mts INVENTORY HOST LOCAL REMOTE
 */
import { stat } from 'node:fs/promises';
import { loadInventory } from '../lib/inventory/index.ts';
import { sshTargetOf } from '../lib/inventory/target.ts';
import { ConnectionPool } from '../lib/transport/pool.ts';

const [inventoryFile, hostName, local, remote] = process.argv.slice(2) as [string, string, string, string];
const inv = await loadInventory(inventoryFile);
const host = inv.hosts.get(hostName);
if (!host) throw new Error(`${inventoryFile}: no host ${hostName}`);
const target = sshTargetOf(inv, host);
const pool = new ConnectionPool();
const started = performance.now();
try {
  await pool.get(target).upload(local, remote);
  const seconds = (performance.now() - started) / 1000;
  console.log(JSON.stringify({ seconds, bytes: (await stat(local)).size, stats: Object.fromEntries(pool.stats()) }));
} finally {
  pool.close();
}
