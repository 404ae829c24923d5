// Whether this process runs the TypeScript sources (through tsx) or the build that
// bin/harbormaster.mjs made and announced, and how to import a project file either way.
import { isAbsolute, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { UserError } from './errors.ts';

interface Build {
  /** .build/<key>/ */
  dir: string;
  /** The project whose sources it was compiled from. */
  root: string;
}

const BUILD_SYMBOL = Symbol.for('harbormaster.build');

const build = (): Build | undefined => (globalThis as Record<symbol, Build | undefined>)[BUILD_SYMBOL];

/** The URL to import a project .ts file by: itself, or its compiled twin. */
export function importUrl(sourceFile: string): string {
  const b = build();
  if (!b) return pathToFileURL(sourceFile).href;
  const rel = relative(b.root, resolve(sourceFile));
  if (rel.startsWith('..') || isAbsolute(rel)) {
    throw new UserError(`${sourceFile} is outside ${b.root}, so bin/harbormaster.mjs has not compiled it; run it with npx zx scripts/role.mts`);
  }
  return pathToFileURL(join(b.dir, rel.replace(/\.m?ts$/, '.js'))).href;
}
