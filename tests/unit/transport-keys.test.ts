// Private key files as OpenSSH treats them: one open to group or others is refused; one with a
// passphrase goes through ssh-agent when it runs, else its passphrase is asked once (a wrong one
// is refused and asked again; without a terminal, the error says to use ssh-agent).
import { execFileSync } from 'node:child_process';
import { chmod } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import type { SshTarget } from '../../lib/inventory/types.ts';
import { KeyStore } from '../../lib/transport/keys.ts';

const target = (name: string, keyFile?: string): SshTarget => ({ name, address: '192.0.2.1', port: 22, user: 'root', knownHostsFile: '/dev/null', become: false, ...(keyFile ? { keyFile } : {}) });

function keygen(dir: string, name: string, passphrase: string): string {
  const file = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-f', file]);
  return file;
}

t.test('a key open to group or others is refused, naming the mode and the fix', async (t) => {
  const key = keygen(t.testdir(), 'id', '');
  const store = new KeyStore(async () => void t.fail('no question'), undefined);
  for (const mode of [0o644, 0o640, 0o604]) {
    await chmod(key, mode);
    await t.rejects(store.auth(target('h1', key)), {
      name: 'UnreachableError',
      message: `h1: private key ${key} is accessible by group or others (mode 0${mode.toString(8)}); OpenSSH refuses such a key: chmod 600 ${key}`,
    });
  }
  await chmod(key, 0o600);
  t.match(await store.auth(target('h1', key)), { authHandler: ['publickey'], privateKey: /^-----BEGIN OPENSSH PRIVATE KEY-----/ });
  t.notOk('passphrase' in (await store.auth(target('h1', key))), 'no passphrase for a plain key');
});

t.test('a passphrase-protected key: asked once for all hosts, refused when wrong, asked again', async (t) => {
  const key = keygen(t.testdir(), 'id', 'correct horse');
  const answers = ['wrong', 'correct horse'];
  const asked: string[] = [];
  const store = new KeyStore(async (q) => (asked.push(q), answers.shift()), undefined);
  await t.rejects(store.auth(target('h1', key)), { name: 'UnreachableError', message: `h1: wrong passphrase for private key ${key}` });
  const [a, b] = await Promise.all([store.auth(target('h1', key)), store.auth(target('h2', key))]);
  t.match(a, { authHandler: ['publickey'], passphrase: 'correct horse' });
  t.same(b, a, 'the second host shares the answer');
  t.strictSame(asked, [`Passphrase for ${key}: `, `Passphrase for ${key}: `], 'asked twice in all: the wrong answer, then once for both hosts');
});

t.test('without a terminal, a passphrase-protected key says to use ssh-agent; with an agent it is used', async (t) => {
  const key = keygen(t.testdir(), 'id', 'secret phrase');
  await t.rejects(new KeyStore(async () => undefined, undefined).auth(target('h1', key)), {
    message: `h1: private key ${key} is passphrase-protected and there is no terminal to ask: add it to ssh-agent (ssh-add ${key}) and set SSH_AUTH_SOCK`,
  });
  const viaAgent = new KeyStore(async () => void t.fail('no question with an agent'), '/run/agent.sock');
  t.strictSame(await viaAgent.auth(target('h1', key)), { authHandler: ['agent'], agent: '/run/agent.sock' });
  t.strictSame(await viaAgent.auth(target('h1')), { authHandler: ['agent'], agent: '/run/agent.sock' }, 'no key file: the agent');
  await t.rejects(new KeyStore(async () => undefined, undefined).auth(target('h1')), { message: /h1: no private key \(set ansible_ssh_private_key_file\) and no ssh-agent \(SSH_AUTH_SOCK\)/ });
});
