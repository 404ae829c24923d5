/** A line diff (Myers' O(ND) algorithm) printed as a unified diff, like `diff -u`. */

export interface DiffOp {
  op: ' ' | '-' | '+';
  line: string;
}

/** Beyond this many differing lines the shortest edit script is not worth its memory: replace all. */
const MAX_EDITS = 4000;

/** Shortest edit script from a to b. */
export function diffLines(a: string[], b: string[]): DiffOp[] {
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) endA--, endB--;
  const head = a.slice(0, start).map((line): DiffOp => ({ op: ' ', line }));
  const tail = a.slice(endA).map((line): DiffOp => ({ op: ' ', line }));
  return [...head, ...middle(a.slice(start, endA), b.slice(start, endB)), ...tail];
}

function middle(a: string[], b: string[]): DiffOp[] {
  const n = a.length;
  const m = b.length;
  const replaceAll = (): DiffOp[] => [
    ...a.map((line): DiffOp => ({ op: '-', line })),
    ...b.map((line): DiffOp => ({ op: '+', line })),
  ];
  if (n === 0 || m === 0) return replaceAll();
  // trace[d][k + d] = furthest x on diagonal k after d edits.
  const trace: Int32Array[] = [];
  let prev = new Int32Array(1);
  for (let d = 0; d <= Math.min(n + m, MAX_EDITS); d++) {
    const v = new Int32Array(2 * d + 1);
    const at = (k: number) => prev[k + d - 1]!;
    for (let k = -d; k <= d; k += 2) {
      let x = d === 0 ? 0 : k === -d || (k !== d && at(k - 1) < at(k + 1)) ? at(k + 1) : at(k - 1) + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) x++, y++;
      v[k + d] = x;
      if (x >= n && y >= m) {
        trace.push(v);
        return backtrack(trace, a, b);
      }
    }
    trace.push(v);
    prev = v;
  }
  return replaceAll();
}

function backtrack(trace: Int32Array[], a: string[], b: string[]): DiffOp[] {
  const out: DiffOp[] = [];
  let x = a.length;
  let y = b.length;
  for (let d = trace.length - 1; d > 0; d--) {
    const v = trace[d - 1]!;
    const at = (k: number) => v[k + d - 1]!;
    const k = x - y;
    const prevK = k === -d || (k !== d && at(k - 1) < at(k + 1)) ? k + 1 : k - 1;
    const prevX = at(prevK);
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) out.push({ op: ' ', line: a[--x]! }), y--;
    if (x === prevX) out.push({ op: '+', line: b[--y]! });
    else out.push({ op: '-', line: a[--x]! });
  }
  while (x > 0) out.push({ op: ' ', line: a[--x]! }), y--;
  return out.reverse();
}

/** Lines with their newline kept, so a missing final newline is a difference too. */
function splitKeep(text: string): string[] {
  return text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}

function show(op: DiffOp): string {
  const body = op.line.endsWith('\n') ? op.line : `${op.line}\n\\ No newline at end of file\n`;
  return op.op + body;
}

/** `diff -u` output between two texts (null: no such file); empty when they are equal. */
export function unifiedDiff(before: string | null, after: string | null, from: string, to: string, context = 3): string {
  const ops = diffLines(splitKeep(before ?? ''), splitKeep(after ?? ''));
  const changed = ops.map((o, i) => (o.op === ' ' ? -1 : i)).filter((i) => i >= 0);
  if (changed.length === 0) return '';
  // Hunks: runs of changes closer than 2*context lines share their context.
  const hunks: [number, number][] = [];
  for (const i of changed) {
    const last = hunks.at(-1);
    if (last && i - last[1] <= 2 * context) last[1] = i;
    else hunks.push([i, i]);
  }
  // Line numbers in a and b where each op starts.
  const posA: number[] = [];
  const posB: number[] = [];
  let la = 1;
  let lb = 1;
  for (const o of ops) {
    posA.push(la);
    posB.push(lb);
    if (o.op !== '+') la++;
    if (o.op !== '-') lb++;
  }
  const out = [`--- ${before === null ? '/dev/null' : from}\n`, `+++ ${after === null ? '/dev/null' : to}\n`];
  for (const [first, lastChange] of hunks) {
    const s = Math.max(0, first - context);
    const e = Math.min(ops.length - 1, lastChange + context);
    const slice = ops.slice(s, e + 1);
    const lenA = slice.filter((o) => o.op !== '+').length;
    const lenB = slice.filter((o) => o.op !== '-').length;
    const startA = lenA ? posA[s]! : posA[s]! - 1;
    const startB = lenB ? posB[s]! : posB[s]! - 1;
    out.push(`@@ -${startA},${lenA} +${startB},${lenB} @@\n`, ...slice.map(show));
  }
  return out.join('');
}
