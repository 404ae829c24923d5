// Compiles what bin/harbormaster.mjs runs — scripts/*.mts and every roles/*/index.ts — into
// .build/<key>/ with esbuild: bundled with their packages and split into shared chunks, so a run
// loads a few files instead of hundreds, and a role imported later shares the script's modules
// (one Secret registry, one runner). The key is a digest of the sources' paths, sizes and times:
// an edit makes a new build, and a build is renamed into place whole, so concurrent runs never
// see half of one. Plain JavaScript on purpose: it runs before anything is compiled.
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const PROJECT_ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const SOURCE_DIRS = ['lib', 'roles', 'scripts', 'bench'];
const SKIP = new Set(['node_modules', 'ansible', 'templates', 'files']);
const STALE_MS = 3600_000;
// Not on a run's path, and large: left as packages, imported from node_modules when needed.
const EXTERNAL = ['zx', '@aws-sdk/*', 'esbuild', 'tsx'];

/** Every .ts/.mts file under the source dirs, with what identifies its current content. */
function sources(root) {
  const found = [];
  const walk = (dir) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      if (err.code === 'ENOENT') return;
      throw err;
    }
    for (const e of entries) {
      const path = join(dir, e.name);
      if (e.isDirectory()) {
        if (!SKIP.has(e.name) && !e.name.startsWith('.')) walk(path);
      } else if (/\.m?ts$/.test(e.name) && !e.name.endsWith('.d.ts')) {
        const s = statSync(path);
        found.push({ path, rel: relative(root, path), id: `${relative(root, path)}:${s.size}:${s.mtimeMs}` });
      }
    }
  };
  for (const d of SOURCE_DIRS) walk(join(root, d));
  return found.sort((a, b) => (a.rel < b.rel ? -1 : 1));
}

/** What a run starts from: the scripts, and the roles they import by name. */
export const isEntry = (rel) => /^scripts\/[^/]+\.mts$/.test(rel) || /(^|\/)roles\/[^/]+\/index\.ts$/.test(rel);

const projectFiles = {
  name: 'project-files',
  setup(build) {
    // Our modules find templates and files next to their source: import.meta.url stays the source's.
    build.onLoad({ filter: /\.m?ts$/ }, ({ path }) => ({
      contents: readFileSync(path, 'utf8').replaceAll('import.meta.url', JSON.stringify(pathToFileURL(path).href)),
      loader: 'ts',
    }));
    // Native addons (ssh2's crypto) are loaded from where npm built them.
    build.onResolve({ filter: /\.node$/ }, ({ path, resolveDir }) => ({ path: join(resolveDir, path), external: true }));
  },
};

/**
 * The directory holding the compiled entries, compiling them first when no build matches the
 * sources as they are now.
 */
export async function ensureBuilt(root = PROJECT_ROOT) {
  const files = sources(root);
  const self = statSync(fileURLToPath(import.meta.url));
  const key = createHash('sha256')
    .update(`${self.size}:${self.mtimeMs}\n`)
    .update(files.map((f) => f.id).join('\n'))
    .digest('hex')
    .slice(0, 16);
  const buildsDir = join(root, '.build');
  const dir = join(buildsDir, key);
  try {
    statSync(join(dir, '.complete'));
    return dir;
  } catch {}

  const { build } = await import('esbuild');
  const staging = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  rmSync(staging, { recursive: true, force: true });
  const entryPoints = files.filter((f) => isEntry(f.rel)).map((f) => f.path);
  try {
    await build({
      entryPoints,
      outbase: root,
      outdir: staging,
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      external: EXTERNAL,
      plugins: [projectFiles],
      // Bundled CommonJS packages call require() and read __dirname, which ES modules lack.
      banner: {
        js: [
          "import { createRequire as __hmRequire } from 'node:module';",
          "import { dirname as __hmDirname } from 'node:path';",
          "import { fileURLToPath as __hmPath } from 'node:url';",
          'const require = __hmRequire(import.meta.url);',
          'const __hm_filename = __hmPath(import.meta.url);',
          'const __hm_dirname = __hmDirname(__hm_filename);',
        ].join('\n'),
      },
      define: { __dirname: '__hm_dirname', __filename: '__hm_filename' },
      logLevel: 'silent',
    });
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    const first = err.errors?.[0];
    const where = first?.location ? `${first.location.file}:${first.location.line}: ` : '';
    throw new Error(`cannot compile: ${where}${first?.text ?? err.message}`);
  }
  writeFileSync(join(staging, '.complete'), `${entryPoints.length} entries\n`);
  try {
    renameSync(staging, dir);
  } catch (err) {
    // Another run finished the same build first: use it.
    rmSync(staging, { recursive: true, force: true });
    if (!['ENOTEMPTY', 'EEXIST'].includes(err.code)) throw err;
  }
  // Builds of sources as they were an hour ago or more (and crashed builds) are not in use any more.
  for (const old of readdirSync(buildsDir)) {
    const path = join(buildsDir, old);
    if (old !== key && Date.now() - statSync(path).mtimeMs > STALE_MS) rmSync(path, { recursive: true, force: true });
  }
  return dir;
}

/** Where a project source file's compiled entry is in build `dir`. */
export const compiledPath = (dir, rel) => join(dir, rel.replace(/\.m?ts$/, '.js'));

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const t0 = performance.now();
  const dir = await ensureBuilt();
  console.log(`${relative(process.cwd(), dir)}: up to date (${Math.round(performance.now() - t0)} ms)`);
}
