// Whether this process runs the TypeScript sources (through tsx) or the build that
// bin/harbormaster.mjs made and announced, and how to import a project file either way.
import { existsSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { UserError } from './errors.ts';

interface Build {
  /** .build/<key>/ */
  dir: string;
  /** The project whose sources it was compiled from. */
  root: string;
}

/** This project's root (a build keeps its sources' import.meta.url, so this holds compiled too). */
export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');

const BUILD_SYMBOL = Symbol.for('harbormaster.build');

const build = (): Build | undefined => (globalThis as Record<symbol, Build | undefined>)[BUILD_SYMBOL];

/** The URL to import a project .ts file by: itself, or its compiled twin. */
export function importUrl(sourceFile: string): string {
  const b = build();
  if (!b) return pathToFileURL(sourceFile).href;
  const rel = relative(b.root, resolve(sourceFile));
  const compiled = join(b.dir, rel.replace(/\.m?ts$/, '.js'));
  const outside = rel.startsWith('..') || isAbsolute(rel);
  if (outside || !existsSync(compiled)) {
    const where = outside ? `outside ${b.root}` : 'not where bin/build.mjs looks (roles/, bench/roles/)';
    throw new UserError(`${sourceFile} is ${where}, so bin/harbormaster.mjs has not compiled it; run it with npx zx scripts/role.mts`);
  }
  return pathToFileURL(compiled).href;
}
