// Runs roles on the hosts of an inventory.
//   npx zx scripts/role.mts -i INVENTORY ROLE[,ROLE...] [flags]   (see --help)
import { runMain, scriptArgs } from '../lib/cli.ts';
import { UserError } from '../lib/errors.ts';
import { loadRole, parseRunArgs, RUN_FLAGS_HELP, runCommand } from '../lib/run/cli.ts';

const USAGE = `usage: npx zx scripts/role.mts -i INVENTORY ROLE[,ROLE...] [flags]\n\n${RUN_FLAGS_HELP}`;

await runMain('role', async () => {
  const cmd = parseRunArgs(scriptArgs(import.meta.url));
  if (cmd.help) return void console.log(USAGE);
  if (!cmd.inventory) throw new UserError('-i INVENTORY is required; see --help');
  const names = cmd.positionals.flatMap((p) => p.split(',')).filter(Boolean);
  if (names.length === 0) throw new UserError('name at least one role (roles/<name>/index.ts); see --help');
  const roles = [];
  for (const name of names) roles.push(await loadRole(name));
  return runCommand(cmd, cmd.inventory, roles);
});
