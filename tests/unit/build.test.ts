// bin/build.mjs and bin/harbormaster.mjs: the compiled entry point runs what the sources say,
// rebuilds when they change, and keeps one instance of each module across a script and its roles.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { compiledPath, ensureBuilt, isEntry, PROJECT_ROOT } from '../../bin/build.mjs';

const LAUNCHER = join(PROJECT_ROOT, 'bin', 'harbormaster.mjs');
const LAB_INVENTORY = join(PROJECT_ROOT, 'tests/fixtures/inventory/lab/lab.yaml');

/** bin/harbormaster.mjs as a user's shell starts it: no tsx preloaded (npm and tap put it in NODE_OPTIONS here). */
const launch = (cwd: string, ...args: string[]) =>
  spawnSync('env', ['-u', 'NODE_OPTIONS', process.execPath, LAUNCHER, ...args], { encoding: 'utf8', cwd });

async function project(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'hm-build-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  for (const [rel, text] of Object.entries({ 'package.json': '{ "type": "module" }\n', ...files })) {
    await mkdir(dirname(join(root, rel)), { recursive: true });
    await writeFile(join(root, rel), text);
  }
  return root;
}

const SOURCES = {
  'lib/registry.ts': 'export const seen: Set<string> = new Set();\nexport const where: string = import.meta.url;\n',
  'roles/one/index.ts': "import { seen } from '../../lib/registry.ts';\nseen.add('one');\nexport default { name: 'one' as const };\n",
  // Imports the role by its compiled path (as lib/compiled.ts does) and reports what it sees.
  'scripts/hello.mts': [
    "import { seen, where } from '../lib/registry.ts';",
    'const role = (await import(process.argv[2]!)).default as { name: string };',
    'console.log(JSON.stringify({ role: role.name, shared: seen.has(role.name), where }));',
    '',
  ].join('\n'),
};

t.test('entries are the scripts and every roles/*/index.ts', async (t) => {
  t.ok(isEntry('scripts/site.mts'));
  t.ok(isEntry('roles/proxy/index.ts'));
  t.ok(isEntry('bench/roles/bench/index.ts'));
  t.notOk(isEntry('roles/shared/tls.ts'));
  t.notOk(isEntry('lib/run/cli.ts'));
});

t.test('a build runs, shares modules between a script and a role, and keeps source locations', async (t) => {
  const root = await project(SOURCES);
  const dir = await ensureBuilt(root);
  const role = pathToFileURL(compiledPath(dir, 'roles/one/index.ts')).href;
  const run = spawnSync(process.execPath, [compiledPath(dir, 'scripts/hello.mts'), role], { encoding: 'utf8' });
  t.equal(run.status, 0, run.stderr);
  t.strictSame(JSON.parse(run.stdout), { role: 'one', shared: true, where: pathToFileURL(join(root, 'lib/registry.ts')).href });

  const complete = (await stat(join(dir, '.complete'))).mtimeMs;
  t.equal(await ensureBuilt(root), dir, 'unchanged sources: the same build');
  t.equal((await stat(join(dir, '.complete'))).mtimeMs, complete, 'not rebuilt');

  await appendFile(join(root, 'lib/registry.ts'), 'export const added = 1;\n');
  const next = await ensureBuilt(root);
  t.not(next, dir, 'an edit makes a new build');
  t.ok(existsSync(dir), 'the previous build stays for runs that started from it');
  await mkdir(join(root, 'roles/two'));
  await writeFile(join(root, 'roles/two/index.ts'), 'export default { name: "two" };\n');
  t.ok(existsSync(compiledPath(await ensureBuilt(root), 'roles/two/index.ts')), 'a new role is compiled');
});

t.test('concurrent builds of the same sources agree and leave no staging directory', async (t) => {
  const root = await project(SOURCES);
  const dirs = await Promise.all([ensureBuilt(root), ensureBuilt(root), ensureBuilt(root)]);
  t.equal(new Set(dirs).size, 1);
  t.strictSame(await readdir(join(root, '.build')), [dirs[0]!.split('/').pop()]);
});

t.test('a compile error names the file and line, and leaves nothing behind', async (t) => {
  const root = await project({ ...SOURCES, 'lib/registry.ts': 'export const x = ;\n' });
  await t.rejects(ensureBuilt(root), /^cannot compile: .*lib\/registry\.ts:1: /);
  t.strictSame(existsSync(join(root, '.build')) ? await readdir(join(root, '.build')) : [], []);
});

t.test('bin/harbormaster.mjs runs the scripts with their own arguments and messages', async (t) => {
  const launcher = (...args: string[]) => launch(PROJECT_ROOT, ...args);
  const viaTsx = spawnSync(process.execPath, ['--import=tsx', 'scripts/inventory.mts', '-i', LAB_INVENTORY, '--list'], { encoding: 'utf8', cwd: PROJECT_ROOT });
  const compiled = launcher('inventory', '-i', LAB_INVENTORY, '--list');
  t.equal(compiled.status, 0, compiled.stderr);
  t.equal(compiled.stdout, viaTsx.stdout, 'the same output as the TypeScript sources');
  t.match(launcher('inventory', '--bogus'), { status: 1, stderr: "inventory: Unknown option '--bogus'; see --help\n" });
  t.match(launcher('nosuch'), { status: 2, stderr: /^harbormaster: no command "nosuch"; usage: bin\/harbormaster\.mjs .*role.*\n$/ });
  t.match(launcher(), { status: 2, stdout: /^usage: bin\/harbormaster\.mjs / });
  t.match(launcher('--help'), { status: 0, stdout: /^usage: / });
});

t.test('a role outside the project is refused in one line that says what to run instead', async (t) => {
  const elsewhere = await project({ 'roles/mine/index.ts': 'export default {};\n' });
  const r = launch(elsewhere, 'role', '-i', LAB_INVENTORY, 'mine');
  t.equal(r.status, 1);
  t.match(r.stderr, /^role: .*roles\/mine\/index\.ts is outside .*; run it with npx zx scripts\/role\.mts\n$/);
});
