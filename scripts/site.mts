// Converges the whole site: every role, in order, on the hosts of an inventory.
//   npx zx scripts/site.mts [-i INVENTORY] [flags]   (default inventory: inventory/lab.yaml; see --help)
import { runMain } from '../lib/cli.ts';
import { UserError } from '../lib/errors.ts';
import { loadRole, parseRunArgs, RUN_FLAGS_HELP, runCommand, scriptArgs } from '../lib/run/cli.ts';

/** The site's roles, in the order they run. */
const SITE_ROLES = ['demo'];

const USAGE = `usage: npx zx scripts/site.mts [-i INVENTORY] [flags]\nruns roles: ${SITE_ROLES.join(', ')}\n\n${RUN_FLAGS_HELP}`;

await runMain('site', async () => {
  const cmd = parseRunArgs(scriptArgs(import.meta.url));
  if (cmd.help) return void console.log(USAGE);
  if (cmd.positionals.length) throw new UserError(`unexpected argument "${cmd.positionals[0]}"; see --help`);
  const roles = [];
  for (const name of SITE_ROLES) roles.push(await loadRole(name));
  return runCommand(cmd, cmd.inventory ?? 'inventory/lab.yaml', roles);
});
