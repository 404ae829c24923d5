import { inputError } from '../errors.ts';
import type { InventoryDraft, Where } from './draft.ts';
import { iniValue } from './python-literal.ts';
import { ShellSyntaxError, splitShellWords } from './shell-words.ts';

const SECTION = /^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$/;
const GROUP_NAME = /^([^:\]\s]+)\s*(?:#.*)?$/;

/** A group used before its own section; it must get one later in the file (Ansible's rule). */
interface Pending {
  line: number;
  state: 'vars' | 'children';
  parents: string[];
}

/**
 * Reads an Ansible INI inventory: `[group]` host lines with key=value variables (Python literals),
 * `[group:vars]`, `[group:children]`; hosts before any section are ungrouped.
 */
export function parseIniInventory(file: string, text: string, draft: InventoryDraft): void {
  const pending = new Map<string, Pending>();
  let group = 'ungrouped';
  let state = 'hosts';
  text.split(/\r?\n/).forEach((raw, index) => {
    const at: Where = { file, line: index + 1 };
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) return;
    const section = SECTION.exec(line);
    if (section) {
      group = section[1]!;
      state = section[2] ?? 'hosts';
      if (!['hosts', 'vars', 'children'].includes(state)) {
        throw inputError(file, at.line, `section [${group}:${state}] has unknown type '${state}' (use [${group}], [${group}:vars] or [${group}:children])`);
      }
      if (!draft.groups.has(group)) {
        if (state === 'vars' && !pending.has(group)) pending.set(group, { line: at.line!, state: 'vars', parents: [] });
        draft.group(group);
      }
      const waiting = pending.get(group);
      if (waiting && state !== 'vars') {
        for (const parent of waiting.parents) draft.addChild(parent, group, { file, line: waiting.line });
        pending.delete(group);
      }
      return;
    }
    // A host line may start with '[' only for a bracketed IPv6 address ([fe80::1]:2222).
    if (line.startsWith('[') && !/^\[[0-9a-fA-F:.]+\](?::\d+)?(?:\s|$)/.test(line)) {
      throw inputError(file, at.line, `invalid section header ${line}: use [group], [group:vars] or [group:children] without spaces`);
    }
    if (state === 'hosts') parseHostLine(line, group, at, draft);
    else if (state === 'vars') {
      const eq = line.indexOf('=');
      if (eq < 0) throw inputError(file, at.line, `expected key=value in [${group}:vars], got: ${line}`);
      draft.setGroupVar(group, line.slice(0, eq).trim(), iniValue(line.slice(eq + 1).trim()), at);
    } else {
      const child = GROUP_NAME.exec(line)?.[1];
      if (!child) throw inputError(file, at.line, `expected a group name in [${group}:children], got: ${line}`);
      if (draft.groups.has(child)) draft.addChild(group, child, at);
      else {
        const waiting = pending.get(child) ?? { line: at.line!, state: 'children', parents: [] };
        waiting.parents.push(group);
        pending.set(child, waiting);
      }
    }
  });
  for (const [name, p] of pending) {
    const where = p.state === 'vars' ? `[${name}:vars] is for group ${name}` : `[${p.parents.at(-1)}:children] names group ${name}`;
    throw inputError(file, p.line, `${where}, which is not defined anywhere (add a [${name}] section)`);
  }
}

function parseHostLine(line: string, group: string, at: Where, draft: InventoryDraft): void {
  let words: string[];
  try {
    words = splitShellWords(line, { comments: true });
  } catch (err) {
    if (err instanceof ShellSyntaxError) throw inputError(at.file, at.line, `cannot read host line (${err.message}): ${line}`);
    throw err;
  }
  const [entry, ...assignments] = words;
  if (!entry) return;
  if (entry === '---') throw inputError(at.file, at.line, 'this looks like YAML; name the file .yaml or .yml');
  if (entry.endsWith(':')) throw inputError(at.file, at.line, `host ${entry} ends in ':' (that is for a port: host:PORT)`);
  const vars: Record<string, unknown> = {};
  for (const a of assignments) {
    const eq = a.indexOf('=');
    if (eq <= 0) throw inputError(at.file, at.line, `expected key=value after host ${entry}, got: ${a}`);
    vars[a.slice(0, eq)] = iniValue(a.slice(eq + 1));
  }
  draft.addHostEntry(group, entry, vars, at);
}
