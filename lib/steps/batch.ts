import { randomBytes } from 'node:crypto';
import { q } from '../transport/shell.ts';
import type { FileQuery, FileState, ProbeSpec } from './types.ts';

/** Files up to this size are fetched (for --diff and line edits); larger ones are only hashed. */
export const FETCH_LIMIT = 1024 * 1024;

/** One step's probe in a batch, with its `when` guard (a shell test) if any. */
export interface ProbeEntry {
  spec: ProbeSpec;
  when?: string;
}

/**
 * What a step's probe found, or that its `when` test said to skip it. `files` holds every
 * path any step of the batch asked about.
 */
export type ProbeResult = { skip: true } | { skip: false; output: string; files: Map<string, FileState> };

/** Unguessable per exec, so no file content or command output can forge a delimiter. */
export const newToken = (): string => randomBytes(9).toString('hex');

const marker = (token: string, what: string): string => `printf '\\n@@${token} ${what}\\n'`;

/** Every path asked about, once, with the union of what was asked. */
function mergeQueries(entries: ProbeEntry[]): FileQuery[] {
  const byPath = new Map<string, FileQuery>();
  for (const e of entries) {
    for (const f of e.spec.files ?? []) {
      const seen = byPath.get(f.path) ?? { path: f.path };
      byPath.set(f.path, { path: f.path, hash: seen.hash || f.hash, fetch: seen.fetch || f.fetch });
    }
  }
  return [...byPath.values()];
}

/**
 * The files section: each path's type from shell tests (builtins), then ONE `stat` for all
 * that exist, ONE `sha256sum` for the regular files to hash, and the regular files to fetch
 * concatenated (each cut at FETCH_LIMIT + 1 bytes) through ONE `base64`. Probing many files
 * thus costs a handful of processes on the host, not a few per file.
 */
function filesScript(files: FileQuery[], token: string): string {
  const regular = (p: string) => `[ -f ${p} ] && [ ! -L ${p} ] && set -- "$@" ${p}`;
  const lines = [
    marker(token, 'files'),
    'hm_type() { if [ -L "$1" ]; then echo link; elif [ -d "$1" ]; then echo directory; ' +
      'elif [ -f "$1" ]; then echo file; elif [ -e "$1" ]; then echo other; else echo absent; return 1; fi; }',
    'set --',
    ...files.map((f) => `hm_type ${q(f.path)} && set -- "$@" ${q(f.path)}`),
    marker(token, 'stat'),
    `[ $# -eq 0 ] || stat -c '%a %u %U %g %G %s' -- "$@"`,
    marker(token, 'sha256'),
    'set --',
    ...files.filter((f) => f.hash).map((f) => regular(q(f.path))),
    '[ $# -eq 0 ] || sha256sum -- "$@"',
    marker(token, 'content'),
    'set --',
    ...files.filter((f) => f.fetch).map((f) => regular(q(f.path))),
    `[ $# -eq 0 ] || for f; do head -c ${FETCH_LIMIT + 1} -- "$f"; done | base64 -w0`,
  ];
  return lines.join('\n');
}

/** Reads the files section back into one FileState per path. */
function parseFiles(section: Map<string, string>, files: FileQuery[]): Map<string, FileState> {
  const garbled = () => new Error('files changed while they were probed; run again');
  const types = (section.get('files') ?? '').split('\n').filter(Boolean);
  if (types.length !== files.length) throw garbled();
  const out = new Map<string, FileState>();
  files.forEach((f, i) => out.set(f.path, { type: types[i] as FileState['type'] }));
  const present = files.filter((f) => out.get(f.path)!.type !== 'absent');
  const stats = (section.get('stat') ?? '').split('\n').filter(Boolean);
  if (stats.length !== present.length) throw garbled();
  present.forEach((f, i) => {
    const [mode, uid, user, gid, group, size] = stats[i]!.split(' ');
    Object.assign(out.get(f.path)!, { mode, uid, user, gid, group, size: Number(size) });
  });
  const isFile = (f: FileQuery) => out.get(f.path)!.type === 'file';
  const sums = (section.get('sha256') ?? '').split('\n').filter(Boolean);
  const hashed = files.filter((f) => f.hash && isFile(f));
  if (sums.length !== hashed.length) throw garbled();
  hashed.forEach((f, i) => (out.get(f.path)!.sha256 = /[0-9a-f]{64}/.exec(sums[i]!)?.[0]));
  const content = Buffer.from(section.get('content') ?? '', 'base64');
  let at = 0;
  for (const f of files.filter((f) => f.fetch && isFile(f))) {
    const state = out.get(f.path)!;
    const len = Math.min(state.size ?? 0, FETCH_LIMIT + 1);
    if (len <= FETCH_LIMIT) state.content = content.subarray(at, at + len);
    at += len;
  }
  if (at !== content.length) throw garbled();
  return out;
}

/**
 * One sh script probing every step between delimiters: first the files all steps asked about,
 * then each step's shell snippet as a function (a subshell per step would cost a fork:
 * snippets `return`, never `exit`), stdin from /dev/null.
 */
export function probeScript(entries: ProbeEntry[], token: string): string {
  const parts = entries.map((e, i) => {
    const run = `hm_probe() {\n${e.spec.shell ?? ':'}\n}\n${marker(token, `${i} run`)}\nhm_probe </dev/null`;
    if (!e.when) return run;
    return `if ( ${e.when}\n) </dev/null >/dev/null 2>&1; then\n${run}\nelse\n${marker(token, `${i} skip`)}\nfi`;
  });
  return [filesScript(mergeQueries(entries), token), ...parts, marker(token, 'end')].join('\n');
}

/** Splits a probe script's stdout back into one result per entry. */
export function parseProbeOutput(stdout: string, token: string, entries: ProbeEntry[]): ProbeResult[] {
  const re = new RegExp(`\\n@@${token} (\\d+|end|files|stat|sha256|content)(?: (run|skip))?\\n`, 'g');
  const marks = [...stdout.matchAll(re)];
  const incomplete = (n: number) => new Error(`probe output is incomplete (${n} of ${entries.length} steps answered)`);
  if (marks.at(-1)?.[1] !== 'end') throw incomplete(marks.filter((m) => /^\d/.test(m[1]!)).length);
  const sections = new Map<string, string>();
  const results: ProbeResult[] = [];
  const steps: { skip: boolean; output: string }[] = [];
  marks.forEach((m, k) => {
    if (m[1] === 'end') return;
    const body = stdout.slice(m.index! + m[0].length, marks[k + 1]!.index);
    if (!/^\d/.test(m[1]!)) return void sections.set(m[1]!, body);
    if (Number(m[1]) !== steps.length) throw new Error('probe output is garbled (delimiters out of order)');
    steps.push({ skip: m[2] === 'skip', output: body });
  });
  if (steps.length !== entries.length) throw incomplete(steps.length);
  const files = parseFiles(sections, mergeQueries(entries));
  for (const s of steps) results.push(s.skip ? { skip: true } : { skip: false, output: s.output, files });
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

export function parseApplyOutput(stdout: string, token: string, probes: ProbeEntry[]): ApplyOutput {
  const m = new RegExp(`\\n@@${token} applied (\\d+)\\n`).exec(stdout);
  if (!m) return { code: -1, log: stdout, probes: null };
  const code = Number(m[1]);
  const rest = stdout.slice(m.index + m[0].length);
  return { code, log: stdout.slice(0, m.index), probes: code === 0 ? parseProbeOutput(rest, token, probes) : null };
}
