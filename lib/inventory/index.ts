/**
 * Inventories: Ansible's YAML and INI formats, with group_vars/ and host_vars/ next to the file.
 *
 * Variable precedence, lowest first — Ansible's default (VARIABLE_PRECEDENCE), checked against
 * ansible-inventory in tests/unit/inventory-cli.test.ts:
 *   1. vars of group `all` written in the inventory file
 *   2. vars of the host's other groups written in the inventory file, in group order
 *   3. group_vars/all
 *   4. group_vars/GROUP for the host's other groups, in group order
 *   5. the host's vars written in the inventory file (a later mention of the host wins)
 *   6. host_vars/HOST
 * Group order: by depth below `all` (parents before children; a group's depth is its longest path
 * from `all`), then ansible_group_priority (default 1, higher later), then name. So a child group
 * beats its parent, a group_vars file beats the same group's inline vars — and, as in Ansible, any
 * group_vars file beats every inline group var, even a deeper group's. Values replace whole (no
 * merging of mappings), like Ansible's default hash_behaviour.
 */
import { dirname, extname, join, resolve } from 'node:path';
import { UserError } from '../errors.ts';
import { InventoryDraft } from './draft.ts';
import type { DraftGroup } from './draft.ts';
import { parseIniInventory } from './ini-inventory.ts';
import { hostsUnder } from './order.ts';
import type { Group, Host, Inventory, Vars } from './types.ts';
import { readSource, readVarsDir } from './var-files.ts';
import { parseYamlInventory } from './yaml-inventory.ts';
import { readYaml } from './yaml-values.ts';
import type { Decrypt } from './yaml-values.ts';

export type { Decrypt } from './yaml-values.ts';
export { VaultPasswordNeeded } from './yaml-values.ts';
export { selectHosts } from './limit.ts';
export { sshTargetOf } from './target.ts';
export type { Group, Host, Inventory, SshTarget, Vars } from './types.ts';

export interface LoadOptions {
  /** Decrypts Ansible vault text (`!vault |` values, vault-encrypted files); without it they are errors. */
  decrypt?: Decrypt;
}

export async function loadInventory(file: string, opts: LoadOptions = {}): Promise<Inventory> {
  const path = resolve(file);
  const { text, encrypted } = await readSource(path, opts.decrypt);
  const draft = new InventoryDraft();
  if (looksLikeYaml(path, text)) parseYamlInventory(readYaml(path, text, opts.decrypt, encrypted), draft);
  else if (encrypted) throw new UserError(`${path}: a vault-encrypted inventory must be YAML`);
  else parseIniInventory(path, text, draft);
  draft.reconcile();
  const dir = dirname(path);
  const [groupFiles, hostFiles] = await Promise.all([
    readVarsDir(join(dir, 'group_vars'), draft.groups.keys(), opts.decrypt),
    readVarsDir(join(dir, 'host_vars'), draft.hosts.keys(), opts.decrypt),
  ]);
  return combine(path, draft, groupFiles, hostFiles);
}

/** By extension; otherwise by the first line that is not blank or a comment (INI starts with `[group]` or a host). */
function looksLikeYaml(path: string, text: string): boolean {
  const ext = extname(path).toLowerCase();
  if (['.yaml', '.yml', '.json'].includes(ext)) return true;
  if (['.ini', '.cfg', '.hosts'].includes(ext)) return false;
  const first = text.split(/\r?\n/).find((l) => l.trim() && !/^\s*[#;]/.test(l)) ?? '';
  return /^(?:---|\{|%YAML)/.test(first) || /^["']?[\w.@-]+["']?\s*:(?:\s|$)/.test(first);
}

function combine(file: string, draft: InventoryDraft, groupFiles: Map<string, Vars>, hostFiles: Map<string, Vars>): Inventory {
  const depth = depths(draft);
  const byPrecedence = (a: DraftGroup, b: DraftGroup) =>
    depth.get(a.name)! - depth.get(b.name)! || a.priority - b.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

  const groups = new Map<string, Group>();
  for (const g of draft.groups.values()) {
    groups.set(g.name, { name: g.name, children: [...g.children], hosts: [...g.hosts], vars: { ...g.vars, ...groupFiles.get(g.name) } });
  }

  const direct = new Map<string, DraftGroup[]>();
  for (const g of draft.groups.values()) for (const h of g.hosts) direct.set(h, [...(direct.get(h) ?? []), g]);

  const hosts = new Map<string, Host>();
  for (const name of hostsUnder(draft.groups, 'all')) {
    const h = draft.hosts.get(name)!;
    const mine = withAncestors(draft, direct.get(name)!).sort(byPrecedence);
    const vars: Vars = Object.assign(
      {},
      ...mine.map((g) => g.vars),
      ...mine.map((g) => groupFiles.get(g.name)),
      h.vars,
      hostFiles.get(name),
    );
    hosts.set(name, { name, vars, groups: mine.map((g) => g.name) });
  }
  return { file, hosts, groups };
}

/** Each group's depth: its longest path of parents up to `all` (which is 0). */
function depths(draft: InventoryDraft): Map<string, number> {
  const out = new Map<string, number>();
  const of = (name: string): number => {
    const known = out.get(name);
    if (known !== undefined) return known;
    const parents = draft.groups.get(name)!.parents;
    const d = parents.length ? Math.max(...parents.map((p) => of(p) + 1)) : 0;
    out.set(name, d);
    return d;
  };
  for (const name of draft.groups.keys()) of(name);
  return out;
}

/** `all` and every group a host is in: the groups that list it and their ancestors. */
function withAncestors(draft: InventoryDraft, listing: DraftGroup[]): DraftGroup[] {
  const found = new Map<string, DraftGroup>([['all', draft.groups.get('all')!]]);
  const climb = (g: DraftGroup) => {
    if (found.has(g.name)) return;
    found.set(g.name, g);
    for (const p of g.parents) climb(draft.groups.get(p)!);
  };
  listing.forEach(climb);
  return [...found.values()];
}
