// The runner's semantics through the local connection, in temp dirs: handlers run once at the
// end of the role, or before a step declaring afterHandlers (and again for what changed after);
// check mode writes nothing and predicts the handlers; tags and --start-at select steps; a failed
// step stops its host before the handlers and later steps.
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { loadInventory } from '../../lib/inventory/index.ts';
import type { Inventory } from '../../lib/inventory/types.ts';
import { parseRunArgs } from '../../lib/run/cli.ts';
import { connectionType } from '../../lib/run/connect.ts';
import type { Role } from '../../lib/run/types.ts';
import { STDIN_LIMIT } from '../../lib/steps/copy.ts';
import { command, copy } from '../../lib/steps/index.ts';
import { runCollect, type Collected } from '../fixtures/engine/run.ts';

async function localInventory(dir: string): Promise<Inventory> {
  const file = join(dir, 'inventory.yaml');
  await writeFile(file, 'all:\n  hosts:\n    here:\n      ansible_connection: local\n');
  return loadInventory(file);
}

/**
 * A service in a directory: its config notifies "restart" (which appends to `restarts`); "check"
 * verifies after the restart, copying what it saw; "extra" changes after the check and notifies again.
 */
function serviceRole(dir: string, content: string, opts: { failAfterConfig?: boolean; extra?: boolean } = {}): Role {
  const p = (name: string) => join(dir, name);
  return {
    name: 'svc',
    hosts: 'all',
    steps: () => [
      copy({ dest: p('svc.conf'), content, mode: '0644', notify: ['restart'], tags: ['config'] }),
      ...(opts.failAfterConfig ? [command({ name: 'broken', cmd: 'echo nope >&2; exit 3' })] : []),
      command({ name: 'check', cmd: `cp ${p('restarts')} ${p('seen-by-check')}`, unless: `cmp -s ${p('restarts')} ${p('seen-by-check')}`, afterHandlers: true, tags: ['verify'] }),
      ...(opts.extra ? [command({ name: 'extra', cmd: `touch ${p('extra')}`, creates: p('extra'), notify: ['restart'] })] : []),
    ],
    handlers: () => [command({ name: 'restart', cmd: `echo restart >> ${p('restarts')}` })],
  };
}

/** `step: status` in order, handlers marked, paths relative to the test's directory. */
const trail = (r: Collected, dir: string) => r.steps.map((s) => `${s.handler ? 'handler ' : ''}${s.step.replace(`${dir}/`, '')}: ${s.status}`);
const text = (file: string) => readFile(file, 'utf8').catch(() => '(absent)');

t.test('a handler runs before the step that declares afterHandlers, once; a rerun changes nothing', async (t) => {
  const dir = t.testdir();
  const inv = await localInventory(dir);
  const first = await runCollect(inv, [serviceRole(dir, 'v1\n')]);
  t.equal(first.result.exitCode, 0, first.printed);
  t.strictSame(trail(first, dir), ['copy svc.conf: changed', 'handler restart: changed', 'check: changed']);
  t.equal(await text(join(dir, 'seen-by-check')), 'restart\n', 'the check saw the restarted service');
  t.equal(await text(join(dir, 'restarts')), 'restart\n', 'the handler ran once, not again at the end');
  t.equal(first.result.hosts.here!.changed, 3);

  const again = await runCollect(inv, [serviceRole(dir, 'v1\n')]);
  t.strictSame(trail(again, dir), ['copy svc.conf: ok', 'check: ok']);
  t.equal(again.result.hosts.here!.changed, 0);
  t.ok(again.result.hosts.here!.roundTrips.exec > 0, 'the local connection counts its execs');
});

t.test('a change after the flush notifies the handler again, at the end of the role', async (t) => {
  const dir = t.testdir();
  const inv = await localInventory(dir);
  const r = await runCollect(inv, [serviceRole(dir, 'v1\n', { extra: true })]);
  t.strictSame(trail(r, dir), ['copy svc.conf: changed', 'handler restart: changed', 'check: changed', 'extra: changed', 'handler restart: changed']);
  t.equal(await text(join(dir, 'restarts')), 'restart\nrestart\n');
});

t.test('check mode writes nothing and predicts the handler', async (t) => {
  const dir = t.testdir();
  const inv = await localInventory(dir);
  await runCollect(inv, [serviceRole(dir, 'v1\n')]);
  const r = await runCollect(inv, [serviceRole(dir, 'v2\n')], { check: true });
  t.equal(r.result.exitCode, 0);
  // The check would run after the restart: its probe saw the service before it, so it predicts nothing.
  t.strictSame(trail(r, dir), ['copy svc.conf: changed', 'handler restart: changed', 'check: skipped']);
  t.equal(await text(join(dir, 'svc.conf')), 'v1\n', 'the file is untouched');
  t.equal(await text(join(dir, 'restarts')), 'restart\n', 'no restart ran');
});

/**
 * roles/shared/loaded's shape: the config notifies nothing itself; a later step compares it
 * with what the service loaded (a marker) and notifies the reload. It declares what it reads.
 */
function loadedRole(dir: string, content: string): Role {
  const p = (name: string) => join(dir, name);
  return {
    name: 'svc',
    hosts: 'all',
    steps: () => [
      copy({ dest: p('svc.conf'), content, mode: '0644' }),
      command({ name: 'other', cmd: `touch ${p('other')}`, unless: `[ -e ${p('other')} ]` }),
      command({ name: 'runs the current config', cmd: 'true', unless: `cmp -s ${p('svc.conf')} ${p('loaded')}`, reads: [p('svc.conf'), p('loaded')], writes: [], notify: ['reload'] }),
    ],
    handlers: () => [command({ name: 'reload', cmd: `cp ${p('svc.conf')} ${p('loaded')}; echo reload >> ${p('reloads')}` })],
  };
}

