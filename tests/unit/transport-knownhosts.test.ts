// known_hosts handling against files OpenSSH's ssh-keygen writes: plain, hashed (-H) and
// [host]:port entries, fingerprints as ssh-keygen -l prints them, atomic concurrent recording.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import {
  fingerprint,
  hostFieldMatches,
  hostKeyName,
  keyTypeOf,
  preferredHostKeyAlgorithms,
  readKnownHosts,
  recordHostKey,
  verifyHostKey,
} from '../../lib/transport/knownhosts.ts';

const work = mkdtempSync(join(tmpdir(), 'hm-kh-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

function newKey(name: string, type = 'ed25519'): { line: string; blob: Buffer } {
  const file = join(work, name);
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', name, '-f', file]);
  const line = readFileSync(`${file}.pub`, 'utf8').trim();
  return { line, blob: Buffer.from(line.split(' ')[1]!, 'base64') };
}
const keyPart = (line: string) => line.split(' ').slice(0, 2).join(' ');

const web = newKey('web');
const db = newKey('db', 'ecdsa');
const other = newKey('other');

t.test('fingerprints and key types match ssh-keygen', async (t) => {
  const printed = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', join(work, 'web.pub')], { encoding: 'utf8' });
  t.equal(fingerprint(web.blob), printed.split(' ')[1]);
  t.equal(keyTypeOf(web.blob), 'ssh-ed25519');
  t.equal(keyTypeOf(db.blob), 'ecdsa-sha2-nistp256');
  t.equal(hostKeyName('10.0.0.1', 22), '10.0.0.1');
  t.equal(hostKeyName('10.0.0.1', 2222), '[10.0.0.1]:2222');
});

t.test('plain, port and hashed entries (hashed by ssh-keygen -H)', async (t) => {
  const file = join(work, 'known_hosts');
  writeFileSync(file, `# comment\n10.0.0.1,web.example ${keyPart(web.line)}\n[10.0.0.2]:2222 ${keyPart(db.line)}\n`);
  execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
  const text = readFileSync(file, 'utf8');
  t.match(text, /^\|1\|/m, 'entries are hashed now');
  t.notMatch(text, /10\.0\.0\.1/);
  t.strictSame(verifyHostKey(text, '10.0.0.1', web.blob), { status: 'known' });
  t.strictSame(verifyHostKey(text, 'web.example', web.blob), { status: 'known' });
  t.strictSame(verifyHostKey(text, '[10.0.0.2]:2222', db.blob), { status: 'known' });
  t.strictSame(verifyHostKey(text, '10.0.0.2', db.blob), { status: 'unknown', offered: fingerprint(db.blob) }, 'port 22 is another entry');
  t.strictSame(verifyHostKey(text, '10.0.0.1', other.blob), {
    status: 'changed',
    offered: fingerprint(other.blob),
    known: [fingerprint(web.blob)],
  });
  t.strictSame(preferredHostKeyAlgorithms(text, '[10.0.0.2]:2222'), ['ecdsa-sha2-nistp256']);
});

t.test('wildcards and negation in plain host fields; markers are skipped', async (t) => {
  t.equal(hostFieldMatches('*.example.com,!bad.example.com', 'good.example.com'), true);
  t.equal(hostFieldMatches('*.example.com,!bad.example.com', 'bad.example.com'), false);
  t.equal(hostFieldMatches('10.0.0.?', '10.0.0.7'), true);
  t.equal(hostFieldMatches('10.0.0.?', '10.0.0.17'), false);
  const text = `@revoked 10.0.0.9 ${keyPart(web.line)}\n`;
  t.equal(verifyHostKey(text, '10.0.0.9', web.blob).status, 'unknown');
});

t.test('recording new keys: atomic, concurrent-safe, mode kept, no duplicates', async (t) => {
  const file = join(work, 'record_known_hosts');
  writeFileSync(file, `10.0.0.1 ${keyPart(web.line)}`, { mode: 0o600 }); // no final newline
  const keys = Array.from({ length: 8 }, (_, i) => newKey(`k${i}`));
  await Promise.all(keys.map((k, i) => recordHostKey(file, `[10.1.0.${i}]:22${i}`, k.blob)));
  await recordHostKey(file, '[10.1.0.0]:220', keys[0]!.blob);
  const text = await readKnownHosts(file);
  t.equal(text.split('\n').filter(Boolean).length, 9, 'one line each, the first line kept');
  keys.forEach((k, i) => t.strictSame(verifyHostKey(text, `[10.1.0.${i}]:22${i}`, k.blob), { status: 'known' }));
  t.equal(statSync(file).mode & 0o777, 0o600);
  t.strictSame(readdirSync(work).filter((f) => f.startsWith('.record_known_hosts')), [], 'no temp files left');
  const keygen = execFileSync('ssh-keygen', ['-F', '[10.1.0.3]:223', '-f', file], { encoding: 'utf8' });
  t.match(keygen, /10\.1\.0\.3/, 'ssh-keygen finds the recorded entry');
  t.equal(await readKnownHosts(join(work, 'missing')), '');
});
