// bin/handover: `npx zx scripts/NAME.mts` runs the compiled build when it can, and the
// sources through tsx when it cannot, with the same arguments, output and exit status.
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import t from 'tap';
import { PROJECT_ROOT } from '../../bin/build.mjs';

/** A project of its own (this one's bin/ and node_modules) with one script that says how it ran. */
async function project(files: Record<string, string> = {}): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'hm-handover-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const all = {
    'package.json': JSON.stringify({ name: 'harbormaster', type: 'module' }),
    '.npmrc': 'node-options=--import=harbormaster-handover --import=tsx\nupdate-notifier=false\n',
    'lib/how.ts': "export const how = (): string => (globalThis as Record<symbol, unknown>)[Symbol.for('harbormaster.build')] ? 'compiled' : 'sources';\n",
    'scripts/hello.mts': [
      "import { how } from '../lib/how.ts';",
      // Our scripts find their arguments after their own path, under zx and compiled alike.
      "const self = process.argv.findIndex((a) => a.endsWith('scripts/hello.mts'));",
      'console.log(JSON.stringify({ how: how(), args: process.argv.slice(self + 1) }));',
      "if (process.argv[2] === 'fail') process.exitCode = 3;",
      '',
    ].join('\n'),
    ...files,
  };
  for (const [rel, text] of Object.entries(all)) {
    await mkdir(dirname(join(root, rel)), { recursive: true });
    await writeFile(join(root, rel), text);
  }
  await mkdir(join(root, 'bin/handover'), { recursive: true });
  for (const f of ['build.mjs', 'handover/index.mjs', 'handover/package.json']) await copyFile(join(PROJECT_ROOT, 'bin', f), join(root, 'bin', f));
  // This project's packages, but its own harbormaster-handover (npm links it to bin/handover).
  await mkdir(join(root, 'node_modules'));
  for (const name of await readdir(join(PROJECT_ROOT, 'node_modules'))) {
    const own = name === 'harbormaster-handover';
    await symlink(own ? '../bin/handover' : join(PROJECT_ROOT, 'node_modules', name), join(root, 'node_modules', name));
  }
  return root;
}

/** `npx zx scripts/hello.mts ARGS` as a user types it, in `cwd`. */
function npxZx(cwd: string, script: string, args: string[], env: Record<string, string> = {}) {
  const clean = { ...process.env, ...env };
  delete clean.NODE_OPTIONS; // tap's own --import=tsx; npm adds the project's node-options
  return spawnSync('npx', ['zx', script, ...args], { cwd, encoding: 'utf8', env: clean });
}

t.test('our script runs compiled, once, with its arguments and exit status', async (t) => {
  const root = await project();
  const r = npxZx(root, 'scripts/hello.mts', ['a', '--b']);
  t.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.equal(lines.length, 1, 'zx did not run it a second time');
  t.strictSame(JSON.parse(lines[0]!), { how: 'compiled', args: ['a', '--b'] });
  t.equal(npxZx(root, 'scripts/hello.mts', ['fail']).status, 3, 'the exit status is the script\'s');
  const sub = npxZx(join(root, 'lib'), '../scripts/hello.mts', []);
  t.equal(JSON.parse(sub.stdout).how, 'compiled', 'from a subdirectory too');
});

t.test('the sources run through tsx when the build cannot serve', async (t) => {
  const root = await project();
  const off = npxZx(root, 'scripts/hello.mts', ['x'], { HARBORMASTER_NO_HANDOVER: '1' });
  t.strictSame(JSON.parse(off.stdout), { how: 'sources', args: ['x'] }, 'HARBORMASTER_NO_HANDOVER=1');

  // roles/ in the current directory come before the project's, and only the sources can load them.
  await mkdir(join(root, 'work/roles'), { recursive: true });
  const withRoles = npxZx(join(root, 'work'), '../scripts/hello.mts', []);
  t.equal(JSON.parse(withRoles.stdout).how, 'sources', 'a ./roles that is not the project\'s: sources');

  const broken = await project({ 'lib/how.ts': 'export const how = ;\n' });
  const r = npxZx(broken, 'scripts/hello.mts', []);
  t.not(r.status, 0);
  t.match(r.stderr, /lib\/how\.ts/, 'a source that does not compile: tsx reports it, naming the file');
});

t.test('a script that is not one of the project\'s is left to zx', async (t) => {
  const root = await project({ 'other/hi.mts': "console.log('plain ' + String(Boolean((globalThis as Record<symbol, unknown>)[Symbol.for('harbormaster.build')])));\n" });
  const r = npxZx(root, 'other/hi.mts', []);
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stdout, 'plain false\n');
});
