// Shows an inventory as harbormaster reads it, like ansible-inventory (plus --targets: how each host is reached).
import { parseFlags, runMain, scriptArgs } from '../lib/cli.ts';
import { UserError } from '../lib/errors.ts';
import { loadRunInventory, passwordSource } from '../lib/inventory/vaulted.ts';
import { selectHosts } from '../lib/inventory/limit.ts';
import { ansibleJson, InventoryView } from '../lib/inventory/show.ts';
import { sshTargetOf } from '../lib/inventory/target.ts';
import { redact } from '../lib/secret.ts';

const USAGE = `usage: npx zx scripts/inventory.mts -i FILE [--limit PATTERN] --list | --graph | --host NAME | --targets
  -i, --inventory FILE       YAML or INI inventory (group_vars/ and host_vars/ beside it are read too)
  -l, --limit PATTERN        only hosts matching an Ansible host pattern (web,db  web:!db  web:&prod  web*)
  --list                     groups and every host's variables as JSON, like ansible-inventory --list
  --graph                    the group tree, like ansible-inventory --graph
  --host NAME                one host's variables as JSON
  --targets                  how each host is reached over SSH (address, user, key, known_hosts, jump)
  --known-hosts FILE         known_hosts file for --targets instead of the inventory's
  --vault-password-file F    for !vault values (else $HARBORMASTER_VAULT_PASSWORD_FILE, else a prompt)`;

const OPTIONS = {
  inventory: { type: 'string', short: 'i' },
  limit: { type: 'string', short: 'l' },
  list: { type: 'boolean' },
  graph: { type: 'boolean' },
  host: { type: 'string' },
  targets: { type: 'boolean' },
  'known-hosts': { type: 'string' },
  'vault-password-file': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

await runMain('inventory', async () => {
  const argv = parseFlags({ args: scriptArgs(import.meta.url), options: OPTIONS }).values;
  if (argv.help) return void console.log(USAGE);
  const actions = (['list', 'graph', 'host', 'targets'] as const).filter((a) => argv[a] !== undefined && argv[a] !== false);
  if (actions.length !== 1) throw new UserError("give exactly one of --list, --graph, --host NAME, --targets; see --help");
  const file = argv.inventory;
  if (!file) throw new UserError("-i FILE is required; see --help");

  const inv = await loadRunInventory(file, passwordSource(argv['vault-password-file']));
  const limit = argv.limit;
  const hosts = limit === undefined ? undefined : selectHosts(inv, limit);
  let out: string;
  if (actions[0] === 'list') out = ansibleJson(new InventoryView(inv, hosts).list());
  else if (actions[0] === 'graph') out = new InventoryView(inv, hosts).graph();
  else if (actions[0] === 'host') {
    const name = argv.host!;
    const host = inv.hosts.get(name);
    if (!host) throw new UserError(`${inv.file}: no host named ${name}`);
    out = ansibleJson(host.vars);
  } else {
    const knownHostsFile = argv['known-hosts'];
    const opts = knownHostsFile ? { knownHostsFile } : {};
    out = ansibleJson((hosts ?? [...inv.hosts.values()]).map((h) => sshTargetOf(inv, h, opts)));
  }
  process.stdout.write(redact(out) + '\n');
});
