// The way in: a shell or command on any inventory host, a tunnel to the registry, an OpenSSH config.
//   npx zx scripts/ssh.mts [-i INVENTORY] HOST [CMD...] | tunnel [--port 8443] [HOST] | config [-o FILE]
import { runMain, scriptArgs } from '../lib/cli.ts';
import { main } from '../lib/commands/ssh.ts';

await runMain('ssh', () => main({ args: scriptArgs(import.meta.url), out: process.stdout, err: process.stderr }));
