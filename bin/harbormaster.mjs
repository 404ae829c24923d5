#!/usr/bin/env node
// The fast way to run harbormaster: `bin/harbormaster.mjs COMMAND [ARGS]` runs scripts/COMMAND.mts
// compiled to plain JavaScript (see build.mjs), so a run starts without tsx or zx. Arguments and
// behaviour are the script's own, exactly as with `npx zx scripts/COMMAND.mts`.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { compiledPath, ensureBuilt, PROJECT_ROOT } from './build.mjs';

const commands = readdirSync(join(PROJECT_ROOT, 'scripts'))
  .filter((f) => f.endsWith('.mts'))
  .map((f) => f.slice(0, -'.mts'.length));
const usage = `usage: bin/harbormaster.mjs ${commands.join('|')} [ARGS]  (each takes --help)`;
const [command, ...args] = process.argv.slice(2);
if (!command || command === '-h' || command === '--help') {
  console.log(usage);
  process.exit(command ? 0 : 2);
}
if (!commands.includes(command)) {
  console.error(`harbormaster: no command "${command}"; ${usage}`);
  process.exit(2);
}
let dir;
try {
  dir = await ensureBuilt();
} catch (err) {
  console.error(`harbormaster: ${err.message}`);
  process.exit(70);
}
// lib/compiled.ts reads this to import roles from the same build.
globalThis[Symbol.for('harbormaster.build')] = { dir, root: PROJECT_ROOT };
// The script finds its arguments after its own (source) path in argv, as it does under zx.
const source = join(PROJECT_ROOT, 'scripts', `${command}.mts`);
process.argv = [process.argv[0], source, ...args];
await import(pathToFileURL(compiledPath(dir, `scripts/${command}.mts`)).href);
