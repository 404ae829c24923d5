/**
 * Host entries in an inventory as Ansible reads them: `name`, `name:port`, `[v6::addr]:port`, and
 * ranges `web[01:03]`, `db-[a:c]`, `node[0:10:2]` that expand to several names.
 * Throws a plain Error with what is wrong; parsers add the file and line.
 */
export function expandHostEntry(entry: string): { names: string[]; port?: number } {
  const { name, port } = splitPort(entry.trim());
  if (!name) throw new Error(`'${entry}' is not a host name`);
  return port === undefined ? { names: expandRanges(name) } : { names: expandRanges(name), port };
}

function splitPort(entry: string): { name: string; port?: number } {
  const v6 = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(entry);
  if (v6) return v6[2] ? { name: v6[1]!, port: Number(v6[2]) } : { name: v6[1]! };
  // The port colon is the last one outside brackets; several such colons mean a bare IPv6 address.
  const colons = [...entry.matchAll(/:/g)].map((m) => m.index!).filter((i) => !insideBrackets(entry, i));
  if (colons.length !== 1) return { name: entry };
  const at = colons[0]!;
  const port = entry.slice(at + 1);
  if (!/^\d+$/.test(port)) throw new Error(`'${entry}' has a port that is not a number (write host:PORT)`);
  return { name: entry.slice(0, at), port: Number(port) };
}

function insideBrackets(text: string, index: number): boolean {
  const open = text.lastIndexOf('[', index);
  return open >= 0 && text.lastIndexOf(']', index) < open;
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** Expands the first `[begin:end(:step)]` range, then the rest recursively (Ansible's expand_hostname_range). */
function expandRanges(name: string): string[] {
  const m = /^([^[]*)\[([^\]]*:[^\]]*)\](.*)$/.exec(name);
  if (!m) return [name];
  const [, head, range, tail] = m as unknown as [string, string, string, string];
  const bounds = range.split(':');
  if (bounds.length > 3) throw new Error(`host range [${range}] must be begin:end or begin:end:step`);
  const begin = bounds[0] || '0';
  const end = bounds[1]!;
  const step = bounds[2] === undefined ? 1 : Number(bounds[2]);
  if (!end) throw new Error(`host range [${range}] has no end value`);
  if (!Number.isInteger(step) || step < 1) throw new Error(`host range [${range}] has a bad step`);
  const padded = begin.length > 1 && begin.startsWith('0');
  if (padded && begin.length !== end.length) {
    throw new Error(`host range [${range}] must give begin and end with the same number of digits`);
  }
  let items: string[];
  if (LETTERS.includes(begin) && LETTERS.includes(end) && begin.length === 1 && end.length === 1) {
    const from = LETTERS.indexOf(begin);
    const to = LETTERS.indexOf(end);
    if (from > to) throw new Error(`host range [${range}] must have begin <= end`);
    items = [...LETTERS.slice(from, to + 1)].filter((_, i) => i % step === 0);
  } else {
    if (!/^\d+$/.test(begin) || !/^\d+$/.test(end)) throw new Error(`host range [${range}] is neither numeric nor a letter range`);
    items = [];
    for (let i = Number(begin); i <= Number(end); i += step) items.push(padded ? String(i).padStart(begin.length, '0') : String(i));
  }
  return items.flatMap((item) => expandRanges(head + item + tail));
}
