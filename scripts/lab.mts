// The local lab: real hosts (network namespaces running sshd) on this machine.
//   npx zx scripts/lab.mts up|down|status|ssh HOST [CMD] [--name lab] [--subnet 10.90] [--registries 1] [--db]
//                          [--state-dir /var/lib/harbormaster/lab/NAME] [--inventory inventory/NAME.yaml]
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseFlags, runMain, scriptArgs } from '../lib/cli.ts';
import { UserError } from '../lib/errors.ts';
import { assertRoot } from '../lib/lab/deps.ts';
import { sshToHost } from '../lib/commands/ssh.ts';
import { loadRunInventory } from '../lib/inventory/vaulted.ts';
import { labDown, labInfoFor, labMemoryKiB, labStatus, labUp } from '../lib/lab/index.ts';
import type { LabInfo } from '../lib/lab/index.ts';

const USAGE =
  'usage: npx zx scripts/lab.mts up|down|status|ssh HOST [CMD...] [--name NAME] [--subnet A.B] [--registries N] [--db] [--state-dir DIR] [--inventory FILE]';

const OPTIONS = {
  name: { type: 'string', default: 'lab' },
  subnet: { type: 'string' },
  registries: { type: 'string' },
  db: { type: 'boolean' },
  'state-dir': { type: 'string' },
  inventory: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;


/** Flags go anywhere before `ssh HOST CMD...`'s CMD, which is passed on verbatim from its first word. */
function parse(args: string[]) {
  const { tokens = [] } = parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: false, tokens: true });
  const positionals = tokens.filter((t) => t.kind === 'positional');
  const cut = positionals[0]?.value === 'ssh' && positionals[2] ? positionals[2].index : args.length;
  const { values, positionals: [command, host] } = parseFlags({ args: args.slice(0, cut), options: OPTIONS, allowPositionals: true });
  return { values, command, host, remote: args.slice(cut) };
}

function registries(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UserError(`--registries "${value}": expected a whole number`);
  return Number(value);
}

function printHosts(info: LabInfo, extra: (i: number) => string = () => ''): void {
  const width = Math.max(...info.hosts.map((h) => h.name.length));
  info.hosts.forEach((h, i) => {
    const where = h.group === 'bastion' ? 'public' : 'private, via bastion';
    console.log(`  ${h.name.padEnd(width)}  ${h.address.padEnd(15)} ${where.padEnd(20)} ${extra(i)}`.trimEnd());
  });
}

async function requireLab(name: string, stateDir: string | undefined): Promise<LabInfo> {
  const info = await labInfoFor({ name, stateDir });
  if (!info) throw new UserError(`no lab named "${name}" is up; run: npx zx scripts/lab.mts up --name ${name}`);
  return info;
}

await runMain('lab', async () => {
  const { values, command, host, remote } = parse(scriptArgs(import.meta.url));
  if (values.help || !command) {
    console.log(USAGE);
    return values.help ? 0 : 1;
  }
  assertRoot();
  const name = values.name;
  // Paths given on the command line are relative to the current directory.
  const stateDir = values['state-dir'] && resolve(values['state-dir']);
  const started = Date.now();
  const seconds = () => ((Date.now() - started) / 1000).toFixed(1);
  switch (command) {
    case 'up': {
      const info = await labUp({
        name,
        stateDir,
        subnet: values.subnet,
        registries: registries(values.registries),
        // Absent: the running lab's choice (a db host stays until `down`).
        db: values.db || undefined,
        inventoryFile: values.inventory && resolve(values.inventory),
        onProgress: (msg) => console.log(`  ${msg}`),
      });
      const mb = Math.round((await labMemoryKiB(info)) / 1024);
      console.log(`lab ${name} is up in ${seconds()} s: ${info.hosts.length} hosts, ${mb} MB of processes`);
      printHosts(info);
      console.log(`inventory ${info.inventoryFile}\nssh       npx zx scripts/lab.mts ssh bastion --name ${name}`);
      return 0;
    }
    case 'down': {
      const existed = (await labInfoFor({ name, stateDir })) !== null;
      await labDown({ name, stateDir });
      console.log(existed ? `lab ${name} is down (${seconds()} s)` : `lab ${name} was not up; removed any leftovers`);
      return 0;
    }
    case 'status': {
      const status = await labStatus({ name, stateDir });
      if (!status) {
        console.log(`lab ${name} is not up`);
        return 1;
      }
      console.log(`lab ${name} (${status.info.stateDir})`);
      printHosts(status.info, (i) => {
        const h = status.hosts[i]!;
        return !h.running ? 'DOWN' : h.sshBanner ? `sshd ok: ${h.sshBanner}` : 'sshd NOT answering';
      });
      return status.hosts.every((h) => h.running && h.sshBanner) ? 0 : 1;
    }
    case 'ssh': {
      if (!host) throw new UserError('ssh needs a host: lab.mts ssh HOST [CMD...]');
      // scripts/ssh.mts on the lab's inventory.
      return sshToHost(await loadRunInventory((await requireLab(name, stateDir)).inventoryFile), host, remote);
    }
    default:
      throw new UserError(`unknown command "${command}": expected up, down, status or ssh`);
  }
});
