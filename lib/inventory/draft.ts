import { inputError } from '../errors.ts';
import { expandHostEntry } from './host-pattern.ts';
import type { Vars } from './types.ts';

/** Where a definition came from, for error messages. */
export interface Where {
  file: string;
  line?: number | undefined;
}

export interface DraftGroup {
  name: string;
  children: string[];
  parents: string[];
  /** Hosts listed directly, in the order first listed. */
  hosts: string[];
  /** Variables written in the inventory file itself. */
  vars: Vars;
  /** ansible_group_priority: among groups of the same depth, higher wins. */
  priority: number;
}

export interface DraftHost {
  name: string;
  /** Variables written in the inventory file itself. */
  vars: Vars;
}

/**
 * Groups and hosts as an inventory parser reads them, before reconciling (implicit `all` and
 * `ungrouped`) and before variables are combined. Both the YAML and the INI parser fill one.
 */
export class InventoryDraft {
  readonly groups = new Map<string, DraftGroup>();
  readonly hosts = new Map<string, DraftHost>();

  constructor() {
    this.group('all');
    this.group('ungrouped');
    this.addChild('all', 'ungrouped', { file: '' });
  }

  group(name: string): DraftGroup {
    let g = this.groups.get(name);
    if (!g) {
      g = { name, children: [], parents: [], hosts: [], vars: {}, priority: 1 };
      this.groups.set(name, g);
    }
    return g;
  }

  addChild(parent: string, child: string, at: Where): void {
    if (parent === child) throw inputError(at.file, at.line, `group ${child} cannot be a child of itself`);
    const p = this.group(parent);
    const c = this.group(child);
    if (p.children.includes(child)) return;
    const loop = this.#pathDown(child, parent);
    if (loop) throw inputError(at.file, at.line, `making ${child} a child of ${parent} creates a group cycle: ${[parent, ...loop].join(' -> ')}`);
    p.children.push(child);
    c.parents.push(parent);
  }

  /** The chain of children from `from` down to `to`, if there is one. */
  #pathDown(from: string, to: string): string[] | undefined {
    if (from === to) return [to];
    for (const kid of this.groups.get(from)?.children ?? []) {
      const rest = this.#pathDown(kid, to);
      if (rest) return [from, ...rest];
    }
    return undefined;
  }

  /**
   * Adds the hosts of one inventory entry (`web[01:03]`, `db:2222`) to a group; a port in the entry
   * is ansible_port unless the variables say otherwise.
   */
  addHostEntry(group: string, entry: string, vars: Vars, at: Where): void {
    let expanded: ReturnType<typeof expandHostEntry>;
    try {
      expanded = expandHostEntry(entry);
    } catch (err) {
      throw inputError(at.file, at.line, (err as Error).message);
    }
    const port = expanded.port === undefined ? {} : { ansible_port: expanded.port };
    for (const host of expanded.names) this.#addHost(group, host, { ...port, ...vars });
  }

  /** Adds (or extends) a host in a group; later values of the same variable replace earlier ones. */
  #addHost(group: string, name: string, vars: Vars): void {
    let h = this.hosts.get(name);
    if (!h) {
      h = { name, vars: {} };
      this.hosts.set(name, h);
    }
    Object.assign(h.vars, vars);
    const g = this.group(group);
    if (!g.hosts.includes(name)) g.hosts.push(name);
  }

  setGroupVar(group: string, key: string, value: unknown, at: Where): void {
    const g = this.group(group);
    if (key !== 'ansible_group_priority') {
      g.vars[key] = value;
      return;
    }
    const priority = Number(value);
    if (!Number.isInteger(priority)) throw inputError(at.file, at.line, `ansible_group_priority of group ${group} must be an integer`);
    g.priority = priority;
  }

  /** Ansible's reconcile step: top-level groups hang under `all`; hosts in no group go to `ungrouped`. */
  reconcile(): void {
    for (const g of this.groups.values()) if (g.name !== 'all' && g.parents.length === 0) this.addChild('all', g.name, { file: '' });
    const inSomeGroup = new Set<string>();
    for (const g of this.groups.values()) if (g.name !== 'all' && g.name !== 'ungrouped') g.hosts.forEach((h) => inSomeGroup.add(h));
    const ungrouped = this.group('ungrouped');
    ungrouped.hosts = [...this.hosts.keys()].filter((h) => !inSomeGroup.has(h));
  }
}
