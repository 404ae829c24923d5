// A vault secret used by a role never reaches the output: not with --diff, not with -v, not
// in --json events, not in --check, not in `inventory.mts --list` — while the host does get it.
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import t from 'tap';
import { runScript } from '../helpers/cli.ts';
import { withLab } from '../helpers/lab.ts';
import { encryptVaultText } from '../../lib/vault/index.ts';
import { Secret } from '../../lib/secret.ts';

const lab = await withLab(t, { name: 'vredact', subnet: '10.207', registries: 1 });
const dir = dirname(lab.inventoryFile);
const passwordFile = join(dir, 'vault-password');
await writeFile(passwordFile, 'correct horse battery staple\n', { mode: 0o600 });
const password = new Secret('correct horse battery staple');

/** group_vars/all.yaml holding demo_greeting as an inline `!vault |` value, as Ansible writes it. */
async function setGreeting(value: string): Promise<void> {
  const body = (await encryptVaultText(value, password)).trimEnd().split('\n').map((l) => `  ${l}`).join('\n');
  await mkdir(join(dir, 'group_vars'), { recursive: true });
  await writeFile(join(dir, 'group_vars', 'all.yaml'), `demo_greeting: !vault |\n${body}\n`);
}

async function hm(script: string, ...args: string[]): Promise<{ code: number; out: string }> {
  const { code, stdout, stderr } = await runScript(script, ...args);
  return { code, out: stdout + stderr };
}

const role = (...flags: string[]) =>
  hm('role', '-i', lab.inventoryFile, 'demo', '--vault-password-file', passwordFile, ...flags);
const hostConf = () => readFile(join(lab.hosts[0]!.upperDir, 'opt/demo/conf/demo.conf'), 'utf8');

const first = 'greeting-Xq7v-first-secret';
const second = 'greeting-Lp2m-second-secret';

t.test('a converge with --diff -v shows no secret, and the host has it', async (t) => {
  await setGreeting(first);
  const { code, out } = await role('--diff', '-v');
  t.equal(code, 0, code ? out : 'exits 0');
  t.notMatch(out, first, 'the secret is not in the output');
  t.match(out, /template \/opt\/demo\/conf\/demo\.conf/, 'the template step is reported');
  t.match(await hostConf(), `GREETING="${first}"`, 'the host got the real value');
});

t.test('--check --diff on a changed secret: nothing printed, nothing changed', async (t) => {
  await setGreeting(second);
  const { code, out } = await role('--check', '--diff', '-v');
  t.equal(code, 0, code ? out : 'exits 0');
  t.notMatch(out, first);
  t.notMatch(out, second);
  t.match(out, /changed/, 'the change is reported');
  t.match(await hostConf(), `GREETING="${first}"`, 'check mode left the host alone');
});

t.test('--json events carry no secret', async (t) => {
  const { code, out } = await role('--json', '--diff', '-v');
  t.equal(code, 0, code ? out : 'exits 0');
  t.notMatch(out, second);
  const events = out.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  t.ok(events.length > 0, 'events were emitted');
  t.match(await hostConf(), `GREETING="${second}"`);
});

t.test('the inventory listing masks the value', async (t) => {
  const { code, out } = await hm('inventory', '-i', lab.inventoryFile, '--list', '--vault-password-file', passwordFile);
  t.equal(code, 0, code ? out : 'exits 0');
  t.notMatch(out, second);
  t.match(out, /"demo_greeting": "\*{8}"/);
});
