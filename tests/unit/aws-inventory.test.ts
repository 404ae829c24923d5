// The inventory the AWS phase writes: what the hosts phase and OpenSSH read from it, and host
// keys that stay pinned when an old instance's console no longer shows them.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { writeAwsInventory } from '../../lib/cloud/aws/inventory.ts';
import { knownHostsBeside } from '../../lib/inventory/target.ts';
import type { Instances } from '../../lib/cloud/aws/instances.ts';
import type { AwsSettings } from '../../lib/cloud/aws/settings.ts';
import { loadInventory, sshTargetOf } from '../../lib/inventory/index.ts';

const dir = t.testdir();
const settings = {
  project: 'harbor',
  region: 'eu-west-1',
  sshUser: 'admin',
  sshPrivateKeyFile: '/keys/id_ed25519',
  hostedZone: 'example.com',
  recordName: 'registry',
  bucket: 'images',
} as AwsSettings;
const instances = (bastionKeys: string[], registryKeys: string[]): Instances => ({
  bastion: { id: 'i-1', privateIp: '172.20.1.9', publicIp: '203.0.113.7', hostKeys: bastionKeys },
  registries: [{ id: 'i-2', privateIp: '172.20.2.20', hostKeys: registryKeys }],
});
const ED1 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBastionKeyOne';
const EC1 = 'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIRegistryKeyOne';

t.test('hosts, the jump through the bastion, become, storage variables, absolute paths', async (t) => {
  const files = await writeAwsInventory(settings, instances([ED1], [EC1]), join(dir, 'aws.yaml'));
  t.equal(files.knownHostsFile, join(dir, 'aws.known_hosts'));
  t.equal(knownHostsBeside('inventory/aws.yaml'), 'inventory/aws.known_hosts');
  const inv = await loadInventory(files.inventoryFile);
  const bastion = sshTargetOf(inv, inv.hosts.get('bastion')!);
  const registry = sshTargetOf(inv, inv.hosts.get('registry-1')!);
  t.match(bastion, { address: '203.0.113.7', user: 'admin', keyFile: '/keys/id_ed25519', knownHostsFile: files.knownHostsFile, become: true });
  t.match(registry, { address: '172.20.2.20', user: 'admin', become: true, jump: { address: '203.0.113.7', user: 'admin' } });
  t.match(inv.hosts.get('registry-1')!.vars, {
    private_ip: '172.20.2.20',
    registry_public_name: 'registry.example.com',
    registry_storage: 's3',
    registry_s3_region: 'eu-west-1',
    registry_s3_bucket: 'images',
  });
  t.equal(readFileSync(files.knownHostsFile, 'utf8').split('\n').filter((l) => l && !l.startsWith('#')).join('\n'), `203.0.113.7 ${ED1}\n172.20.2.20 ${EC1}`);
});

t.test("keys an old instance's console no longer shows stay pinned; new ones replace them", async (t) => {
  const file = join(dir, 'again.yaml');
  await writeAwsInventory(settings, instances([ED1], [EC1]), file);
  await writeAwsInventory(settings, instances([], []), file);
  const kept = readFileSync(join(dir, 'again.known_hosts'), 'utf8');
  t.match(kept, `203.0.113.7 ${ED1}`);
  t.match(kept, `172.20.2.20 ${EC1}`);
  const ED2 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIRebuiltBastion';
  await writeAwsInventory(settings, instances([ED2], []), file);
  const rebuilt = readFileSync(join(dir, 'again.known_hosts'), 'utf8');
  t.match(rebuilt, `203.0.113.7 ${ED2}`);
  t.notMatch(rebuilt, ED1, 'a rebuilt instance is pinned anew');
  t.match(rebuilt, `172.20.2.20 ${EC1}`);
});
