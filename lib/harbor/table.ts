type Cell = string | number | boolean | undefined;

/** Rows (under a header when given), columns padded to their widest cell, two spaces apart. */
export function table(rows: Cell[][], header?: string[]): string {
  const cells = [...(header ? [header] : []), ...rows.map((r) => r.map((c) => (c === undefined ? '' : String(c))))];
  const widths = (cells[0] ?? []).map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}
