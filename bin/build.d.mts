// Types of build.mjs for the TypeScript that imports it (tests).
export const PROJECT_ROOT: string;
export function isEntry(rel: string): boolean;
export function ensureBuilt(root?: string): Promise<string>;
export function compiledPath(dir: string, rel: string): string;
