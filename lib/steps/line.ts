import { common, requireAbsolute, StepError } from './base.ts';
import { FETCH_LIMIT } from './batch.ts';
import { attrsOf, attrChanges, fileState, writeFileAction, type FileAttrs } from './fileops.ts';
import type { Step, StepOptions } from './types.ts';

export interface LineOptions extends StepOptions, FileAttrs {
  path: string;
  /** The line to ensure (present) or remove (absent, when no regexp). */
  line?: string;
  /**
   * With `line`: the last line matching it is replaced by `line` (appended when none matches).
   * With state absent: every matching line is removed.
   * With `replace`: every match in the file is replaced (JavaScript `$1` references).
   */
  regexp?: string;
  replace?: string;
  state?: 'present' | 'absent';
  /** Where to append a missing line: after the last line matching this regexp (else at the end). */
  insertAfter?: string;
  /** Create the file when missing (else a missing file is an error). */
  create?: boolean;
}

function splitLines(text: string): { lines: string[]; finalNewline: boolean } {
  if (text === '') return { lines: [], finalNewline: true };
  const finalNewline = text.endsWith('\n');
  return { lines: (finalNewline ? text.slice(0, -1) : text).split('\n'), finalNewline };
}

const joinLines = (lines: string[], finalNewline: boolean): string =>
  lines.length === 0 ? '' : lines.join('\n') + (finalNewline ? '\n' : '');

function lastIndex(lines: string[], test: (l: string) => boolean): number {
  for (let i = lines.length - 1; i >= 0; i--) if (test(lines[i]!)) return i;
  return -1;
}

/** The file's text after the edit (pure: what `line` would make of `text`). */
export function editText(text: string, opts: LineOptions): string {
  const regexp = opts.regexp !== undefined ? new RegExp(opts.regexp) : undefined;
  if (opts.replace !== undefined) {
    if (!regexp) throw new StepError('line: replace needs regexp');
    return text.replace(new RegExp(regexp.source, 'gm'), opts.replace);
  }
  const { lines, finalNewline } = splitLines(text);
  const matches = (l: string): boolean => (regexp ? regexp.test(l) : l === opts.line);
  if ((opts.state ?? 'present') === 'absent') return joinLines(lines.filter((l) => !matches(l)), finalNewline);
  const line = opts.line;
  if (line === undefined) throw new StepError('line: give line (or regexp with replace)');
  const hit = regexp ? lastIndex(lines, (l) => regexp.test(l)) : -1;
  if (hit >= 0) lines[hit] = line;
  else if (!lines.includes(line)) {
    const after = opts.insertAfter !== undefined ? lastIndex(lines, (l) => new RegExp(opts.insertAfter!).test(l)) : -1;
    const at = after >= 0 ? after + 1 : lines.length;
    lines.splice(at, 0, line);
    // A line appended at the end gets its newline even if the file lacked a final one.
    return joinLines(lines, finalNewline || at === lines.length - 1);
  }
  return joinLines(lines, finalNewline);
}

/** Ensures a line is present or absent in a file, or replaces a regexp everywhere in it. */
export function line(opts: LineOptions): Step {
  const path = requireAbsolute(opts.path, 'line');
  const attrs = attrsOf(opts);
  const what = opts.replace !== undefined ? `replace /${opts.regexp}/` : (opts.line ?? `/${opts.regexp}/`);
  const base = common('line', opts, `line ${path}: ${what}`);
  return {
    ...base,
    reads: [path],
    writes: [path],
    probe: () => ({ files: [{ path, fetch: true }] }),
    async plan(state, env) {
      const current = fileState(state, path);
      if (current.type === 'absent' && !opts.create) throw new StepError(`${path} does not exist (set create: true to create it)`);
      if (current.type !== 'absent' && current.type !== 'file') throw new StepError(`${path} is a ${current.type}, not a file`);
      if (current.type === 'file' && !current.content) {
        throw new StepError(`${path} is larger than ${FETCH_LIMIT} bytes: too large for line edits`);
      }
      const before = current.content?.toString('utf8') ?? '';
      const after = editText(before, opts);
      const attrDiffs = current.type === 'file' ? attrChanges(current, attrs) : [];
      if (current.type === 'file' && after === before && attrDiffs.length === 0) return null;
      const sensitive = base.sensitive;
      return {
        summary: [current.type === 'absent' ? 'create' : after === before ? '' : 'edit', ...attrDiffs].filter(Boolean).join(', '),
        content: { path, exists: current.type !== 'absent', before: sensitive ? null : before, after: sensitive ? null : after, sensitive },
        action: writeFileAction(path, { bytes: Buffer.from(after) }, attrs, env.become),
      };
    },
  };
}
