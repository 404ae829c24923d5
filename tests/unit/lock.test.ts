// Locks between processes (lib/lock): a second holder is refused naming the first's pid and
// start time, a killed holder's lock is taken over, and vault writers in two processes lose no key.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { acquireLock, lockFileOf } from '../../lib/lock/index.ts';
import { Secret } from '../../lib/secret.ts';
import { VaultFile } from '../../lib/vault/index.ts';
import { userError } from '../fixtures/inventory/helpers.ts';

const repo = new URL('../..', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'hm-lock-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

/** A process holding the lock `file` until its stdin closes; resolves once it holds it. */
async function holder(file: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import=tsx', join(repo, 'tests/fixtures/lock/holder.ts'), file], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  if (line.toString() !== 'held\n') throw new Error(`holder said ${line}`);
  return child;
}

t.test('a second holder is refused with one line naming the first one’s pid and start time', async (t) => {
  const file = join(work, 'inv.lock');
  const first = await holder(file);
  const message = await userError(t, () => acquireLock(file, { what: 'inventory inv.yaml', waitSeconds: 0 }));
  t.match(message, new RegExp(`^inventory inv\\.yaml is in use by pid ${first.pid} on .+, started \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z \\(lock ${file}\\): wait for it to finish$`));
  first.stdin!.end();
  await once(first, 'exit');
  const lock = await acquireLock(file, { what: 'inventory inv.yaml', waitSeconds: 0 });
  t.equal(lock.tookOver, undefined, 'a released lock leaves no record to take over');
  t.equal(statSync(file).mode & 0o777, 0o600);
  await lock.release();
  await lock.release();
  t.equal(readFileSync(file, 'utf8'), '', 'released: the record is cleared');
});

t.test('the lock of a killed holder is taken over, naming it', async (t) => {
  const file = join(work, 'stale.lock');
  const dead = await holder(file);
  dead.kill('SIGKILL');
  await once(dead, 'exit');
  t.match(readFileSync(file, 'utf8'), `"pid":${dead.pid}`, 'its record is still there');
  const lock = await acquireLock(file, { what: 'x', waitSeconds: 0 });
  t.equal(lock.tookOver?.pid, dead.pid);
  t.match(readFileSync(file, 'utf8'), `"pid":${process.pid}`);
  await lock.release();
});

t.test('a waiting locker gets the lock once the holder lets go', async (t) => {
  const file = join(work, 'wait.lock');
  const first = await holder(file);
  const waiting = acquireLock(file, { what: 'x', waitSeconds: 60 });
  let got = false;
  void waiting.then(() => (got = true));
  await new Promise((r) => setTimeout(r, 300));
  t.notOk(got, 'still waiting while the holder holds it');
  first.stdin!.end();
  const lock = await waiting;
  t.match(readFileSync(file, 'utf8'), `"pid":${process.pid}`);
  await lock.release();
});

t.test('lock files are hidden beside what they lock', async (t) => {
  t.equal(lockFileOf('/a/b/lab.yaml'), '/a/b/.lab.yaml.lock');
});

const password = new Secret('lock test password');

t.test('two open vaults saving different keys both keep them (save re-reads under the lock)', async (t) => {
  const file = join(work, 'merge.yaml');
  const a = await VaultFile.open(file, password, { create: true });
  const b = await VaultFile.open(file, password, { create: true });
  a.set('from_a', '1');
  b.set('from_b', '2');
  b.set('nested.key', '3');
  t.ok(await a.save());
  t.ok(await b.save());
  t.same(b.keys().sort(), ['from_a', 'from_b', 'nested.key'], 'b sees a’s key after its save');
  const c = await VaultFile.open(file, password);
  t.same(c.keys().sort(), ['from_a', 'from_b', 'nested.key']);
  a.set('from_a', '1');
  t.notOk(await a.save(), 'setting a value it already has writes nothing');
});

t.test('locked(): two generators of a missing secret agree on one value', async (t) => {
  const file = join(work, 'generate.yaml');
  writeFileSync(file, '');
  rmSync(file);
  const a = await VaultFile.open(file, password, { create: true });
  const b = await VaultFile.open(file, password, { create: true });
  const make = (v: VaultFile, value: string) => v.locked(() => v.get('made')?.reveal() ?? (v.set('made', value), value));
  const [x, y] = await Promise.all([make(a, 'first'), make(b, 'second')]);
  t.equal(x, y, `both got ${x}`);
  t.equal((await VaultFile.open(file, password)).get('made')?.reveal(), x);
});

// vault.mts started as node does it (not through npx zx) to keep the twelve starts short.
t.test('two concurrent `vault.mts set` loops on one file lose no key', async (t) => {
  const file = join(work, 'loops.yaml');
  const pwFile = join(work, 'loops.password');
  writeFileSync(pwFile, 'loops password\n', { mode: 0o600 });
  const loop = (who: string) =>
    `for i in 1 2 3 4 5 6; do echo "value-${who}-$i" | ${process.execPath} --import=tsx scripts/vault.mts set ${file} ${who}_$i --vault-password-file ${pwFile} || exit 1; done`;
  const loops = ['a', 'b'].map((who) => spawn('bash', ['-c', loop(who)], { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'] }));
  const codes = await Promise.all(loops.map(async (l) => (await once(l, 'exit'))[0]));
  t.same(codes, [0, 0], 'every set succeeded');
  const vault = await VaultFile.open(file, new Secret('loops password'));
  const keys = vault.keys().sort();
  t.equal(keys.length, 12, `all 12 keys kept: ${keys.join(' ')}`);
  t.equal(vault.get('b_6')?.reveal(), 'value-b-6');
});
