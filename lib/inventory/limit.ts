import { UserError } from '../errors.ts';
import { hostsUnder } from './order.ts';
import type { Host, Inventory } from './types.ts';

/**
 * The hosts a pattern selects, in inventory order — Ansible's host patterns (as in `--limit`):
 * host or group names; lists separated by `,` (or `:`); `!x` excludes, `&x` intersects (applied
 * after the plain terms, so `!x` alone means all but x); `*`, `?` and `[abc]` wildcards match
 * group and host names; `~regex`; `group[0]`, `group[1:3]`, `group[-1]` pick by position.
 * Only no pattern or `all` means every host: a pattern that parses to nothing, holds an empty
 * term (a stray `,` or `:`) or a stray bracket, a term that matches nothing, or a pattern that
 * leaves no host is a UserError naming it. A typo in a safety flag never widens a run.
 */
export function selectHosts(inv: Inventory, pattern?: string): Host[] {
  const all = [...inv.hosts.values()];
  if (pattern === undefined || pattern.trim() === 'all') return all;
  const terms = splitPattern(pattern);
  const bare = terms.find((t) => ['!', '&', '~', '!~', '&~'].includes(t));
  if (bare) throw new UserError(`host pattern '${pattern}': '${bare}' names nothing`);
  const plain = terms.filter((t) => !t.startsWith('!') && !t.startsWith('&'));
  let chosen = new Set<Host>(plain.length ? [] : all);
  for (const t of plain) for (const h of matchTerm(inv, t, pattern)) chosen.add(h);
  for (const t of terms.filter((t) => t.startsWith('&'))) {
    const those = new Set(matchTerm(inv, t.slice(1), pattern));
    chosen = new Set([...chosen].filter((h) => those.has(h)));
  }
  for (const t of terms.filter((t) => t.startsWith('!'))) for (const h of matchTerm(inv, t.slice(1), pattern)) chosen.delete(h);
  const result = all.filter((h) => chosen.has(h));
  if (result.length === 0) throw new UserError(`host pattern '${pattern}' matched no hosts in ${inv.file}`);
  return result;
}

/**
 * Ansible's split: commas if there are any, else colons outside `[...]` (a lone IPv6 address
 * stays whole). Unlike Ansible, which drops what it cannot read, an empty term or an unbalanced
 * bracket is an error: `-l '['` or `-l ' , '` must not quietly mean every host.
 */
export function splitPattern(pattern: string): string[] {
  const text = pattern.trim();
  const parts = text.includes(',') ? text.split(',') : IPV6.test(text) ? [text] : splitOutsideBrackets(text);
  const terms = parts.map((p) => p.trim());
  const problem = terms.some((t) => !t) ? `has an empty term (a stray ',' or ':')` : strayBracket(terms);
  if (problem) throw new UserError(`host pattern '${pattern}' ${problem}: give host or group names, e.g. web,db or web:!db`);
  return terms;
}

const IPV6 = /^[0-9a-fA-F]*:[0-9a-fA-F]*:[0-9a-fA-F:.]*$/;

/** `a:b[1:2]:c` → a, b[1:2], c (an unclosed `[` keeps the rest, for strayBracket to refuse). */
function splitOutsideBrackets(text: string): string[] {
  const parts = [''];
  let depth = 0;
  for (const c of text) {
    if (c === '[') depth++;
    else if (c === ']') depth--;
    if (c === ':' && depth <= 0) parts.push('');
    else parts[parts.length - 1] += c;
  }
  return parts;
}

/** Brackets outside a regex must pair up around something: `web[0]`, `web[1:3]`, `w[ae]b`. */
function strayBracket(terms: string[]): string | undefined {
  const bad = terms.find((t) => !/^[!&]?~/.test(t) && !/^(?:[^[\]]|\[[^[\]]+\])*$/.test(t.replace(/^[!&]/, '')));
  return bad === undefined ? undefined : `has a stray bracket in '${bad}'`;
}

function matchTerm(inv: Inventory, term: string, pattern: string): Host[] {
  if (inv.hosts.has(term)) return [inv.hosts.get(term)!];
  const { expr, pick } = splitSubscript(term);
  const test = matcher(expr, pattern);
  const groups = [...inv.groups.keys()].filter(test);
  const names = new Set(groups.flatMap((g) => hostsUnder(inv.groups, g)));
  // Ansible looks at host names too when no group matched or the pattern is a wildcard or regex.
  if (groups.length === 0 || /^~|[.?*[]/.test(expr)) for (const h of inv.hosts.keys()) if (test(h)) names.add(h);
  const hosts = [...names].map((n) => inv.hosts.get(n)!);
  if (hosts.length === 0) throw new UserError(`host pattern '${pattern}': '${term}' matches no host or group in ${inv.file}`);
  if (!pick) return hosts;
  const at = (i: number) => (i < 0 ? hosts.length + i : i);
  const from = at(pick.from);
  const to = pick.to === undefined ? from : pick.to === 'end' ? hosts.length - 1 : at(pick.to);
  if (from < 0 || from >= hosts.length || to < from) {
    throw new UserError(`host pattern '${pattern}': '${term}' selects past its ${hosts.length} host(s)`);
  }
  return hosts.slice(from, to + 1);
}

/** `web[0]`, `web[-1]`, `web[1:3]`, `web[2:]` (positions from 0, end inclusive). */
function splitSubscript(term: string): { expr: string; pick?: { from: number; to?: number | 'end' } } {
  if (term.startsWith('~')) return { expr: term };
  const m = /^(.+)\[(?:(-?\d+)|(\d+):(\d*))\]$/.exec(term);
  if (!m) return { expr: term };
  if (m[2] !== undefined) return { expr: m[1]!, pick: { from: Number(m[2]) } };
  return { expr: m[1]!, pick: { from: Number(m[3]), to: m[4] ? Number(m[4]) : 'end' } };
}

function matcher(expr: string, pattern: string): (name: string) => boolean {
  let re: RegExp;
  try {
    re = expr.startsWith('~') ? new RegExp(expr.slice(1)) : globRegExp(expr);
  } catch {
    throw new UserError(`host pattern '${pattern}': '${expr}' is not a valid pattern`);
  }
  // Like Python's re.match: anchored at the start only (globs are anchored at both ends).
  return (name) => re.exec(name)?.index === 0;
}

/** fnmatch: `*` any run, `?` one character, `[abc]` / `[!abc]` a class; the rest literal. */
function globRegExp(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    const close = c === '[' ? glob.indexOf(']', i + 2) : -1;
    if (c === '*') out += '.*';
    else if (c === '?') out += '.';
    else if (close > 0) {
      const body = glob.slice(i + 1, close);
      out += `[${body.startsWith('!') ? '^' + esc(body.slice(1)) : esc(body)}]`;
      i = close;
    } else out += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^(?:${out})$`, 's');
}

/** Inside a character class only `\`, `]` and `^` need escaping (`-` keeps its range meaning). */
const esc = (s: string) => s.replace(/[\\\]^]/g, '\\$&');
