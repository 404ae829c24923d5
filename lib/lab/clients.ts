import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HOST_KEY } from './hostfs.ts';
import { SHARED_STORAGE_MOUNT, type LabPlan } from './plan.ts';
import { writePublicFile } from '../fs.ts';
import { jumpInventoryText, knownHostsText } from '../inventory/write.ts';
import { loadInventory } from '../inventory/index.ts';
import { sshConfigText } from '../access/ssh-config.ts';
import { BINDING_VARS } from '../inventory/binding.ts';

/**
 * The files clients use to reach the lab: known_hosts with each host's real key (read from its
 * upper dir, no scanning), the Ansible-format inventory, and an OpenSSH client config from it.
 */

async function knownHosts(plan: LabPlan): Promise<string> {
  const hosts = await Promise.all(
    plan.hosts.map(async (h) => ({ address: h.address, keys: [(await readFile(join(h.upperDir, `${HOST_KEY}.pub`), 'utf8')).trim()] })),
  );
  return knownHostsText(`lab ${plan.name}: host keys read from each host's files`, hosts);
}

const privateHosts = (plan: LabPlan, group: 'registry' | 'database') =>
  plan.hosts.filter((h) => h.group === group).map((h) => ({ name: h.name, address: h.address, vars: { private_ip: h.privAddress } }));

function inventory(plan: LabPlan): string {
  const [bastion] = plan.hosts;
  return jumpInventoryText({
    header: `lab ${plan.name}, written by scripts/lab.mts up`,
    user: 'root',
    keyFile: plan.keyFile,
    knownHostsFile: plan.knownHostsFile,
    become: false,
    // Its private address: registry hosts reach the proxy there (e.g. its balancer manager).
    bastion: { ...bastion!, vars: { private_ip: bastion!.privAddress } },
    registries: privateHosts(plan, 'registry'),
    databases: privateHosts(plan, 'database'),
    vars: {
      lab_name: plan.name,
      // The name clients use for the registry (the server certificate carries it), and where it
      // points: no DNS knows the lab's name.
      registry_public_name: 'registry.lab.test',
      registry_public_address: bastion!.address,
      // Absolute: every command on this inventory finds the lab's own secrets from any directory.
      [BINDING_VARS.vaultFile]: plan.secrets.vaultFile,
      [BINDING_VARS.passwordFile]: plan.secrets.passwordFile,
      [BINDING_VARS.certsDir]: plan.secrets.certsDir,
      // Several registries serve the same images: they keep them in the storage they all mount.
      ...(plan.sharedDir ? { registry_data_dir: SHARED_STORAGE_MOUNT } : {}),
    },
  });
}

export async function writeClientFiles(plan: LabPlan): Promise<void> {
  await writePublicFile(plan.knownHostsFile, await knownHosts(plan));
  await writePublicFile(plan.inventoryFile, inventory(plan));
  // The same config `ssh.mts config` writes for any inventory.
  await writePublicFile(plan.sshConfig, sshConfigText(await loadInventory(plan.inventoryFile)), 0o600, 0o700);
}
