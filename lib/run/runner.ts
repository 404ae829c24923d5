import { FactsCache } from '../facts/index.ts';
import { selectHosts } from '../inventory/limit.ts';
import type { Host, Inventory } from '../inventory/types.ts';
import { UserError } from '../errors.ts';
import type { ConnectionStats } from '../transport/connection.ts';
import { ConnectionPool } from '../transport/pool.ts';
import { connect } from './connect.ts';
import { INTERRUPTED_EXIT } from './interrupt.ts';
import { runRoleOnHost, type HostRun } from './host-role.ts';
import { nameMatcher } from './select.ts';
import { newTally } from './tally.ts';
import type { EventSink, HostRecap, Role, RunOptions } from './types.ts';

export interface RunResult {
  hosts: Record<string, HostRecap>;
  /** 0 all fine, 2 a host failed, 4 a host was unreachable (and none failed) — Ansible's codes; 130 interrupted. */
  exitCode: number;
  /** Per SSH connection (jump hosts included): handshakes, forwarded channels, round trips. */
  connections: Map<string, ConnectionStats & { via?: string }>;
}

/** Runs fn over items with at most `limit` at a time. */
export async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
}

/** The hosts of a role's pattern that --limit keeps; a role matching no host is simply not run. */
export function roleHosts(inv: Inventory, role: Role, limited: Set<string> | undefined): Host[] {
  let hosts: Host[];
  try {
    hosts = selectHosts(inv, role.hosts);
  } catch (err) {
    if (err instanceof UserError && /match(es|ed) no host/.test(err.message)) return [];
    throw err;
  }
  return limited ? hosts.filter((h) => limited.has(h.name)) : hosts;
}

/** The --limit selection (an error when it matches nothing), or undefined for all hosts. */
export function limitedHosts(inv: Inventory, limit: string | undefined): Set<string> | undefined {
  return limit ? new Set(selectHosts(inv, limit).map((h) => h.name)) : undefined;
}

/** The connections of a run: host key checking as asked, warnings as run events. */
export const runPool = (opts: Pick<RunOptions, 'hostKeyChecking'>, emit: EventSink): ConnectionPool =>
  new ConnectionPool({ hostKeyChecking: opts.hostKeyChecking }, (message) => emit({ type: 'warning', message }));

/**
 * Runs roles in order; each role on its hosts in parallel (--forks), or batch after batch
 * (--serial, a role's `serial`). One SSH connection per host for the whole run; a host that
 * fails or is unreachable takes no further part.
 */
export async function runRoles(inv: Inventory, roles: Role[], opts: RunOptions, emit: EventSink, connections?: ConnectionPool): Promise<RunResult> {
  const started = performance.now();
  const limited = limitedHosts(inv, opts.limit);
  // The caller's pool when its prepare already read the hosts: still one connection per host.
  const pool = connections ?? runPool(opts, emit);
  const facts = new FactsCache();
  const runs = new Map<string, HostRun>();
  const startMatcher = opts.startAt ? nameMatcher(opts.startAt) : undefined;
  emit({ type: 'run', roles: roles.map((r) => r.name), check: opts.check });
  let stats: RunResult['connections'];
  try {
    for (const role of roles) {
      if (opts.signal?.aborted) break;
      const hosts = roleHosts(inv, role, limited);
      if (hosts.length === 0 && !limited && !role.optional) emit({ type: 'warning', message: `role ${role.name}: no host matches "${role.hosts}"; skipped` });
      for (const h of hosts) {
        if (runs.has(h.name)) continue;
        const conn = connect(pool, inv, h, opts);
        runs.set(h.name, { host: h, conn, tally: newTally(), status: 'ok', started: !startMatcher });
      }
      const live = hosts.map((h) => runs.get(h.name)!).filter((r) => r.status === 'ok');
      if (live.length === 0) continue;
      emit({ type: 'role', role: role.name, hosts: live.map((r) => r.host.name) });
      const size = opts.serial ?? role.serial ?? live.length;
      for (let i = 0; i < live.length; i += size) {
        const batch = live.slice(i, i + size);
        // Hosts still waiting for a fork when the run is interrupted do not start.
        await mapLimit(batch, opts.forks, async (run) => (opts.signal?.aborted ? undefined : runRoleOnHost(role, run, { inventory: inv, facts, opts, startMatcher, emit })));
        if (opts.signal?.aborted) break;
        const failed = batch.filter((r) => r.status !== 'ok').map((r) => r.host.name);
        const rest = live.slice(i + size).map((r) => r.host.name);
        if (failed.length && rest.length) {
          // A rolling change that breaks one batch must not go on to break the next.
          emit({ type: 'warning', message: `role ${role.name}: ${failed.join(', ')} failed, so it did not run on ${rest.join(', ')} (serial ${size})` });
          break;
        }
      }
    }
    if (startMatcher && !opts.signal?.aborted && runs.size > 0 && [...runs.values()].every((r) => !r.started && r.status === 'ok')) {
      throw new UserError(`--start-at "${opts.startAt}": no step of the selected roles has that name`);
    }
  } finally {
    stats = pool.stats();
    pool.close();
  }
  const hosts: Record<string, HostRecap> = {};
  for (const [name, run] of runs) {
    const { exec, sftp } = run.conn.stats;
    hosts[name] = { ...run.tally, roundTrips: { exec, sftp } };
  }
  const interrupted = opts.signal?.aborted ? String(opts.signal.reason) : undefined;
  emit({ type: 'recap', hosts, wallMs: Math.round(performance.now() - started), check: opts.check, ...(interrupted ? { interrupted } : {}) });
  const statuses = [...runs.values()].map((r) => r.status);
  const exitCode = interrupted ? INTERRUPTED_EXIT : statuses.includes('failed') ? 2 : statuses.includes('unreachable') ? 4 : 0;
  return { hosts, connections: stats, exitCode };
}
