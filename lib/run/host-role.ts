import { resolve } from 'node:path';
import type { FactsCache } from '../facts/index.ts';
import type { Host, Inventory } from '../inventory/types.ts';
import { redact } from '../secret.ts';
import { applyScript, newToken, parseApplyOutput, parseProbeOutput, probeScript, type ProbeEntry, type ProbeResult } from '../steps/batch.ts';
import type { Action, Change, Step, StepEnv } from '../steps/types.ts';
import type { Connection } from '../transport/types.ts';
import { ConnectionLostError, UnreachableError } from '../transport/errors.ts';
import { q } from '../transport/shell.ts';
import { unifiedDiff } from './diff.ts';
import { mayAffect, roleSteps } from './select.ts';
import { count } from './tally.ts';
import { Interrupted } from './interrupt.ts';
import { roleVars, type EventSink, type HostRecap, type Role, type RoleContext, type RunOptions, type StepStatus } from './types.ts';

/** Where templates live: templates/<role>/ under the current directory (the project root). */
export const templatesRoot = (): string => resolve('templates');

/** Everything one host carries from role to role during a run. */
export interface HostRun {
  host: Host;
  conn: Connection;
  tally: HostRecap;
  status: 'ok' | 'failed' | 'unreachable' | 'interrupted';
  /** --start-at: whether this host has reached the named step yet. */
  started: boolean;
}

export interface RoleRunContext {
  inventory: Inventory;
  facts: FactsCache;
  opts: RunOptions;
  startMatcher?: (name: string) => boolean;
  emit: EventSink;
}

class HostFailed extends Error {}

const readsOf = (s: Step): string[] | undefined => (typeof s.when === 'string' ? undefined : s.reads);

function diffText(change: Change): string | undefined {
  const c = change.content;
  if (!c) return undefined;
  if (c.sensitive) return `--- ${c.path}\n+++ ${c.path}\n(content hidden: sensitive)\n`;
  const unknown = (c.exists && c.before === null) || c.after === null;
  if (unknown) return `--- ${c.path}\n+++ ${c.path}\n(content not shown: binary or larger than 1 MiB)\n`;
  return unifiedDiff(c.exists ? c.before : null, c.after, `${c.path} (host)`, `${c.path} (wanted)`);
}

