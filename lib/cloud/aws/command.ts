// `aws.mts plan|apply|destroy` (and `site.mts --aws`): the plan shown first, a Terraform-style
// confirmation, the changes as they happen, a summary, and after an apply the inventory.
import { config as loadDotenv } from 'dotenv';
import { passwordSource, type PasswordSource } from '../../inventory/vaulted.ts';
import { confirmYes as confirm } from '../../prompt.ts';
import { openDeploymentVault } from '../../run/cli.ts';
import { redact } from '../../secret.ts';
import { DEFAULT_VAULT_FILE } from '../../vault/index.ts';
import { awsClients, closeClients } from './clients.ts';
import { applyAws, destroyAws, parseParts, PARTS, type AwsRunOptions, type Part } from './deploy.ts';
import { writeAwsInventory } from './inventory.ts';
import { formatDone, formatPlan, type Change } from './plan.ts';
import { AWS_DEFAULTS, loadAwsSettings, publicName } from './settings.ts';
import { AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY } from './vault-keys.ts';

/** Images live in the bucket: destroying it is asked for by name. */
const DESTROYED_BY_DEFAULT: Part[] = ['dns', 'instances', 'nat', 'network'];

export interface AwsCommand {
  action: 'plan' | 'apply' | 'destroy';
  settingsFile?: string;
  /** --only, as given. */
  only?: string;
  yes: boolean;
  emptyBucket: boolean;
  inventoryFile?: string;
  vaultFile?: string;
  vaultPasswordFile?: string;
  /** Shared with a run that follows, so the vault password is asked once. */
  password?: PasswordSource;
  /** Where the plan and summary go (stdout; stderr when a --json run follows). */
  out?: NodeJS.WritableStream;
}

const say = (line: string) => process.stderr.write(`${redact(line)}\n`);
const PAST: Record<Change['action'], string> = { create: 'created', update: 'updated', delete: 'destroyed', ok: 'unchanged' };

/** Runs the command; after an apply that has instances, returns the inventory it wrote. */
export async function runAwsCommand(cmd: AwsCommand): Promise<{ inventoryFile?: string }> {
  loadDotenv({ quiet: true });
  const settings = await loadAwsSettings(cmd.settingsFile ?? AWS_DEFAULTS.settings);
  const vaultFile = cmd.vaultFile ?? DEFAULT_VAULT_FILE;
  const vault = await openDeploymentVault(vaultFile, cmd.password ?? passwordSource(cmd.vaultPasswordFile), false);
  const keyId = vault.get(AWS_ACCESS_KEY_ID);
  const secret = vault.get(AWS_SECRET_ACCESS_KEY);
  const clients = awsClients(settings, keyId && secret ? { accessKeyId: keyId.reveal(), secretAccessKey: secret.reveal() } : undefined);
  const destroying = cmd.action === 'destroy';
  const out = cmd.out ?? process.stdout;
  const parts = parseParts(cmd.only, destroying ? DESTROYED_BY_DEFAULT : PARTS);
  const options = (dryRun: boolean, changes: Change[]): AwsRunOptions & { emptyBucket: boolean } => ({
    dryRun,
    parts,
    vault,
    say,
    emptyBucket: cmd.emptyBucket,
    record: (c) => {
      changes.push(c);
      if (!dryRun && c.action !== 'ok') say(`  ${PAST[c.action]} ${c.kind} ${c.name}${c.id ? ` (${c.id})` : ''}`);
    },
  });
  const act = (dryRun: boolean, changes: Change[]) =>
    destroying ? destroyAws(settings, clients, options(dryRun, changes)) : applyAws(settings, clients, options(dryRun, changes));
  try {
    say(`${settings.project} in ${settings.region} (${settings.file}): ${destroying ? 'destroy' : 'plan'} of ${[...parts].join(', ')}`);
    const planned: Change[] = [];
    await act(true, planned);
    out.write(redact(formatPlan(planned)));
    if (cmd.action === 'plan') return {};
    if (planned.some((c) => c.action !== 'ok')) await confirm(destroying ? 'Destroy these resources?' : 'Apply these changes?', cmd.yes);
    const applied: Change[] = [];
    const result = await act(false, applied);
    out.write(formatDone(applied, destroying));
    if (!result?.instances) return {};
    const files = await writeAwsInventory(settings, result.instances, cmd.inventoryFile ?? AWS_DEFAULTS.inventory);
    out.write(`inventory ${files.inventoryFile} (host keys in ${files.knownHostsFile}); the registry's name: ${publicName(settings)}\n`);
    return { inventoryFile: files.inventoryFile };
  } finally {
    closeClients(clients);
  }
}
