// The AWS phase: the network, NAT gateway, instances, DNS record and image storage of a
// deployment, planned, applied and destroyed like Terraform, found by tags (no state file).
//   npx zx scripts/aws.mts plan|apply|destroy [flags]   (see --help)
import { parseFlags, runMain, scriptArgs } from '../lib/cli.ts';
import { runAwsCommand, type AwsCommand } from '../lib/cloud/aws/command.ts';
import { AWS_DEFAULTS } from '../lib/cloud/aws/settings.ts';
import { PARTS } from '../lib/cloud/aws/deploy.ts';
import { UserError } from '../lib/errors.ts';
import { DEFAULT_VAULT_FILE } from '../lib/vault/index.ts';

const USAGE = `usage: npx zx scripts/aws.mts plan|apply|destroy [flags]
  plan                        what apply would change (reads only)
  apply                       shows the plan, asks, makes the account match the settings, then
                              writes the inventory and its known_hosts (host keys from the consoles)
  destroy                     removes what apply made; the bucket and its user only with --only storage
  --settings FILE             the deployment (default ${AWS_DEFAULTS.settings};
                              start from inventory/aws.settings.example.yaml)
  --only PARTS                some of ${PARTS.join(',')} (the others are read, not changed)
  --replace NAMES             apply: also replace these resources (comma-separated Name tags) that the plan
                              shows as -/+ (AWS cannot change them in place; an instance loses its root disk)
  --yes                       apply or destroy without asking (needed without a terminal)
  --empty-bucket              destroy: delete the bucket's objects too (Terraform's force_destroy)
  --inventory FILE            where apply writes the inventory (default ${AWS_DEFAULTS.inventory})
  --vault FILE                the deployment's vault (default ${DEFAULT_VAULT_FILE}): the S3 user's key goes
                              there; aws_access_key_id / aws_secret_access_key in it are used if present
  --vault-password-file F     else $HARBORMASTER_VAULT_PASSWORD_FILE, else a prompt
Credentials otherwise come from the AWS SDK's chain: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or
AWS_PROFILE (also from .env), ~/.aws, an instance role. apply and destroy hold SETTINGS.lock while they run.`;

const OPTIONS = {
  settings: { type: 'string' },
  only: { type: 'string' },
  replace: { type: 'string' },
  yes: { type: 'boolean' },
  'empty-bucket': { type: 'boolean' },
  inventory: { type: 'string' },
  vault: { type: 'string' },
  'vault-password-file': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

await runMain('aws', async () => {
  const { values: f, positionals } = parseFlags({ args: scriptArgs(import.meta.url), options: OPTIONS, allowPositionals: true });
  if (f.help) return void console.log(USAGE);
  const [action, extra] = positionals;
  if (action !== 'plan' && action !== 'apply' && action !== 'destroy') throw new UserError('give plan, apply or destroy; see --help');
  if (extra !== undefined) throw new UserError(`unexpected argument "${extra}"; see --help`);
  const cmd: AwsCommand = {
    action,
    settingsFile: f.settings,
    only: f.only,
    replace: f.replace,
    yes: Boolean(f.yes),
    emptyBucket: Boolean(f['empty-bucket']),
    inventoryFile: f.inventory,
    vaultFile: f.vault,
    vaultPasswordFile: f['vault-password-file'],
  };
  await runAwsCommand(cmd);
  return 0;
});