t.test('check mode predicts what follows from what it would write, as the real run then does', async (t) => {
  const dir = t.testdir();
  const inv = await localInventory(dir);
  await runCollect(inv, [loadedRole(dir, 'v1\n')]);
  const check = await runCollect(inv, [loadedRole(dir, 'v2\n')], { check: true });
  t.strictSame(trail(check, dir), ['copy svc.conf: changed', 'other: ok', 'runs the current config: changed', 'handler reload: changed'], 'the reload is predicted');
  t.match(check.steps.find((s) => s.step === 'runs the current config')?.summary, /would change after "copy .*svc\.conf"/);
  t.equal(await text(join(dir, 'loaded')), 'v1\n', 'nothing reloaded');
  const real = await runCollect(inv, [loadedRole(dir, 'v2\n')]);
  t.strictSame(trail(real, dir), trail(check, dir), 'the real run does what check mode said');
  t.equal(await text(join(dir, 'reloads')), 'reload\nreload\n');
  const quiet = await runCollect(inv, [loadedRole(dir, 'v2\n')], { check: true });
  t.strictSame(trail(quiet, dir), ['copy svc.conf: ok', 'other: ok', 'runs the current config: ok'], 'nothing to predict once converged');
});

t.test('tags and --start-at select the steps; the handler follows what ran', async (t) => {
  const dir = t.testdir();
  const inv = await localInventory(dir);
  const tagged = await runCollect(inv, [serviceRole(dir, 'v1\n')], { tags: ['config'] });
  t.strictSame(trail(tagged, dir), ['copy svc.conf: changed', 'handler restart: changed'], 'only the config step, its handler at the end');
  const skipped = await runCollect(inv, [serviceRole(dir, 'v2\n')], { skipTags: ['config'] });
  t.strictSame(trail(skipped, dir), ['check: changed'], 'the check alone, no handler');
  t.equal(await text(join(dir, 'svc.conf')), 'v1\n');
  const started = await runCollect(inv, [serviceRole(dir, 'v3\n')], { startAt: 'check' });
  t.strictSame(trail(started, dir), ['check: ok'], 'from the named step on');
  const nowhere = runCollect(inv, [serviceRole(dir, 'v3\n')], { startAt: 'no such step' });
  await t.rejects(nowhere, { message: /--start-at "no such step": no step of the selected roles has that name/ });
});

t.test('a failed step stops the host: no later step, no handler, exit 2', async (t) => {
  const dir = t.testdir();
  const inv = await localInventory(dir);
  const r = await runCollect(inv, [serviceRole(dir, 'v1\n', { failAfterConfig: true })]);
  t.equal(r.result.exitCode, 2);
  t.strictSame(trail(r, dir), ['copy svc.conf: changed', 'broken: failed']);
  t.match(r.steps[1], { error: 'exit status 3', output: 'nope' });
  t.equal(await text(join(dir, 'restarts')), '(absent)', 'the handler did not run');
  t.match(r.result.hosts.here, { changed: 1, failed: 1 });
});

t.test('a file over the stdin limit is uploaded, staged beside its destination and renamed', async (t) => {
  const dir = t.testdir();
  const inv = await localInventory(dir);
  const big = join(dir, 'big.bin');
  await writeFile(big, Buffer.alloc(STDIN_LIMIT + 1, 7));
  const role: Role = { name: 'up', hosts: 'all', steps: () => [copy({ dest: join(dir, 'out', 'big.bin'), src: big, mode: '0600' })] };
  await mkdir(join(dir, 'out'));
  const r = await runCollect(inv, [role]);
  t.equal(r.result.exitCode, 0, r.printed);
  t.ok((await readFile(join(dir, 'out', 'big.bin'))).equals(await readFile(big)), 'the same bytes');
  t.strictSame(await readdir(join(dir, 'out')), ['big.bin'], 'no staging file left');
  t.equal(r.result.hosts.here!.roundTrips.sftp, 1, 'one upload');
});

t.test('the connection: ansible_connection local or ssh, -c overrides it, anything else is refused', async (t) => {
  const dir = t.testdir();
  const file = join(dir, 'inventory.yaml');
  await writeFile(file, 'all:\n  hosts:\n    far:\n      ansible_host: 192.0.2.1\n    odd:\n      ansible_connection: docker\n');
  const inv = await loadInventory(file);
  const far = inv.hosts.get('far')!;
  t.equal(connectionType(inv, far), 'ssh', 'ssh by default');
  t.equal(connectionType(inv, far, 'local'), 'local', '-c local for every host');
  t.throws(() => connectionType(inv, inv.hosts.get('odd')!), { name: 'UserError', message: /inventory\.yaml: host odd: ansible_connection "docker" is not supported \(ssh or local\)/ });
  const role: Role = { name: 'touch', hosts: 'far', steps: () => [command({ name: 'touch', cmd: `touch ${join(dir, 'touched')}`, creates: join(dir, 'touched') })] };
  const r = await runCollect(inv, [role], { connection: 'local' });
  t.equal(r.result.exitCode, 0, 'far is this machine with -c local');
  t.equal(await text(join(dir, 'touched')), '');
  t.strictSame(parseRunArgs(['-c', 'local']).options.connection, 'local');
  t.throws(() => parseRunArgs(['--connection', 'docker']), { name: 'UserError', message: '--connection "docker": use ssh or local' });
});
