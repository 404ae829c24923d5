// What the hosts phase needs from the AWS phase: an inventory of the instances (found by tags,
// written fresh after every apply) and a known_hosts file holding the host keys the instances
// printed to their consoles at first boot, so the first SSH contact is already verified.
import { resolve } from 'node:path';
import { knownHostsBeside } from '../../inventory/target.ts';
import type { Vars } from '../../inventory/types.ts';
import { jumpInventoryText, knownHostsText } from '../../inventory/write.ts';
import { readIfExists, writePublicFile } from '../../fs.ts';
import type { Instances } from './instances.ts';
import { publicName, type AwsSettings } from './settings.ts';

export interface AwsInventoryFiles {
  inventoryFile: string;
  knownHostsFile: string;
}

/** The registry's storage settings every host gets (the keys themselves stay in the vault). */
export const storageVars = (s: AwsSettings): Vars => ({
  registry_storage: 's3',
  registry_s3_region: s.region,
  registry_s3_bucket: s.bucket,
  // A compatible cloud (or the tests' mock) serves S3 at its own endpoint.
  ...(s.endpoint ? { registry_s3_endpoint: s.endpoint } : {}),
});

/** The keys a known_hosts file holds, by address ("type base64" each). */
async function pinnedKeys(file: string): Promise<Map<string, string[]>> {
  const keys = new Map<string, string[]>();
  for (const line of ((await readIfExists(file)) ?? '').split('\n')) {
    const [address, type, key] = line.trim().split(/\s+/);
    if (!address || address.startsWith('#') || !type || !key) continue;
    keys.set(address, [...(keys.get(address) ?? []), `${type} ${key}`]);
  }
  return keys;
}

export async function writeAwsInventory(s: AwsSettings, instances: Instances, file: string): Promise<AwsInventoryFiles> {
  // Absolute: ssh options in an inventory are read relative to nothing in particular.
  const inventoryFile = resolve(file);
  const knownHostsFile = knownHostsBeside(inventoryFile);
  const { bastion, registries, db } = instances;
  const pinned = await pinnedKeys(knownHostsFile);
  // An older instance's console may have rolled its boot messages off: keep what was pinned then.
  const keysOf = (i: { privateIp: string; hostKeys: string[] }, address = i.privateIp) => ({ address, keys: i.hostKeys.length ? i.hostKeys : (pinned.get(address) ?? []) });
  const hosts = (list: { privateIp: string }[], prefix: string) => list.map((i, n) => ({ name: `${prefix}-${n + 1}`, address: i.privateIp, vars: { private_ip: i.privateIp } }));
  await writePublicFile(
    knownHostsFile,
    knownHostsText(`${s.project} on AWS: host keys from the instances' console output at first boot`, [
      keysOf(bastion, bastion.publicIp), ...registries.map((r) => keysOf(r)), ...(db ? [keysOf(db)] : []),
    ]),
  );
  await writePublicFile(
    inventoryFile,
    jumpInventoryText({
      header: `${s.project} on AWS (${s.region}), written by scripts/aws.mts apply from the resources' tags`,
      user: s.sshUser,
      keyFile: s.sshPrivateKeyFile,
      knownHostsFile,
      become: s.sshUser !== 'root',
      // Its private address: where the registry hosts reach the proxy's balancer manager.
      bastion: { name: 'bastion', address: bastion.publicIp, ...(bastion.privateIp ? { vars: { private_ip: bastion.privateIp } } : {}) },
      registries: hosts(registries, 'registry'),
      databases: hosts(db ? [db] : [], 'db'),
      vars: { aws_project: s.project, registry_public_name: publicName(s), ...storageVars(s) },
    }),
  );
  return { inventoryFile, knownHostsFile };
}
