// The inventory harbormaster writes for a deployment it made (the lab, AWS): Ansible's YAML
// format, a bastion reached directly and registry hosts reached through it, every SSH client
// (ours, OpenSSH, Ansible) pinned to the known_hosts file written beside it.
import { Document, YAMLMap } from 'yaml';
import type { Vars } from './types.ts';

export interface PrivateHost {
  name: string;
  address: string;
  vars?: Vars;
}

export interface JumpInventory {
  /** The first comment line: who wrote it. */
  header: string;
  user: string;
  keyFile: string;
  knownHostsFile: string;
  /** sudo for a user that is not root. */
  become: boolean;
  bastion: { name: string; address: string; vars?: Vars };
  registries: PrivateHost[];
  /** The `database` group (PostgreSQL and Redis for the registries), reached like them; omitted when empty. */
  databases?: PrivateHost[];
  /** More variables for every host (all:vars). */
  vars: Vars;
}

export function jumpInventoryText(i: JumpInventory): string {
  const pinned = `-o UserKnownHostsFile=${i.knownHostsFile} -o StrictHostKeyChecking=yes`;
  const proxy = `ssh -i ${i.keyFile} ${pinned} -W %h:%p -q ${i.user}@${i.bastion.address}`;
  const throughBastion = (hosts: PrivateHost[]) => ({
    vars: { ansible_ssh_common_args: `${pinned} -o ProxyCommand="${proxy}"` },
    hosts: Object.fromEntries(hosts.map((h) => [h.name, { ansible_host: h.address, ...h.vars }])),
  });
  const databases = i.databases ?? [];
  const doc = new Document({
    all: {
      vars: {
        ansible_user: i.user,
        ansible_ssh_private_key_file: i.keyFile,
        ansible_ssh_common_args: pinned,
        ...(i.become ? { ansible_become: true } : {}),
        ...i.vars,
      },
      children: {
        bastion: { hosts: { [i.bastion.name]: { ansible_host: i.bastion.address, ...i.bastion.vars } } },
        registry: throughBastion(i.registries),
        ...(databases.length ? { database: throughBastion(databases) } : {}),
      },
    },
  });
  for (const group of ['bastion', 'registry', ...(databases.length ? ['database'] : [])]) {
    const hosts = doc.getIn(['all', 'children', group, 'hosts']) as YAMLMap;
    for (const pair of hosts.items) (pair.value as YAMLMap).flow = true;
  }
  return `# ${i.header}\n${doc.toString({ lineWidth: 0 })}`;
}

/** known_hosts lines: each address with each of its keys ("type base64"). */
export function knownHostsText(header: string, hosts: { address: string; keys: string[] }[]): string {
  const lines = hosts.flatMap((h) => h.keys.map((k) => `${h.address} ${k.split(/\s+/).slice(0, 2).join(' ')}`));
  return `# ${header}\n${lines.join('\n')}\n`;
}
