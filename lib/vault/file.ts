import { readFile } from 'node:fs/promises';
import { isMap, isScalar, isSeq, parseDocument, type Document, type YAMLMap } from 'yaml';
import { UserError } from '../errors.ts';
import { remember, Secret } from '../secret.ts';
import { decodeText, decryptVault, encryptVaultText } from './text.ts';
import { writePrivateFile } from '../fs.ts';

export const DEFAULT_VAULT_FILE = 'vault/secrets.yaml';

/** Ansible reads vault plaintext as YAML 1.1; so do we, and we write values it reads back alike ('yes' quoted). */
const YAML_VERSION = '1.1';

/**
 * A vault file whose plaintext is a YAML mapping of named secrets. Nested mappings are
 * addressed with dots (`aws.secret_access_key`). Every value is a Secret, remembered for
 * redaction as soon as the file is opened.
 */
export class VaultFile {
  #secrets = new Map<string, Secret>();
  #dirty = false;

  private constructor(
    readonly path: string,
    readonly vaultId: string | undefined,
    private readonly password: Secret,
    private doc: Document,
    /** The plaintext on disk; undefined while the file does not exist. */
    private saved: string | undefined,
  ) {
    this.#collect();
  }

  /** With `create`, a missing file is an empty vault (written on save) with `vaultId`; an existing file keeps its id. */
  static async open(
    path: string,
    password: Secret,
    opts: { create?: boolean; vaultId?: string } = {},
  ): Promise<VaultFile> {
    const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' && opts.create) return undefined;
      if (err.code === 'ENOENT') {
        throw new UserError(`${path}: no such vault file; create it with npx zx scripts/vault.mts create ${path}`);
      }
      throw new UserError(`cannot read vault file ${path} (${err.code})`);
    });
    if (text === undefined) return new VaultFile(path, opts.vaultId, password, parseSecrets('', path), undefined);
    const { data, vaultId } = await decryptVault(text, password, path);
    const plaintext = decodeText(data, path);
    return new VaultFile(path, vaultId, password, parseSecrets(plaintext, path), plaintext);
  }

  get(key: string): Secret | undefined {
    const secret = this.#secrets.get(key);
    if (!secret && this.doc.hasIn(key.split('.'))) {
      const node = this.doc.getIn(key.split('.'), true);
      if (isMap(node) || isSeq(node)) {
        throw new UserError(`${this.path}: ${key} is a ${isMap(node) ? 'mapping' : 'list'}, not a single secret`);
      }
    }
    return secret;
  }

  require(key: string): Secret {
    const secret = this.get(key);
    if (!secret) {
      throw new UserError(
        `${this.path}: no secret named ${key}; set it with npx zx scripts/vault.mts set ${this.path} ${key}`,
      );
    }
    return secret;
  }

  /** Creates or replaces a secret; nested mappings along a dotted key are created as needed. */
  set(key: string, value: string | Secret): void {
    const text = value instanceof Secret ? value.reveal() : value;
    const path = key.split('.');
    if (path.some((p) => !p)) throw new UserError(`bad secret name '${key}'`);
    if (this.#secrets.get(key)?.reveal() === text) return;
    if (!isMap(this.doc.contents)) this.doc.contents = this.doc.createNode({}); // an empty file
    let map = this.doc.contents as YAMLMap;
    for (const [i, part] of path.slice(0, -1).entries()) {
      let next: unknown = map.get(part, true);
      if (next === undefined || (isScalar(next) && next.value === null)) {
        next = this.doc.createNode({});
        map.set(part, next);
      }
      if (!isMap(next)) {
        throw new UserError(`${this.path}: cannot set ${key}: ${path.slice(0, i + 1).join('.')} is not a mapping`);
      }
      map = next;
    }
    // A node, not a plain string, so #collect (which walks nodes) sees the new value.
    map.set(path[path.length - 1], this.doc.createNode(text));
    this.#dirty = true;
    this.#collect();
  }

  keys(): string[] {
    return [...this.#secrets.keys()];
  }

  /** Writes the file (0600, atomically) unless its plaintext is unchanged; true when written. */
  async save(): Promise<boolean> {
    const plaintext = this.#dirty ? this.doc.toString({ lineWidth: 0 }) : (this.saved ?? '');
    if (plaintext === this.saved) return false;
    await writePrivateFile(this.path, await encryptVaultText(plaintext, this.password, this.vaultId));
    this.saved = plaintext;
    this.#dirty = false;
    return true;
  }

  /** Wraps every leaf value; list items are not addressable but are still redacted. */
  #collect(): void {
    this.#secrets.clear();
    // name: the dotted path so far ('' at the top); null inside a list.
    const walk = (node: unknown, name: string | null): void => {
      if (isMap(node)) {
        for (const pair of node.items) {
          const key = String(isScalar(pair.key) ? pair.key.value : pair.key);
          walk(pair.value, name === null ? null : name ? `${name}.${key}` : key);
        }
      } else if (isSeq(node)) {
        for (const item of node.items) walk(item, null);
      } else if (isScalar(node) && node.value !== null && node.value !== undefined) {
        const value = String(node.value);
        if (name) this.#secrets.set(name, new Secret(value));
        else remember(value);
      }
    };
    walk(this.doc.contents, '');
  }
}

/** Why a plaintext is not a YAML mapping of named secrets (never quoting the text), or undefined. */
export function secretsTextProblem(plaintext: string): string | undefined {
  return checked(plaintext).problem;
}

function checked(plaintext: string): { doc: Document; problem?: string } {
  const doc = parseDocument(plaintext, { version: YAML_VERSION });
  const err = doc.errors[0];
  if (err) {
    const line = err.linePos?.[0].line;
    return { doc, problem: `not valid YAML (${err.code}${line ? ` at line ${line}` : ''})` };
  }
  if (doc.contents !== null && !isMap(doc.contents)) return { doc, problem: 'not a YAML mapping of named secrets' };
  return { doc };
}

function parseSecrets(plaintext: string, path: string): Document {
  const { doc, problem } = checked(plaintext);
  if (problem) {
    throw new UserError(`${path}: decrypted text is ${problem}; fix it with npx zx scripts/vault.mts edit ${path}`);
  }
  return doc;
}
