import type { Group, Host, Inventory } from './types.ts';

/**
 * What `ansible-inventory` prints, for scripts/inventory.mts. `hosts` narrows the output to a
 * selection (--limit): other hosts, and groups left without any selected host, are left out.
 */
export class InventoryView {
  readonly #chosen: Set<string>;
  readonly #limited: boolean;

  constructor(
    readonly inv: Inventory,
    hosts?: Host[],
  ) {
    this.#limited = hosts !== undefined;
    this.#chosen = new Set((hosts ?? [...inv.hosts.values()]).map((h) => h.name));
  }

  /** `--list`: each group's hosts and children, every host's variables under `_meta.hostvars`. */
  list(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const visit = (g: Group) => {
      const hosts = g.name === 'all' ? [] : this.#hostsOf(g);
      const children = this.#childrenOf(g);
      for (const kid of children) if (!(kid.name in out)) visit(kid);
      // Like ansible-inventory: empty keys are dropped, and then an empty group.
      const entry = { ...(hosts.length ? { hosts } : {}), ...(children.length ? { children: children.map((c) => c.name) } : {}) };
      if (Object.keys(entry).length) out[g.name] = entry;
    };
    visit(this.inv.groups.get('all')!);
    const hostvars: Record<string, unknown> = {};
    for (const name of this.#chosen) {
      const vars = this.inv.hosts.get(name)!.vars;
      if (Object.keys(vars).length) hostvars[name] = vars; // ansible-inventory leaves out hosts without variables
    }
    out._meta = { hostvars };
    return out;
  }

  /** `--graph`: the group tree, `@group:` lines with hosts under them. */
  graph(): string {
    const lines: string[] = [];
    const draw = (g: Group, depth: number) => {
      lines.push(`${'  |'.repeat(depth)}${depth ? '--' : ''}@${g.name}:`);
      for (const kid of this.#childrenOf(g)) draw(kid, depth + 1);
      if (g.name !== 'all') for (const h of this.#hostsOf(g)) lines.push(`${'  |'.repeat(depth + 1)}--${h}`);
    };
    draw(this.inv.groups.get('all')!, 0);
    return lines.join('\n');
  }

  #hostsOf(g: Group): string[] {
    return g.hosts.filter((h) => this.#chosen.has(h));
  }

  #childrenOf(g: Group): Group[] {
    const kids = g.children.map((c) => this.inv.groups.get(c)!);
    return this.#limited ? kids.filter((k) => this.#reaches(k)) : kids;
  }

  /** Whether a selected host is in the group or below it. */
  #reaches(g: Group): boolean {
    return this.#hostsOf(g).length > 0 || g.children.some((c) => this.#reaches(this.inv.groups.get(c)!));
  }
}

/** JSON as ansible-inventory writes it: keys sorted, 4-space indent; Secrets print as ********. */
export function ansibleJson(value: unknown): string {
  return JSON.stringify(sortKeys(value), null, 4);
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const obj = value as Record<string, unknown>;
    return Object.fromEntries(Object.keys(obj).sort().map((k) => [k, sortKeys(obj[k])]));
  }
  return value;
}
