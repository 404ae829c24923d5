import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Document, YAMLMap } from 'yaml';
import { HOST_KEY } from './hostfs.ts';
import type { LabPlan } from './plan.ts';
import { writePublicFile } from '../fs.ts';

/**
 * The files clients use to reach the lab: known_hosts with each host's real key (read from its
 * upper dir, no scanning), an OpenSSH client config, and the Ansible-format inventory.
 */

async function knownHosts(plan: LabPlan): Promise<string> {
  const lines = await Promise.all(
    plan.hosts.map(async (h) => {
      const [type, key] = (await readFile(join(h.upperDir, `${HOST_KEY}.pub`), 'utf8')).trim().split(/\s+/);
      return `${h.address} ${type} ${key}`;
    }),
  );
  return `# lab ${plan.name}: host keys read from each host's files\n${lines.join('\n')}\n`;
}

function sshConfig(plan: LabPlan): string {
  const bastion = plan.hosts[0]!;
  return plan.hosts
    .map((h) =>
      [
        `Host ${h.name}`,
        `  HostName ${h.address}`,
        '  User root',
        `  IdentityFile ${plan.keyFile}`,
        '  IdentitiesOnly yes',
        `  UserKnownHostsFile ${plan.knownHostsFile}`,
        '  GlobalKnownHostsFile /dev/null',
        '  StrictHostKeyChecking yes',
        ...(h.group === 'bastion' ? [] : [`  ProxyJump ${bastion.name}`]),
      ].join('\n'),
    )
    .join('\n\n') + '\n';
}

function inventory(plan: LabPlan): string {
  const bastion = plan.hosts[0]!;
  const pinned = `-o UserKnownHostsFile=${plan.knownHostsFile} -o StrictHostKeyChecking=yes`;
  const proxy = `ssh -i ${plan.keyFile} ${pinned} -W %h:%p -q root@${bastion.address}`;
  const registries = plan.hosts.filter((h) => h.group === 'registry');
  const doc = new Document({
    all: {
      vars: {
        ansible_user: 'root',
        ansible_ssh_private_key_file: plan.keyFile,
        ansible_ssh_common_args: pinned,
        lab_name: plan.name,
        // The name clients use for the registry; the server certificate carries it.
        registry_public_name: 'registry.lab.test',
      },
      children: {
        bastion: { hosts: { [bastion.name]: { ansible_host: bastion.address } } },
        registry: {
          vars: { ansible_ssh_common_args: `${pinned} -o ProxyCommand="${proxy}"` },
          hosts: Object.fromEntries(registries.map((h) => [h.name, { ansible_host: h.address, private_ip: h.privAddress }])),
        },
      },
    },
  });
  for (const group of ['bastion', 'registry']) {
    const hosts = doc.getIn(['all', 'children', group, 'hosts']) as YAMLMap;
    for (const pair of hosts.items) (pair.value as YAMLMap).flow = true;
  }
  return `# lab ${plan.name}, written by scripts/lab.mts up\n${doc.toString({ lineWidth: 0 })}`;
}

export async function writeClientFiles(plan: LabPlan): Promise<void> {
  await writePublicFile(plan.knownHostsFile, await knownHosts(plan));
  await writePublicFile(plan.sshConfig, sshConfig(plan), 0o600, 0o700);
  await writePublicFile(plan.inventoryFile, inventory(plan));
}
