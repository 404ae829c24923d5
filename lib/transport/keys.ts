// How a connection authenticates with its private key file. A key that group or others may read
// is refused, as OpenSSH refuses it. A passphrase-protected key is used through ssh-agent when one
// runs (it must hold the key: ssh-add), else its passphrase is asked once per run on the terminal.
import { readFile, stat } from 'node:fs/promises';
import ssh2 from 'ssh2';
import { askHidden } from '../prompt.ts';
import type { SshTarget } from '../inventory/types.ts';
import { UnreachableError } from './errors.ts';

export type KeyAuth =
  | { authHandler: ['publickey']; privateKey: string; passphrase?: string }
  | { authHandler: ['agent']; agent: string };

export type AskPassphrase = (question: string) => Promise<string | undefined>;

const { utils } = ssh2;

const isEncrypted = (key: string): boolean => {
  const parsed = utils.parseKey(key);
  return parsed instanceof Error && /passphrase|encrypted/i.test(parsed.message);
};

/** Keys read once per run; passphrases asked once per key file, whichever host needs it first. */
export class KeyStore {
  #passphrases = new Map<string, Promise<string>>();

  constructor(
    private readonly ask: AskPassphrase = (q) => askHidden(q),
    private readonly agentSocket: string | undefined = process.env.SSH_AUTH_SOCK,
  ) {}

  async auth(t: SshTarget): Promise<KeyAuth> {
    if (!t.keyFile) {
      if (this.agentSocket) return { authHandler: ['agent'], agent: this.agentSocket };
      throw new UnreachableError(`${t.name}: no private key (set ansible_ssh_private_key_file) and no ssh-agent (SSH_AUTH_SOCK)`);
    }
    const file = t.keyFile;
    let key: string;
    try {
      const st = await stat(file);
      // OpenSSH's rule: the user's own key must not be open to group or others.
      if (st.uid === process.getuid?.() && (st.mode & 0o077) !== 0) {
        throw new UnreachableError(
          `${t.name}: private key ${file} is accessible by group or others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}); OpenSSH refuses such a key: chmod 600 ${file}`,
        );
      }
      key = await readFile(file, 'utf8');
    } catch (err) {
      if (err instanceof UnreachableError) throw err;
      throw new UnreachableError(`${t.name}: cannot read private key ${file}: ${(err as Error).message}`);
    }
    if (!isEncrypted(key)) return { authHandler: ['publickey'], privateKey: key };
    if (this.agentSocket) return { authHandler: ['agent'], agent: this.agentSocket };
    return { authHandler: ['publickey'], privateKey: key, passphrase: await this.#passphrase(t.name, file, key) };
  }

  #passphrase(host: string, file: string, key: string): Promise<string> {
    let p = this.#passphrases.get(file);
    if (!p) {
      p = this.ask(`Passphrase for ${file}: `).then((answer) => {
        if (answer === undefined) {
          throw new UnreachableError(`${host}: private key ${file} is passphrase-protected and there is no terminal to ask: add it to ssh-agent (ssh-add ${file}) and set SSH_AUTH_SOCK`);
        }
        if (utils.parseKey(key, answer) instanceof Error) throw new UnreachableError(`${host}: wrong passphrase for private key ${file}`);
        return answer;
      });
      // A wrong answer is asked again by the next host's connection.
      p.catch(() => this.#passphrases.delete(file));
      this.#passphrases.set(file, p);
    }
    return p;
  }
}
