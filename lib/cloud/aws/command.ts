// `aws.mts plan|apply|destroy` (and `site.mts --aws`): the plan shown first, a Terraform-style
// confirmation, the changes as they happen, a summary, and after an apply the inventory.
import { config as loadDotenv } from 'dotenv';
import { UserError } from '../../errors.ts';
import { passwordSource, type PasswordSource } from '../../inventory/vaulted.ts';
import { confirmYes as confirm } from '../../prompt.ts';
import { openDeploymentVault } from '../../run/cli.ts';
import { redact } from '../../secret.ts';
import { DEFAULT_VAULT_FILE } from '../../vault/index.ts';
import { awsClients, closeClients } from './clients.ts';
import { applyPlan, parseParts, PARTS, planAws, planDestroy, type AwsPlan, type AwsRunOptions, type Part } from './deploy.ts';
import { collectInstances, plannedAddresses } from './instances.ts';
import { withDeploymentLock } from './lock.ts';
import { writeAwsInventory } from './inventory.ts';
import { describeChange, formatDone, formatPlan, type Change } from './plan.ts';
import { AWS_DEFAULTS, loadAwsSettings, publicName, type AwsSettings } from './settings.ts';
import { AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY } from './vault-keys.ts';

/** Images live in the bucket: destroying it is asked for by name. */
const DESTROYED_BY_DEFAULT: Part[] = ['dns', 'instances', 'nat', 'network'];

export interface AwsCommand {
  action: 'plan' | 'apply' | 'destroy';
  settingsFile?: string;
  /** --only, as given. */
  only?: string;
  /** --replace NAME, as given (comma-separated names). */
  replace?: string;
  yes: boolean;
  emptyBucket: boolean;
  inventoryFile?: string;
  vaultFile?: string;
  vaultPasswordFile?: string;
  /** Shared with a run that follows, so the vault password is asked once. */
  password?: PasswordSource;
  /** Where the plan and summary go (stdout; stderr when a --json run follows). */
  out?: NodeJS.WritableStream;
  /** Where progress lines go (stderr). */
  log?: (line: string) => void;
}

const toStderr = (line: string) => void process.stderr.write(`${line}\n`);
const PAST: Record<Change['action'], string> = { create: 'created', update: 'updated', replace: 'replaced', delete: 'destroyed', ok: 'unchanged' };

/** What a plan says, to compare two plans of the same thing. */
const planText = (p: AwsPlan) => p.changes.map(describeChange).join('\n');

/** The inventory and known_hosts from what apply knows now; host keys not known yet stay as pinned before. */
async function writeInventory(settings: AwsSettings, plan: AwsPlan, file: string, out: NodeJS.WritableStream, final: boolean): Promise<string | undefined> {
  if (!plan.instances) return undefined;
  const instances = final ? await collectInstances(plan.ctx, plan.instances) : plannedAddresses(settings, plan.instances);
  if (!instances) return undefined;
  const files = await writeAwsInventory(settings, instances, file);
  if (final) out.write(`inventory ${files.inventoryFile} (host keys in ${files.knownHostsFile}); the registry's name: ${publicName(settings)}\n`);
  return files.inventoryFile;
}

/** Runs the command; after an apply that has instances, returns the inventory it wrote. */
export async function runAwsCommand(cmd: AwsCommand): Promise<{ inventoryFile?: string }> {
  loadDotenv({ quiet: true });
  const log = cmd.log ?? toStderr;
  const say = (line: string) => log(redact(line));
  const settings = await loadAwsSettings(cmd.settingsFile ?? AWS_DEFAULTS.settings);
  const destroying = cmd.action === 'destroy';
  const parts = parseParts(cmd.only, destroying ? DESTROYED_BY_DEFAULT : PARTS);
  const replace = new Set((cmd.replace ?? '').split(',').map((n) => n.trim()).filter(Boolean));
  if (replace.size && cmd.action !== 'apply') throw new UserError('--replace goes with apply');
  const vaultFile = cmd.vaultFile ?? DEFAULT_VAULT_FILE;
  const vault = await openDeploymentVault(vaultFile, cmd.password ?? passwordSource(cmd.vaultPasswordFile), false);
  const keyId = vault.get(AWS_ACCESS_KEY_ID);
  const secret = vault.get(AWS_SECRET_ACCESS_KEY);
  const clients = awsClients(settings, keyId && secret ? { accessKeyId: keyId.reveal(), secretAccessKey: secret.reveal() } : undefined);
  const out = cmd.out ?? process.stdout;
  const options: AwsRunOptions & { emptyBucket: boolean } = { parts, vault, say, emptyBucket: cmd.emptyBucket };
  const makePlan = () => (destroying ? planDestroy(settings, clients, options) : planAws(settings, clients, options));
  const inventory = cmd.inventoryFile ?? AWS_DEFAULTS.inventory;
  const run = async (): Promise<{ inventoryFile?: string }> => {
    say(`${settings.project} in ${settings.region} (${settings.file}): ${destroying ? 'destroy' : 'plan'} of ${[...parts].join(', ')}`);
    let plan = await makePlan();
    const unknown = [...replace].find((n) => !plan.changes.some((c) => c.action === 'replace' && c.name === n));
    if (unknown) throw new UserError(`--replace ${unknown}: the plan has no replace of that name (${plan.changes.filter((c) => c.action === 'replace').map((c) => c.name).join(', ') || 'none'})`);
    out.write(redact(formatPlan(plan.changes, replace)));
    if (cmd.action === 'plan') return {};
    if (plan.changes.some((c) => c.run && c.action !== 'ok')) {
      await confirm(destroying ? 'Destroy these resources?' : 'Apply these changes?', cmd.yes);
      if (!cmd.yes) {
        // The answer may have taken a while: apply only the plan that was shown.
        const again = await makePlan();
        if (planText(again) !== planText(plan)) throw new UserError('the account changed while you answered; nothing was changed: run again to see the new plan');
        plan = again;
      }
    }
    let applied: Change[];
    try {
      applied = await applyPlan(plan, replace, (c) => say(`  ${PAST[c.action]} ${c.kind} ${c.name}${c.id ? ` (${c.id})` : ''}`));
    } finally {
      // Whatever happened, the hosts that exist can be reached.
      if (!destroying) await writeInventory(settings, plan, inventory, out, false).catch(() => undefined);
    }
    out.write(formatDone(applied, plan.changes, destroying));
    if (destroying) return {};
    const inventoryFile = await writeInventory(settings, plan, inventory, out, true);
    return inventoryFile ? { inventoryFile } : {};
  };
  try {
    return cmd.action === 'plan' ? await run() : await withDeploymentLock(settings.file, `aws.mts ${cmd.action}`, say, run);
  } finally {
    closeClients(clients);
  }
}
