// What the ops lab tests share: a lab's deployment (vault, password file, certificates in the
// lab's temp dir) and the smoke test's events read from --json output.
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { LabInfo } from '../../lib/lab/index.ts';

export const VAULT_PASSWORD = 'ops-test-password';

export async function deploymentOf(lab: LabInfo) {
  const dir = dirname(lab.inventoryFile);
  const passwordFile = join(dir, 'vault-password');
  await writeFile(passwordFile, `${VAULT_PASSWORD}\n`, { mode: 0o600 });
  const vaultFile = join(dir, 'vault.yaml');
  const certsDir = join(dir, 'certs');
  return { dir, vaultFile, certsDir, args: ['-i', lab.inventoryFile, '--vault', vaultFile, '--vault-password-file', passwordFile, '--certs-dir', certsDir] };
}

const events = (stdout: string) => stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
export const smokeSteps = (stdout: string) => events(stdout).filter((e) => e.type === 'step' && e.role === 'smoke');
