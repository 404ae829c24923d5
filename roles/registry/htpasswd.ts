// The registry's htpasswd file: bcrypt entries for the vault's users, rewritten only when a
// user or a password changed. bcrypt salts are random, so "the same file" cannot mean "the same
// bytes as a fresh rendering": each entry on the host is checked against the vault's password
// here, on the controller, and kept when it still matches.
import bcrypt from 'bcryptjs';
import type { FileAttrs } from '../../lib/steps/fileops.ts';
import { copy, type Step, type StepOptions } from '../../lib/steps/index.ts';
import { Secret } from '../../lib/secret.ts';

/** Go's bcrypt default (distribution verifies with golang.org/x/crypto/bcrypt); htpasswd -B uses 5. */
export const BCRYPT_COST = 10;

/** `user:hash` lines of an htpasswd file. */
export function parseHtpasswd(text: string): Map<string, string> {
  const entries = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) entries.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  return entries;
}

const isBcrypt = (hash: string): boolean => /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash);

/**
 * The file's new content: one bcrypt line per user, sorted; a current entry is kept when its
 * hash matches the user's password, every other user gets a fresh hash.
 */
export async function htpasswdContent(current: string, users: Record<string, Secret>): Promise<string> {
  const have = parseHtpasswd(current);
  const lines = await Promise.all(
    Object.keys(users)
      .sort()
      .map(async (user) => {
        const password = users[user]!.reveal();
        const old = have.get(user);
        const keep = old !== undefined && isBcrypt(old) && (await bcrypt.compare(password, old));
        return `${user}:${keep ? old : await bcrypt.hash(password, BCRYPT_COST)}\n`;
      }),
  );
  return lines.join('');
}

export interface HtpasswdOptions extends StepOptions, FileAttrs {
  dest: string;
  users: Record<string, Secret>;
}

/**
 * A copy step whose content is decided after probing: the probe fetches the current file (hashes
 * only), the plan keeps entries that still verify. Always sensitive.
 */
export function htpasswdFile(opts: HtpasswdOptions): Step {
  const { users, ...rest } = opts;
  const withContent = (content: string) => copy({ ...rest, content: new Secret(content), sensitive: true });
  const base = withContent('');
  return {
    ...base,
    name: opts.name ?? `htpasswd ${opts.dest}`,
    probe: () => ({ files: [{ path: opts.dest, hash: true, fetch: true }] }),
    async plan(state, env) {
      const current = state.files.get(opts.dest)?.content?.toString('utf8') ?? '';
      return withContent(await htpasswdContent(current, users)).plan(state, env);
    },
  };
}
