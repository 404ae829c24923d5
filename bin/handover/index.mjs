// `npx zx scripts/NAME.mts` — the README's way to run harbormaster — loads this first: the
// project's .npmrc puts it in node-options before tsx, as the local package harbormaster-handover
// (a bare name, so it resolves from anywhere under the project, npm's install scripts included).
// When NAME is one of this project's scripts, it runs that script's compiled build (bin/build.mjs, as bin/harbormaster.mjs does) in
// this process, and tells the loader to make tsx and zx's own entry empty modules: the command
// starts without tsx transpiling a few hundred TypeScript modules, and runs exactly once.
// Otherwise (not our script, a source that does not compile, roles in the current directory
// that are not the project's, HARBORMASTER_NO_HANDOVER=1) it does nothing and tsx runs the sources.
import { existsSync, realpathSync } from 'node:fs';
import { register } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { compiledPath, ensureBuilt, PROJECT_ROOT } from '../build.mjs';

/** The script zx was asked to run, when it is ours and given as zx's first argument. */
function ourScript() {
  const [, main, script] = process.argv;
  if (!main || !script || process.env.HARBORMASTER_NO_HANDOVER) return undefined;
  let cli;
  try {
    cli = realpathSync(main);
  } catch {
    return undefined;
  }
  if (!/[\\/]zx[\\/]build[\\/]cli\.js$/.test(cli)) return undefined;
  const path = resolve(script);
  if (dirname(path) !== join(PROJECT_ROOT, 'scripts') || !path.endsWith('.mts')) return undefined;
  // Roles are looked up in ./roles before the project's; only the sources can load those.
  if (resolve('roles') !== join(PROJECT_ROOT, 'roles') && existsSync('roles')) return undefined;
  return { path, main: cli };
}

const target = ourScript();
if (target) {
  let dir;
  try {
    dir = await ensureBuilt();
  } catch {
    // A source that does not compile: leave it to tsx, which names the file and line as well.
    dir = undefined;
  }
  if (dir) {
    const skipped = JSON.stringify(['tsx', pathToFileURL(target.main).href, target.main]);
    const hooks = `export async function resolve(specifier, context, next) {
      if (${skipped}.includes(specifier)) return { url: 'data:text/javascript,', shortCircuit: true, format: 'module' };
      return next(specifier, context);
    }`;
    register(`data:text/javascript,${encodeURIComponent(hooks)}`);
    // lib/compiled.ts reads this to import roles from the same build.
    globalThis[Symbol.for('harbormaster.build')] = { dir, root: PROJECT_ROOT };
    process.argv = [process.argv[0], target.path, ...process.argv.slice(3)];
    await import(pathToFileURL(compiledPath(dir, `scripts/${target.path.slice(target.path.lastIndexOf('/') + 1)}`)).href);
  }
}
