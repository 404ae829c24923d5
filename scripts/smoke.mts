// The registry smoke test: push an image built in code, pull it back, compare digests, delete it.
//   npx zx scripts/smoke.mts [-i INVENTORY | --url https://NAME] [--resolve ADDRESS] [options]
import { runMain, scriptArgs } from '../lib/cli.ts';
import { main } from '../lib/commands/smoke.ts';

await runMain('smoke', () => main({ args: scriptArgs(import.meta.url), out: process.stdout, err: process.stderr }));
