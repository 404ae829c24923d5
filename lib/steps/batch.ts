import { randomBytes } from 'node:crypto';

/** One step's probe in a batch, with its `when` guard (a shell test) if any. */
export interface ProbeEntry {
  probe: string;
  when?: string;
}

/** What a step's probe printed, or that its `when` test said to skip it. */
export type ProbeResult = { skip: true } | { skip: false; output: string };

/** Unguessable per exec, so no file content or command output can forge a delimiter. */
export const newToken = (): string => randomBytes(9).toString('hex');

const marker = (token: string, what: string): string => `printf '\\n@@${token} ${what}\\n'`;

/** One sh script running every probe (each in a subshell, stdin from /dev/null) between delimiters. */
export function probeScript(entries: ProbeEntry[], token: string): string {
  const parts = entries.map((e, i) => {
    const run = `${marker(token, `${i} run`)}\n( ${e.probe}\n) </dev/null`;
    if (!e.when) return run;
    return `if ( ${e.when}\n) </dev/null >/dev/null 2>&1; then\n${run}\nelse\n${marker(token, `${i} skip`)}\nfi`;
  });
  return [...parts, marker(token, 'end')].join('\n');
}

/** Splits a probe script's stdout back into one result per entry. */
export function parseProbeOutput(stdout: string, token: string, count: number): ProbeResult[] {
  const re = new RegExp(`\\n@@${token} (\\d+|end)(?: (run|skip))?\\n`, 'g');
  const marks = [...stdout.matchAll(re)];
  const results: ProbeResult[] = [];
  marks.forEach((m, k) => {
    if (m[1] === 'end') return;
    const next = marks[k + 1];
    if (Number(m[1]) !== results.length) throw new Error('probe output is garbled (delimiters out of order)');
    if (!next) throw new Error(`probe output is incomplete (${results.length} of ${count} steps answered)`);
    results.push(
      m[2] === 'skip' ? { skip: true } : { skip: false, output: stdout.slice(m.index! + m[0].length, next.index) },
    );
  });
  if (results.length !== count || marks.at(-1)?.[1] !== 'end') {
    throw new Error(`probe output is incomplete (${results.length} of ${count} steps answered)`);
  }
  return results;
}

/**
 * A change's script followed, in the same exec, by the probes of the steps after it: one round
 * trip per change. The change runs in a subshell with the exec's stdin; its output (stdout and
 * stderr) comes first, then its exit status, then the probe outputs (only when it succeeded).
 */
export function applyScript(change: string, probes: ProbeEntry[], token: string): string {
  return [
    `( ${change}\n) 2>&1`,
    'hm_rc=$?',
    `printf '\\n@@${token} applied %d\\n' "$hm_rc"`,
    `[ "$hm_rc" -eq 0 ] || exit "$hm_rc"`,
    probeScript(probes, token),
  ].join('\n');
}

export interface ApplyOutput {
  /** The change script's exit status (-1 when the exec ended before it reported). */
  code: number;
  log: string;
  /** Probes of the following steps (present only when the change succeeded). */
  probes: ProbeResult[] | null;
}

export function parseApplyOutput(stdout: string, token: string, count: number): ApplyOutput {
  const m = new RegExp(`\\n@@${token} applied (\\d+)\\n`).exec(stdout);
  if (!m) return { code: -1, log: stdout, probes: null };
  const code = Number(m[1]);
  const rest = stdout.slice(m.index + m[0].length);
  return { code, log: stdout.slice(0, m.index), probes: code === 0 ? parseProbeOutput(rest, token, count) : null };
}