/** Runs one role's steps, then its notified handlers, on one host. Updates the host's tally and status. */
export async function runRoleOnHost(role: Role, run: HostRun, rc: RoleRunContext): Promise<void> {
  const { host, conn, tally } = run;
  const { opts, emit } = rc;
  const event = (step: Step, handler: boolean, status: StepStatus, ms: number, extra: Record<string, string | undefined> = {}) => {
    count(tally, status);
    const clean = Object.fromEntries(
      Object.entries(extra).filter(([, v]) => v !== undefined).map(([k, v]) => [k, redact(v!)]),
    );
    emit({ type: 'step', role: role.name, host: host.name, step: step.name, kind: step.kind, handler, status, ms, ...clean });
  };
  const fail = (message: string) => {
    count(tally, 'failed');
    emit({ type: 'step', role: role.name, host: host.name, step: '(role)', kind: 'role', handler: false, status: 'failed', ms: 0, error: redact(message) });
    run.status = 'failed';
  };

  let env: StepEnv;
  let steps: Step[];
  let handlers: Step[];
  try {
    const facts = await rc.facts.get(host.name, conn);
    const ctx: RoleContext = { host, vars: roleVars(role, host, opts), facts, inventory: rc.inventory, extraVars: opts.extraVars };
    env = {
      host,
      vars: ctx.vars,
      facts,
      role: role.name,
      templateDir: role.templateDir ?? resolve(templatesRoot(), role.name),
      wantDiff: opts.diff,
      become: conn.become,
    };
    const selected = roleSteps(role, ctx, opts, rc.startMatcher, run.started);
    run.started = selected.started;
    steps = selected.steps;
    handlers = selected.handlers;
  } catch (err) {
    if (err instanceof UnreachableError || err instanceof ConnectionLostError) return unreachable(err);
    return fail((err as Error).message);
  }

  function unreachable(err: Error): void {
    count(tally, 'unreachable');
    run.status = 'unreachable';
    emit({ type: 'unreachable', role: role.name, host: host.name, error: redact(err.message) });
  }

  function probeEntries(list: Step[]): Promise<ProbeEntry[]> {
    return Promise.all(list.map(async (s) => ({ spec: await s.probe(env), when: typeof s.when === 'string' ? s.when : undefined })));
  }

  /** One exec probing all the given steps. */
  async function probe(list: Step[]): Promise<{ results: ProbeResult[]; stderr: string }> {
    const token = newToken();
    const entries = await probeEntries(list);
    const r = await conn.exec(probeScript(entries, token));
    return { results: parseProbeOutput(r.stdout, token, entries), stderr: r.stderr };
  }

  const stopping = () => opts.signal?.aborted === true;

  /** Runs a change; the steps in `next` are probed in the same exec. */
  async function apply(action: Action, step: Step, next: Step[]) {
    const token = newToken();
    if (action.upload) {
      await conn.upload(action.upload.local, action.upload.remote);
      // Interrupted while uploading: the staged file goes, the destination is left as it was.
      if (stopping()) {
        await conn.exec(`rm -f ${q(action.upload.remote)}`);
        throw new Interrupted(step.name, true);
      }
    }
    const script = action.upload ? `HM_UPLOAD=${q(action.upload.remote)}\n${action.script}` : action.script;
    const entries = await probeEntries(next);
    const r = await conn.exec(applyScript(script, entries, token), {
      stdin: action.stdin,
      timeoutMs: action.timeoutMs ?? step.timeoutMs,
    });
    const out = parseApplyOutput(r.stdout, token, entries);
    return { ...out, stderr: r.stderr };
  }

  /** Runs the notified handlers (in their declared order) and forgets the notifications. */
  async function flush(notified: Set<string>): Promise<boolean> {
    const due = handlers.filter((h) => notified.has(h.name));
    notified.clear();
    if (due.length) await walk(due, true, new Set());
    return due.length > 0;
  }

  /**
   * Walks steps in order: probe all at once, plan each, apply what differs (re-probing what it
   * may affect). A step declaring afterHandlers first flushes the pending handlers, then the
   * rest is probed again: a restart changes what checks see.
   */
  async function walk(list: Step[], handler: boolean, notified: Set<string>): Promise<void> {
    for (const s of list.filter((s) => s.when === false)) event(s, handler, 'skipped', 0, { summary: 'when: false' });
    const active = list.filter((s) => s.when !== false);
    const states: ProbeResult[] = [];
    let probeErr = '';
    const reprobe = async (from: number) => {
      const p = await probe(active.slice(from));
      states.splice(from, p.results.length, ...p.results);
      probeErr = p.stderr;
    };
    // A connection lost while probing is reopened once (by the next exec).
    await reprobe(0).catch((err) => (err instanceof ConnectionLostError ? reprobe(0) : Promise.reject(err)));
    let retried = -1;
    // Check mode writes nothing, so later probes still see the old files: a step that declares
    // it reads what an earlier step would write is predicted to change (and notify) too.
    const follows = new Map<number, string>();
    const predict = (from: number, writer: Step) => {
      for (let j = from + 1; j < active.length; j++) {
        const reads = readsOf(active[j]!);
        if (reads !== undefined && reads.length > 0 && !follows.has(j) && mayAffect(writer.writes, reads)) follows.set(j, writer.name);
      }
    };
    for (let i = 0; i < active.length; i++) {
      const step = active[i]!;
      if (stopping()) throw new Interrupted(step.name, false);
      if (step.afterHandlers && !handler && (await flush(notified))) {
        if (opts.check) {
          // Its probe saw the service before the handlers that would run first: no prediction.
          event(step, handler, 'skipped', 0, { summary: 'check mode: runs after the handlers above' });
          continue;
        }
        await reprobe(i);
      }
      const t0 = performance.now();
      const ms = () => Math.round(performance.now() - t0);
      emit({ type: 'step-start', role: role.name, host: host.name, step: step.name, handler });
      try {
        const state = states[i]!;
        const cause = follows.get(i);
        if (opts.check && cause !== undefined && !state.skip) {
          event(step, handler, 'changed', ms(), { summary: `would change after "${cause}"` });
          step.notify.forEach((n) => notified.add(n));
          predict(i, step);
          continue;
        }
        if (state.skip) {
          event(step, handler, 'skipped', ms(), { summary: 'when test failed' });
          continue;
        }
        let change: Change | null;
        try {
          change = await step.plan(state, env);
        } catch (err) {
          throw new Error([(err as Error).message, probeErr.trim()].filter(Boolean).join('; probe said: '));
        }
        if (!change) {
          // After a lost connection the change may have been made before the drop.
          event(step, handler, retried === i ? 'changed' : 'ok', ms());
          if (retried === i) step.notify.forEach((n) => notified.add(n));
          continue;
        }
        const diff = opts.diff ? diffText(change) : undefined;
        if (opts.check) {
          event(step, handler, 'changed', ms(), { summary: change.summary, diff });
          step.notify.forEach((n) => notified.add(n));
          predict(i, step);
          continue;
        }
        const rest = active.slice(i + 1);
        const stale = rest.map((s, j) => ({ s, j: i + 1 + j })).filter(({ s }) => mayAffect(step.writes, readsOf(s)));
        const out = await apply(change.action, step, stale.map((x) => x.s));
        const hidden = step.sensitive && step.kind === 'command';
        const output = hidden ? '(output hidden: sensitive)' : [out.log, out.stderr].filter((t) => t.trim()).join('\n').trim();
        if (out.code !== 0) {
          event(step, handler, 'failed', ms(), { summary: change.summary, diff, output, error: `exit status ${out.code < 0 ? 'unknown' : out.code}` });
          throw new HostFailed();
        }
        stale.forEach(({ j }, k) => (states[j] = out.probes![k]!));
        event(step, handler, 'changed', ms(), { summary: change.summary, diff, output: opts.verbose && output ? output : undefined });
        step.notify.forEach((n) => notified.add(n));
      } catch (err) {
        if (err instanceof HostFailed || err instanceof Interrupted) throw err;
        if (err instanceof ConnectionLostError && retried !== i) {
          // The connection dropped: the next exec reopens it (once); state is probed afresh.
          retried = i;
          await reprobe(i);
          i--;
          continue;
        }
        if (err instanceof UnreachableError || err instanceof ConnectionLostError) throw err;
        event(step, handler, 'failed', ms(), { error: (err as Error).message });
        throw new HostFailed();
      }
    }
  }

  const notified = new Set<string>();
  try {
    await walk(steps, false, notified);
    await flush(notified);
  } catch (err) {
    if (err instanceof HostFailed) run.status = 'failed';
    else if (err instanceof Interrupted) {
      run.status = 'interrupted';
      emit({ type: 'interrupted', role: role.name, host: host.name, step: err.step, rolledBack: err.rolledBack, signal: String(opts.signal?.reason) });
    }
    else if (err instanceof UnreachableError || err instanceof ConnectionLostError) unreachable(err);
    else fail((err as Error).message);
  }
}
