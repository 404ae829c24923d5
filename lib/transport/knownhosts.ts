import { createHash, createHmac, randomBytes } from 'node:crypto';
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** One usable line of a known_hosts file. */
export interface KnownKey {
  /** `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, ... */
  type: string;
  blob: Buffer;
  line: number;
}

/** Whether an offered host key is pinned, unknown, or differs from the pinned one. */
export type HostKeyVerdict =
  | { status: 'known' }
  | { status: 'unknown'; offered: string }
  | { status: 'changed'; offered: string; known: string[] };

/** `SHA256:...` as OpenSSH prints it (base64 without padding). */
export function fingerprint(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

/** The key type written at the start of an SSH public key blob. */
export function keyTypeOf(blob: Buffer): string {
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString('latin1');
}

/** How OpenSSH names a host in known_hosts: `host`, or `[host]:port` off port 22. */
export function hostKeyName(address: string, port: number): string {
  return port === 22 ? address : `[${address}]:${port}`;
}

function globToRegExp(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 'i');
}

function hashedMatches(entry: string, name: string): boolean {
  const [, magic, salt, hash] = entry.split('|');
  if (magic !== '1' || !salt || !hash) return false;
  const mac = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
  return mac === hash;
}

/** OpenSSH host-field matching: comma list, `*`/`?` wildcards, `!negation`, hashed `|1|` entries. */
export function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith('|')) return hashedMatches(field, name);
  let matched = false;
  for (const pattern of field.split(',')) {
    const negated = pattern.startsWith('!');
    if (!globToRegExp(negated ? pattern.slice(1) : pattern).test(name)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

/** Keys pinned for `name` (already in `[host]:port` form when needed). Markers (@cert-authority, @revoked) are skipped. */
export function keysFor(text: string, name: string): KnownKey[] {
  const out: KnownKey[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith('@')) return;
    const [hosts, type, b64] = line.split(/\s+/);
    if (!hosts || !type || !b64 || !hostFieldMatches(hosts, name)) return;
    out.push({ type, blob: Buffer.from(b64, 'base64'), line: i + 1 });
  });
  return out;
}

/** Compares an offered key with the pinned ones. Any pinned key that differs, whatever its type, counts as changed. */
export function verifyHostKey(text: string, name: string, offered: Buffer): HostKeyVerdict {
  const pinned = keysFor(text, name);
  if (pinned.some((k) => k.blob.equals(offered))) return { status: 'known' };
  const shown = fingerprint(offered);
  if (pinned.length === 0) return { status: 'unknown', offered: shown };
  return { status: 'changed', offered: shown, known: pinned.map((k) => fingerprint(k.blob)) };
}

/** Host key algorithms to offer first so the server presents the type we have pinned (as OpenSSH does). */
export function preferredHostKeyAlgorithms(text: string, name: string): string[] {
  const types = new Set(keysFor(text, name).map((k) => k.type));
  return [...types].flatMap((t) => (t === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [t]));
}

export async function readKnownHosts(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  }
}

const appending = new Map<string, Promise<void>>();

/** Appends `name type key` to the file atomically (temp + rename), one writer at a time per file in this process. */
export function recordHostKey(file: string, name: string, blob: Buffer): Promise<void> {
  const previous = appending.get(file) ?? Promise.resolve();
  const next = previous.then(async () => {
    const text = await readKnownHosts(file);
    if (keysFor(text, name).some((k) => k.blob.equals(blob))) return;
    const mode = await stat(file).then((s) => s.mode & 0o777, () => 0o600);
    const line = `${name} ${keyTypeOf(blob)} ${blob.toString('base64')}\n`;
    const body = text && !text.endsWith('\n') ? `${text}\n${line}` : text + line;
    const tmp = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString('hex')}`);
    await writeFile(tmp, body, { mode, flag: 'wx' });
    await rename(tmp, file);
  });
  appending.set(file, next.catch(() => undefined));
  return next;
}
