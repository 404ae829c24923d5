// File steps (file, directory, copy, line, download, unarchive) run for real against this
// machine's /bin/sh in a temp dir: probe, plan, apply, probe again.
import { createHash } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { copy, directory, download, file, line, unarchive } from '../../lib/steps/index.ts';
import { STDIN_LIMIT } from '../../lib/steps/copy.ts';
import { applyLocally, converge, localEnv, planLocally, sh } from '../fixtures/engine/local-shell.ts';

const env = localEnv();
const sha = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');

async function tmp(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hm-steps-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('directory: created with its mode, then no change; a wrong mode is fixed', async (t) => {
  const dir = join(await tmp(t), 'a', 'b');
  const step = directory({ path: dir, mode: '0750' });
  const run = await converge(step, env);
  t.equal(run.first?.summary, 'create');
  t.equal(run.second, null);
  t.equal((await stat(dir)).mode & 0o777, 0o750);
  await chmod(dir, 0o700);
  const fix = await converge(step, env);
  t.equal(fix.first?.summary, 'mode 700 -> 750');
  t.equal(fix.second, null);
});

t.test('file: touch with owner, absent removes files and trees; a directory in the way is an error', async (t) => {
  const dir = await tmp(t);
  const f = join(dir, 'f');
  t.equal((await converge(file({ path: f, mode: '600', owner: 'root', group: 0 }), env)).second, null);
  t.equal((await stat(f)).mode & 0o777, 0o600);
  t.equal((await converge(file({ path: f, state: 'absent' }), env)).first?.summary, 'remove file');
  await sh(`mkdir -p ${dir}/tree/x && touch ${dir}/tree/x/y`);
  t.equal((await converge(file({ path: `${dir}/tree`, state: 'absent' }), env)).second, null);
  t.strictSame(await readdir(dir), []);
  await sh(`mkdir ${dir}/d`);
  await t.rejects(planLocally(file({ path: `${dir}/d` }), env), /is a directory, not a file/);
  t.throws(() => file({ path: 'relative' }), /must be absolute/);
});

t.test('copy: content written atomically, then idempotent; only a mode change re-modes', async (t) => {
  const dir = await tmp(t);
  const dest = join(dir, 'conf');
  const step = copy({ dest, content: 'a=1\n', mode: '0640' });
  const run = await converge(step, env);
  t.equal(run.first?.summary, 'create');
  t.equal(run.second, null);
  t.equal(await readFile(dest, 'utf8'), 'a=1\n');
  t.equal((await stat(dest)).mode & 0o777, 0o640);
  await chmod(dest, 0o644);
  const remode = await planLocally(step, env);
  t.equal(remode?.summary, 'mode 644 -> 640');
  t.notOk(remode?.action.stdin, 'a mode change sends no content');
  t.strictSame(await readdir(dir), ['conf'], 'no temp files left');
});

t.test('copy: existing file keeps its mode when none is asked; --diff shows before and after', async (t) => {
  const dir = await tmp(t);
  const dest = join(dir, 'conf');
  await writeFile(dest, 'old\n', { mode: 0o600 });
  const change = await planLocally(copy({ dest, content: 'new\n' }), localEnv({ wantDiff: true }));
  t.match(change?.content, { path: dest, exists: true, before: 'old\n', after: 'new\n', sensitive: false });
  t.equal((await applyLocally(change!)).code, 0);
  t.equal((await stat(dest)).mode & 0o777, 0o600);
});

t.test('copy: sensitive content is never fetched for a diff', async (t) => {
  const dest = join(await tmp(t), 'secret');
  await writeFile(dest, 'old secret\n');
  const step = copy({ dest, content: 'new secret\n', sensitive: true });
  const probe = await step.probe(localEnv({ wantDiff: true }));
  t.strictSame(probe.files, [{ path: dest, hash: true, fetch: false }], 'the probe does not read the file');
  const plain = await copy({ dest, content: 'x' }).probe(localEnv({ wantDiff: true }));
  t.equal(plain.files?.[0]?.fetch, true, 'a plain file is fetched for --diff');
  const change = await planLocally(step, localEnv({ wantDiff: true }));
  t.match(change?.content, { before: null, after: null, sensitive: true });
});

t.test('copy: a truncated stdin (connection lost) leaves the old file and no temp file', async (t) => {
  const dir = await tmp(t);
  const dest = join(dir, 'conf');
  await writeFile(dest, 'original\n');
  const change = await planLocally(copy({ dest, content: 'x'.repeat(10_000) }), env);
  const cut = { ...change!, action: { ...change!.action, stdin: 'x'.repeat(4_000) } };
  const r = await applyLocally(cut);
  t.not(r.code, 0);
  t.match(r.log, /incomplete content/);
  t.equal(await readFile(dest, 'utf8'), 'original\n');
  t.strictSame(await readdir(dir), ['conf']);
});

t.test('copy: a large local file goes by upload to a staging file beside the target', async (t) => {
  const dir = await tmp(t);
  const src = join(dir, 'big.src');
  const big = Buffer.alloc(STDIN_LIMIT + 1, 7);
  await writeFile(src, big);
  const dest = join(dir, 'big');
  const step = copy({ dest, src, mode: '0600' });
  const first = await planLocally(step, env);
  t.equal(first?.action.upload?.remote, join(dir, '.big.hm-upload'));
  t.notOk(first?.action.stdin);
  t.equal((await applyLocally(first!)).code, 0);
  t.equal(sha(await readFile(dest)), sha(big));
  t.equal(await planLocally(step, env), null);
  t.strictSame((await readdir(dir)).sort(), ['big', 'big.src']);
  t.throws(() => copy({ dest }), /exactly one of content or src/);
});

t.test('line: ensure, replace by regexp, remove, create', async (t) => {
  const dir = await tmp(t);
  const f = join(dir, 'settings.ini');
  await t.rejects(planLocally(line({ path: f, line: 'a=1' }), env), /does not exist \(set create: true/);
  t.equal((await converge(line({ path: f, line: '[main]', create: true }), env)).second, null);
  t.equal((await converge(line({ path: f, regexp: '^port=', line: 'port=80' }), env)).second, null);
  t.equal((await converge(line({ path: f, regexp: '^port=', line: 'port=8080' }), env)).first?.summary, 'edit');
  await writeFile(f, (await readFile(f, 'utf8')) + 'debug=1\n');
  t.equal((await converge(line({ path: f, regexp: '^debug=', state: 'absent' }), env)).second, null);
  t.equal((await converge(line({ path: f, regexp: '80(80)', replace: '90$1' }), env)).second, null);
  t.equal(await readFile(f, 'utf8'), '[main]\nport=9080\n');
});

t.test('download: fetched by curl from a file:// URL, verified, skipped once present', async (t) => {
  const dir = await tmp(t);
  const src = join(dir, 'payload');
  await writeFile(src, 'payload\n');
  const dest = join(dir, 'fetched');
  const step = download({ url: `file://${src}`, dest, sha256: sha('payload\n'), mode: '0644' });
  const run = await converge(step, env);
  t.equal(run.first?.summary, 'fetch');
  t.equal(run.second, null);
  t.notMatch(run.first?.action.script, /file:\/\//, 'the URL is not in the script (argv)');
  const wrong = download({ url: `file://${src}`, dest: join(dir, 'other'), sha256: sha('else') });
  const r = await applyLocally((await planLocally(wrong, env))!);
  t.match(r.log, /checksum mismatch/);
  t.strictSame((await readdir(dir)).sort(), ['fetched', 'payload'], 'a bad download leaves nothing');
  t.throws(() => download({ url: 'http://x', dest, sha256: 'abc' }), /64 hex digits/);
});

t.test('unarchive: unpacked once per archive content (marker), or guarded by creates', async (t) => {
  const dir = await tmp(t);
  await sh(`mkdir ${dir}/src && echo one > ${dir}/src/a.txt && tar -czf ${dir}/a.tar.gz -C ${dir}/src .`);
  const step = unarchive({ src: `${dir}/a.tar.gz`, dest: `${dir}/out` });
  const run = await converge(step, env);
  t.equal(run.first?.summary, 'unpack');
  t.equal(run.second, null);
  t.equal(await readFile(`${dir}/out/a.txt`, 'utf8'), 'one\n');
  await sh(`echo two > ${dir}/src/a.txt && tar -czf ${dir}/a.tar.gz -C ${dir}/src .`);
  t.equal((await converge(step, env)).first?.summary, 'unpack', 'a changed archive is unpacked again');
  t.equal(await readFile(`${dir}/out/a.txt`, 'utf8'), 'two\n');
  const guarded = unarchive({ src: `${dir}/a.tar.gz`, dest: `${dir}/out2`, creates: `${dir}/out/a.txt` });
  t.equal(await planLocally(guarded, env), null);
  const missing = unarchive({ src: `${dir}/none.tar.gz`, dest: `${dir}/out3` });
  t.match((await applyLocally((await planLocally(missing, env))!)).log, /is not on the host/);
});
