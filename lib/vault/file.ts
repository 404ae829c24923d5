import { readFile } from 'node:fs/promises';
import { isMap, isScalar, isSeq, parseDocument, type Document, type YAMLMap } from 'yaml';
import { UserError } from '../errors.ts';
import { remember, Secret } from '../secret.ts';
import { decodeText, decryptVault, encryptVaultText } from './text.ts';
import { writePrivateFile } from '../fs.ts';
import { acquireLock, lockFileOf, type Lock } from '../lock/index.ts';

export const DEFAULT_VAULT_FILE = 'vault/secrets.yaml';

/** Another writer holds a vault for a save or a certificate's generation: seconds, not minutes. */
const VAULT_LOCK_WAIT_SECONDS = 120;

/** The lock of a vault file, beside it (in its 0700 directory). */
export function lockVault(path: string): Promise<Lock> {
  return acquireLock(lockFileOf(path), { what: `vault ${path}`, waitSeconds: VAULT_LOCK_WAIT_SECONDS });
}

/** Ansible reads vault plaintext as YAML 1.1; so do we, and we write values it reads back alike ('yes' quoted). */
const YAML_VERSION = '1.1';

/**
 * A vault file whose plaintext is a YAML mapping of named secrets. Nested mappings are
 * addressed with dots (`aws.secret_access_key`). Every value is a Secret, remembered for
 * redaction as soon as the file is opened.
 *
 * Writes happen under the vault's lock: save() re-reads the file and applies this instance's
 * set() calls on top of what another writer saved meanwhile, so no key is lost; locked() also
 * makes a read-decide-write (a generated password, a CA) atomic. Opened with `lock` (the
 * caller holds it), both write directly.
 */
export class VaultFile {
  #secrets = new Map<string, Secret>();
  #dirty = false;
  /** set() calls since the last write, replayed over a newer file. */
  #changes = new Map<string, string>();
  #lock: Lock | undefined;

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

  /**
   * With `create`, a missing file is an empty vault (written on save) with `vaultId`; an
   * existing file keeps its id. `lock`: the caller holds this vault's lock (see lockVault).
   */
  static async open(
    path: string,
    password: Secret,
    opts: { create?: boolean; vaultId?: string; lock?: Lock } = {},
  ): Promise<VaultFile> {
    const plaintext = await readPlaintext(path, password, opts.create);
    const vault = new VaultFile(path, plaintext?.vaultId ?? opts.vaultId, password, parseSecrets(plaintext?.text ?? '', path), plaintext?.text);
    vault.#lock = opts.lock;
    return vault;
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
    this.#changes.set(key, text);
    this.#collect();
  }

  keys(): string[] {
    return [...this.#secrets.keys()];
  }

  /**
   * Under the vault's lock, with this instance brought up to date with the file first: runs
   * `fn` (which may get and set) and saves. Two processes generating a missing secret this
   * way agree on one value.
   */
  async locked<T>(fn: () => T | Promise<T>): Promise<T> {
    return (await this.#underLock(fn)).result;
  }

  /** Writes the file (0600, atomically, under its lock, over any newer version) unless nothing was set; true when written. */
  async save(): Promise<boolean> {
    if (!this.#dirty) return false;
    return (await this.#underLock(() => undefined)).written;
  }

  async #underLock<T>(fn: () => T | Promise<T>): Promise<{ result: T; written: boolean }> {
    if (this.#lock) return this.#apply(fn);
    const lock = await lockVault(this.path);
    this.#lock = lock;
    try {
      await this.#reload();
      return await this.#apply(fn);
    } finally {
      this.#lock = undefined;
      await lock.release();
    }
  }

  async #apply<T>(fn: () => T | Promise<T>): Promise<{ result: T; written: boolean }> {
    const result = await fn();
    const plaintext = this.#dirty ? this.doc.toString({ lineWidth: 0 }) : this.saved;
    const written = plaintext !== undefined && plaintext !== this.saved;
    if (written) await writePrivateFile(this.path, await encryptVaultText(plaintext, this.password, this.vaultId));
    this.saved = plaintext;
    this.#dirty = false;
    this.#changes.clear();
    return { result, written };
  }

  /** What another writer saved since we read the file, with our pending set() calls on top. */
  async #reload(): Promise<void> {
    const current = await readPlaintext(this.path, this.password, true);
    if (current === undefined || current.text === this.saved) return; // unchanged (or removed: ours is all there is)
    const pending = [...this.#changes];
    this.doc = parseSecrets(current.text, this.path);
    this.saved = current.text;
    this.#dirty = false;
    this.#collect();
    for (const [key, value] of pending) this.set(key, value);
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

/**
 * Replaces a whole file (a vault's ciphertext, or what encrypt/decrypt make of any file) under
 * the vault lock, refusing when it changed since `before` was read (undefined: it did not exist).
 */
export async function replaceVaultFile(path: string, before: string | Buffer | undefined, after: string | Buffer): Promise<void> {
  const lock = await lockVault(path);
  try {
    const now = await readFile(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw new UserError(`cannot read ${path} (${err.code})`);
    });
    const same = now === undefined ? before === undefined : before !== undefined && now.equals(Buffer.from(before));
    if (!same) {
      throw new UserError(`${path} was ${now === undefined ? 'removed' : before === undefined ? 'created' : 'changed'} by another writer meanwhile; nothing written: run the command again`);
    }
    await writePrivateFile(path, after);
  } finally {
    await lock.release();
  }
}

/** The decrypted text of a vault file; undefined when it is missing and `missingOk`. */
async function readPlaintext(path: string, password: Secret, missingOk = false): Promise<{ text: string; vaultId?: string } | undefined> {
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' && missingOk) return undefined;
    if (err.code === 'ENOENT') {
      throw new UserError(`${path}: no such vault file; create it with npx zx scripts/vault.mts create ${path}`);
    }
    throw new UserError(`cannot read vault file ${path} (${err.code})`);
  });
  if (text === undefined) return undefined;
  const { data, vaultId } = await decryptVault(text, password, path);
  return { text: decodeText(data, path), ...(vaultId ? { vaultId } : {}) };
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
