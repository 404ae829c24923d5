// Converges the whole site: every role, in order, on the hosts of an inventory.
//   npx zx scripts/site.mts [-i INVENTORY | --aws [SETTINGS]] [flags]
// Without -i it runs on the embedded default, the local lab: brings it up (installing what it
// needs), then converges it with the secrets its inventory names (vault/lab.yaml, made on the
// first run with a generated password file, and certs/lab).
// With --aws it first applies the AWS phase (scripts/aws.mts apply) and runs on its inventory.
import { existsSync } from 'node:fs';
import { runMain, scriptArgs } from '../lib/cli.ts';
import { AWS_DEFAULTS } from '../lib/cloud/aws/settings.ts';
import { passwordSource, type PasswordSource } from '../lib/inventory/vaulted.ts';
import { UserError } from '../lib/errors.ts';
import { assertRoot } from '../lib/lab/deps.ts';
import { labInventoryFile, labUp, type LabInfo } from '../lib/lab/index.ts';
import { UNBOUND_DEFAULTS } from '../lib/inventory/binding.ts';
import type { Lock } from '../lib/lock/index.ts';
import { loadRole, lockRun, parseRunArgs, RUN_FLAGS_HELP, runCommand, warnTookOver, type RunCommand } from '../lib/run/cli.ts';
import { smokeDeployment } from '../lib/commands/smoke.ts';

/** The site's roles, in the order they run: the db host's (when the inventory has one) before the registries that use it. */
const SITE_ROLES = ['bastion', 'postgres', 'redis', 'proxy', 'registry'];

const LAB = {
  name: 'lab',
  /** What the site's roles install on lab hosts, which have no network: the machine gets it first. */
  packages: [
    ['apache2ctl', 'apache2'],
    ['docker-registry', 'docker-registry'],
    ['curl', 'curl'],
    ['setcap', 'libcap2-bin'],
  ] as Array<[string, string]>,
};

const USAGE = `usage: npx zx scripts/site.mts [-i INVENTORY | --aws [SETTINGS]] [flags]
runs roles: ${SITE_ROLES.join(', ')}
without -i: brings up the local lab "${LAB.name}" and runs on it with the secrets its inventory names
(vault/lab.yaml and its password file vault/lab.password, made by the first run; certs/lab)
--aws [SETTINGS]: first \`scripts/aws.mts apply\` with these settings (default ${AWS_DEFAULTS.settings}),
then runs on the inventory it writes (${AWS_DEFAULTS.inventory}); --yes applies without asking;
with --check only plans, and checks the roles when that inventory exists
--skip-smoke: do not end with the smoke test (scripts/smoke.mts: push, pull back, delete an image)

${RUN_FLAGS_HELP}`;

/** The lab, brought up (idempotent); its inventory names its vault, password file and certificates. */
async function onTheLab(): Promise<LabInfo> {
  assertRoot();
  process.stderr.write(`lab ${LAB.name}: bringing it up (idempotent)\n`);
  return labUp({ name: LAB.name, packages: LAB.packages, onProgress: (msg) => process.stderr.write(`  ${msg}\n`) });
}

function howToUse(lab: LabInfo, cmd: RunCommand): string {
  const bastion = lab.hosts.find((h) => h.group === 'bastion')!;
  const vault = cmd.vaultFile ?? lab.secrets.vaultFile;
  const certs = cmd.certsDir ?? lab.secrets.certsDir;
  const password = cmd.vaultPasswordFile ?? lab.secrets.passwordFile;
  return `
The lab registry is up: https://registry.lab.test/ (the bastion, ${bastion.address}; map the name in /etc/hosts)
  CA certificate   ${certs}/ca.crt   (docker: npx zx scripts/certs.mts trust --local -i ${lab.inventoryFile})
  admin password   npx zx scripts/vault.mts get ${vault} registry_users.admin --vault-password-file ${password}
  hosts            npx zx scripts/lab.mts ssh bastion | registry-1
`;
}

