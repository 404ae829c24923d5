import { isMap, isScalar, isSeq } from 'yaml';
import type { Pair } from 'yaml';
import { inputError } from '../errors.ts';
import type { InventoryDraft } from './draft.ts';
import { deref, isNull, keyText, lineOf, toValue } from './yaml-values.ts';
import type { YamlFile } from './yaml-values.ts';

const SECTIONS = ['hosts', 'children', 'vars'];

/** Reads Ansible's YAML inventory format: groups (usually `all:`) with `hosts:`, `children:` and `vars:`. */
export function parseYamlInventory(y: YamlFile, draft: InventoryDraft): void {
  const root = deref(y, y.doc.contents);
  if (isNull(root)) throw inputError(y.file, undefined, 'the inventory is empty; write `all:` with `hosts:` or `children:`');
  if (!isMap(root)) throw inputError(y.file, lineOf(y, root), 'an inventory must be a mapping of groups (all:, children:, hosts:, vars:)');
  if (root.items.some((p) => isScalar(p.key) && p.key.value === 'plugin')) {
    throw inputError(y.file, lineOf(y, root), 'this is an inventory plugin configuration; harbormaster reads only YAML and INI inventories');
  }
  for (const pair of root.items) parseGroup(y, draft, keyText(y, pair.key), pair);
}

function parseGroup(y: YamlFile, draft: InventoryDraft, name: string, pair: Pair): void {
  draft.group(name);
  const body = deref(y, pair.value);
  if (isNull(body)) return;
  if (!isMap(body)) {
    throw inputError(y.file, lineOf(y, body) ?? lineOf(y, pair.key), `group ${name} must be a mapping with hosts:, children: or vars:, not ${kind(body)}`);
  }
  for (const section of body.items) {
    const key = keyText(y, section.key);
    const line = lineOf(y, section.key);
    if (!SECTIONS.includes(key)) {
      throw inputError(y.file, line, `unknown key '${key}' in group ${name} (expected hosts:, children: or vars:; a host goes under hosts:)`);
    }
    const value = deref(y, section.value);
    if (isNull(value)) continue;
    // Ansible accepts a single name as shorthand for a one-entry mapping.
    if (isScalar(value) && key !== 'vars') {
      addEntry(y, draft, name, key, String(value.value), undefined, lineOf(y, value));
      continue;
    }
    if (!isMap(value)) {
      const hint = key === 'hosts' && isSeq(value) ? ' (write each host as `name:` on its own line)' : '';
      throw inputError(y.file, lineOf(y, value) ?? line, `${key}: of group ${name} must be a mapping, not ${kind(value)}${hint}`);
    }
    for (const entry of value.items) addEntry(y, draft, name, key, keyText(y, entry.key), entry, lineOf(y, entry.key));
  }
}

function addEntry(y: YamlFile, draft: InventoryDraft, group: string, section: string, key: string, entry: Pair | undefined, line: number | undefined): void {
  const at = { file: y.file, line };
  if (section === 'vars') {
    draft.setGroupVar(group, key, toValue(y, entry?.value, key), at);
  } else if (section === 'children') {
    if (entry) parseGroup(y, draft, key, entry);
    else draft.group(key);
    draft.addChild(group, key, at);
  } else {
    const vars = deref(y, entry?.value);
    if (!isNull(vars) && !isMap(vars)) {
      throw inputError(y.file, lineOf(y, vars) ?? line, `host ${key} must map to its variables (key: value) or to nothing, not ${kind(vars)}`);
    }
    draft.addHostEntry(group, key, (toValue(y, vars, key) ?? {}) as Record<string, unknown>, at);
  }
}

function kind(node: unknown): string {
  if (isSeq(node)) return 'a list';
  if (isMap(node)) return 'a mapping';
  if (isScalar(node)) return `the value ${JSON.stringify(node.value)}`;
  return 'that';
}
