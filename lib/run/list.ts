import { FactsCache } from '../facts/index.ts';
import type { Inventory } from '../inventory/types.ts';
import { redact } from '../secret.ts';
import type { ConnectionPool } from '../transport/pool.ts';
import { connect } from './connect.ts';
import { limitedHosts, mapLimit, roleHosts } from './runner.ts';
import { nameMatcher, roleSteps } from './select.ts';
import { roleVars, type Role, type RunOptions } from './types.ts';

/**
 * --list-steps: the steps each role would run, after --tags/--skip-tags/--start-at. Steps
 * depend on facts, so each host is asked for them (one exec); hosts with the same list share
 * one listing. Returns the text and how many role-and-host pairs could not be listed.
 */
export async function listSteps(inv: Inventory, roles: Role[], opts: RunOptions, pool: ConnectionPool): Promise<{ text: string; unlisted: number }> {
  let unlisted = 0;
  const limited = limitedHosts(inv, opts.limit);
  const facts = new FactsCache();
  const matcher = opts.startAt ? nameMatcher(opts.startAt) : undefined;
  const started = new Map<string, boolean>();
  const out: string[] = [];
  for (const role of roles) {
      const listings = new Map<string, string[]>();
      const hosts = roleHosts(inv, role, limited);
      const lines = new Map<string, string>();
      await mapLimit(hosts, opts.forks, async (host) => {
        let text: string;
        try {
          const conn = connect(pool, inv, host, opts);
          const ctx = { host, vars: roleVars(role, host, opts), facts: await facts.get(host.name, conn), inventory: inv, extraVars: opts.extraVars };
          const from = roleSteps(role, ctx, opts, matcher, started.get(host.name) ?? !matcher);
          started.set(host.name, from.started);
          const handlers = from.handlers;
          text = [
            ...from.steps.map((s, i) => `  ${String(i + 1).padStart(3)}. ${s.name}${s.tags.length ? `  [${s.tags.join(', ')}]` : ''}${s.notify.length ? `  -> ${s.notify.join(', ')}` : ''}`),
            ...(handlers.length ? [`  handlers: ${handlers.map((h) => h.name).join(', ')}`] : []),
          ].join('\n');
        } catch (err) {
          text = `  (cannot list: ${(err as Error).message})`;
          unlisted++;
        }
        lines.set(host.name, text);
      });
      for (const h of hosts) {
        const text = lines.get(h.name)!;
        listings.set(text, [...(listings.get(text) ?? []), h.name]);
      }
      for (const [text, names] of listings) out.push(`role ${role.name} [${names.join(', ')}]\n${text}\n`);
    }
  return { text: redact(out.join('\n')), unlisted };
}
