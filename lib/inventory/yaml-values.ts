import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import type { Document, Node, ScalarTag, Tags } from 'yaml';
import { inputError, UserError } from '../errors.ts';
import { Secret } from '../secret.ts';

/** Turns Ansible vault text into its plaintext; `where` is `file:line` for its error messages. */
export type Decrypt = (vaultText: string, where: string) => string;

/** Vault text was found and no decrypt function was given: the caller may get a password and load again. */
export class VaultPasswordNeeded extends UserError {
  override name = 'VaultPasswordNeeded';
  constructor(where: string, what: string) {
    super(`${where}: ${what} is vault-encrypted; give a vault password (--vault-password-file or HARBORMASTER_VAULT_PASSWORD_FILE)`);
  }
}

/** A parsed YAML file that remembers where each node came from. */
export interface YamlFile {
  file: string;
  doc: Document;
  lines: LineCounter;
  decrypt: Decrypt | undefined;
  /** The whole file was vault-encrypted: every string in it is a secret. */
  secret: boolean;
}

/** PyYAML's booleans (YAML 1.1 without y/n), which is what Ansible reads. */
const pyYamlBool: ScalarTag = {
  tag: 'tag:yaml.org,2002:bool',
  default: true,
  identify: (v) => typeof v === 'boolean',
  test: /^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$/,
  resolve: (s) => /^(?:yes|true|on)$/i.test(s),
};

/** Ansible's tags: `!vault` holds vault text (decrypted in toValue), `!unsafe` marks a string not to template. */
const ansibleTags = (tags: Tags): Tags => [
  ...tags.filter((t) => typeof t === 'string' || (t.tag !== pyYamlBool.tag && t.tag !== 'tag:yaml.org,2002:timestamp')),
  pyYamlBool,
  { tag: '!vault', resolve: (s: string) => s },
  { tag: '!unsafe', resolve: (s: string) => s },
];

/** Parses YAML as Ansible does (YAML 1.1, merge keys); a syntax error becomes `file:line: what`. */
export function readYaml(file: string, text: string, decrypt: Decrypt | undefined, secret = false): YamlFile {
  const lines = new LineCounter();
  const doc = parseDocument(text, { version: '1.1', customTags: ansibleTags, lineCounter: lines, prettyErrors: false });
  const err = doc.errors[0];
  if (err) throw inputError(file, lines.linePos(err.pos[0]).line, `${err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')} (YAML)`);
  return { file, doc, lines, decrypt, secret };
}

export function lineOf(y: YamlFile, node: unknown): number | undefined {
  const range = (node as Node | null)?.range;
  return range ? y.lines.linePos(range[0]).line : undefined;
}

export function where(y: YamlFile, node: unknown): string {
  const line = lineOf(y, node);
  return line ? `${y.file}:${line}` : y.file;
}

/** A mapping key as written (so `yes:` stays "yes" and `010:` stays "010"). */
export function keyText(y: YamlFile, key: unknown): string {
  if (isScalar(key)) return typeof key.value === 'string' ? key.value : (key.source ?? String(key.value));
  throw inputError(y.file, lineOf(y, key), 'a mapping key must be a plain name, not a list or mapping');
}

/** An absent value, `~` or `null`. */
export function isNull(node: unknown): boolean {
  return node == null || (isScalar(node) && node.value == null);
}

/** Follows an alias to the node it names. */
export function deref(y: YamlFile, node: unknown): unknown {
  return isAlias(node) ? node.resolve(y.doc) : node;
}

/**
 * The JavaScript value of a node. `!vault` strings are decrypted into Secrets; `name` is the
 * variable (dotted for nested keys) for error messages.
 */
export function toValue(y: YamlFile, node: unknown, name: string, seen: unknown[] = []): unknown {
  if (isAlias(node)) {
    const target = node.resolve(y.doc);
    if (seen.includes(target)) throw inputError(y.file, lineOf(y, node), `${name}: alias *${node.source} refers to itself`);
    return toValue(y, target, name, [...seen, target]);
  }
  if (isScalar(node)) {
    if (node.tag === '!vault') return decryptVault(y, node, name);
    const v = typeof node.value === 'bigint' ? Number(node.value) : node.value;
    return y.secret && typeof v === 'string' ? new Secret(v) : v;
  }
  if (isSeq(node)) return node.items.map((item, i) => toValue(y, item, `${name}[${i}]`, seen));
  if (isMap(node)) {
    const out: Record<string, unknown> = {};
    const explicit: Record<string, unknown> = {};
    for (const pair of node.items) {
      if (isScalar(pair.key) && typeof pair.key.value === 'symbol') {
        mergeInto(y, out, pair.value, name, seen);
        continue;
      }
      const key = keyText(y, pair.key);
      explicit[key] = toValue(y, pair.value, `${name}.${key}`, seen);
    }
    return Object.assign(out, explicit);
  }
  return node ?? null;
}

/** `<<: *base` or `<<: [*a, *b]`: keys not already merged, explicit keys of the map win (YAML 1.1 merge). */
function mergeInto(y: YamlFile, out: Record<string, unknown>, source: unknown, name: string, seen: unknown[]): void {
  const sources = isSeq(source) ? source.items : [source];
  for (const s of sources) {
    const value = toValue(y, s, name, seen);
    if (!value || typeof value !== 'object' || Array.isArray(value)) throw inputError(y.file, lineOf(y, s), `${name}: << must merge a mapping`);
    for (const [k, v] of Object.entries(value)) if (!(k in out)) out[k] = v;
  }
}

function decryptVault(y: YamlFile, node: Node & { value: unknown }, name: string): Secret {
  const at = where(y, node);
  if (!y.decrypt) throw new VaultPasswordNeeded(at, name);
  return new Secret(y.decrypt(String(node.value), at));
}