/** The run lock of the inventory this run will use, taken before the lab or the AWS phase touches anything. */
async function lockFirst(cmd: RunCommand, aws: string | undefined): Promise<Lock | undefined> {
  if (cmd.options.check || cmd.listSteps) return undefined;
  const inventory = cmd.inventory ?? (aws !== undefined ? AWS_DEFAULTS.inventory : await labInventoryFile({ name: LAB.name }));
  const lock = await lockRun(inventory);
  if (lock.tookOver) warnTookOver(inventory, lock.tookOver);
  return lock;
}

/** site.mts's own flags (--aws [SETTINGS], --yes, --skip-smoke), taken out before the shared run flags are parsed. */
function siteFlags(args: string[]): { aws?: string; yes: boolean; skipSmoke: boolean; rest: string[] } {
  const rest: string[] = [];
  let aws: string | undefined;
  let yes = false;
  let skipSmoke = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--yes') yes = true;
    else if (a === '--skip-smoke') skipSmoke = true;
    else if (a.startsWith('--aws=')) aws = a.slice('--aws='.length);
    else if (a === '--aws') aws = args[i + 1] && !args[i + 1]!.startsWith('-') ? args[++i]! : AWS_DEFAULTS.settings;
    else rest.push(a);
  }
  return { ...(aws !== undefined ? { aws } : {}), yes, skipSmoke, rest };
}

/** The AWS phase first; the inventory it wrote (or, checking, the one it would write when it exists). */
async function onAws(cmd: RunCommand, settingsFile: string, yes: boolean, password: PasswordSource): Promise<string | undefined> {
  if (cmd.inventory) throw new UserError('--aws writes its own inventory: leave out -i');
  const check = cmd.options.check;
  // The vault the run on the inventory it writes defaults to (that inventory names none).
  const common = { settingsFile, yes, emptyBucket: false, vaultFile: cmd.vaultFile ?? UNBOUND_DEFAULTS.vaultFile, vaultPasswordFile: cmd.vaultPasswordFile, password, out: cmd.json ? process.stderr : process.stdout };
  // Loaded only here: the AWS SDK takes half a second to import, and lab runs never need it.
  const { runAwsCommand } = await import('../lib/cloud/aws/command.ts');
  const { inventoryFile } = await runAwsCommand({ action: check ? 'plan' : 'apply', ...common });
  if (check) return existsSync(AWS_DEFAULTS.inventory) ? AWS_DEFAULTS.inventory : undefined;
  if (!inventoryFile) throw new UserError('the AWS phase made no instances, so there is nothing to converge');
  return inventoryFile;
}

await runMain('site', async () => {
  const { aws, yes, skipSmoke, rest } = siteFlags(scriptArgs(import.meta.url));
  const cmd = parseRunArgs(rest);
  if (cmd.help) return void console.log(USAGE);
  if (cmd.positionals.length) throw new UserError(`unexpected argument "${cmd.positionals[0]}"; see --help`);
  const lock = await lockFirst(cmd, aws);
  try {
    const lab = cmd.inventory || aws !== undefined ? undefined : await onTheLab();
    const password = aws === undefined ? undefined : passwordSource(cmd.vaultPasswordFile);
    const awsInventory = aws === undefined ? undefined : await onAws(cmd, aws, yes, password!);
    if (aws !== undefined && !awsInventory) return 0;
    const roles = [];
    for (const name of SITE_ROLES) roles.push(await loadRole(name));
    const inventory = cmd.inventory ?? awsInventory ?? lab!.inventoryFile;
    let code = await runCommand(cmd, inventory, roles, { ...(password ? { password } : {}), runLocked: lock !== undefined });
    if (code === 0 && !skipSmoke && !cmd.listSteps && !cmd.options.check) {
      const files = { vaultFile: cmd.vaultFile, passwordFile: cmd.vaultPasswordFile, certsDir: cmd.certsDir };
      code = await smokeDeployment({ inventoryFile: inventory, files, project: 'library', tag: 'harbormaster-smoke', json: cmd.json }, process);
    }
    if (lab && code === 0 && !cmd.json && !cmd.listSteps && !cmd.options.check) process.stdout.write(howToUse(lab, cmd));
    return code;
  } finally {
    await lock?.release();
  }
});
