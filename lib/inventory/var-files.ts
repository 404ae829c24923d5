import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { isMap } from 'yaml';
import { inputError, UserError } from '../errors.ts';
import type { Vars } from './types.ts';
import { deref, isNull, keyText, lineOf, readYaml, toValue, VaultPasswordNeeded } from './yaml-values.ts';
import type { Decrypt } from './yaml-values.ts';

const EXTENSIONS = ['.yml', '.yaml', '.json'];

/** A file's text, decrypted when the whole file is Ansible vault (`$ANSIBLE_VAULT;...`). */
export async function readSource(file: string, decrypt: Decrypt | undefined): Promise<{ text: string; encrypted: boolean }> {
  const text = await readFile(file, 'utf8').catch((err) => cannotRead(file, err));
  if (!text.startsWith('$ANSIBLE_VAULT;')) return { text, encrypted: false };
  if (!decrypt) throw new VaultPasswordNeeded(file, 'the file');
  return { text: decrypt(text, file), encrypted: true };
}

/**
 * Variables from `group_vars/` or `host_vars/` for each of `names`, found as Ansible's host_group_vars
 * plugin does: the first of NAME, NAME.yml, NAME.yaml, NAME.json; a directory NAME/ contributes
 * every file in it (recursively, sorted, hidden and backup~ files skipped), later files winning.
 */
export async function readVarsDir(dir: string, names: Iterable<string>, decrypt: Decrypt | undefined): Promise<Map<string, Vars>> {
  const found = new Map<string, Vars>();
  const listing = await readdir(dir).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' || err.code === 'ENOTDIR' ? [] : cannotRead(dir, err)));
  const entries = new Set(listing);
  for (const name of names) {
    const entry = [name, ...EXTENSIONS.map((e) => name + e)].find((candidate) => entries.has(candidate));
    if (!entry) continue;
    const path = join(dir, entry);
    const files = (await stat(path)).isDirectory() ? await filesIn(path) : [path];
    const vars: Vars = {};
    for (const file of files) Object.assign(vars, await readVarFile(file, decrypt));
    found.set(name, vars);
  }
  return found;
}

async function filesIn(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(dir).catch((err) => cannotRead(dir, err))).sort()) {
    if (name.startsWith('.') || name.endsWith('~')) continue;
    const path = join(dir, name);
    const ext = extname(name);
    if ((await stat(path)).isDirectory()) {
      if (!ext) out.push(...(await filesIn(path)));
    } else if (!ext || EXTENSIONS.includes(ext)) out.push(path);
  }
  return out;
}

function cannotRead(path: string, err: NodeJS.ErrnoException): never {
  if (err.code === 'ENOENT') throw new UserError(`${path}: no such file`);
  if (err.code === 'EISDIR') throw new UserError(`${path}: is a directory; give the inventory file itself`);
  if (err.code === 'EACCES') throw new UserError(`${path}: permission denied`);
  throw err;
}

/** One variables file: a YAML (or JSON) mapping of names to values. */
export async function readVarFile(file: string, decrypt: Decrypt | undefined): Promise<Vars> {
  const { text, encrypted } = await readSource(file, decrypt);
  const y = readYaml(file, text, decrypt, encrypted);
  const root = deref(y, y.doc.contents);
  if (isNull(root)) return {};
  if (!isMap(root)) throw inputError(file, lineOf(y, root), 'a variables file must be a mapping of names to values');
  const vars: Vars = {};
  for (const pair of root.items) {
    const key = keyText(y, pair.key);
    vars[key] = toValue(y, pair.value, key);
  }
  return vars;
}
