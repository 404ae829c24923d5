// The EC2 directory against the EC2 mock, through the real SDK: image and instance types checked
// before anything is made, the key pair, the bastion with its Elastic IP and the registry at its
// fixed address with its encrypted data volume, IMDSv2, host keys read from the console output
// (and a console that shows none), reruns that change nothing, drift put right, replaces only when
// asked (the data volume moving to the new registry), and destroy in dependency order. Also host
// keys parsed out of console text like cloud-init's.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { hostKeysFromConsole } from '../../lib/cloud/aws/console.ts';
import { collectInstances, planInstances, planInstancesGone, type Instances } from '../../lib/cloud/aws/instances.ts';
import { planNat, planNatGone } from '../../lib/cloud/aws/nat.ts';
import { planSecurityGroups, planSecurityGroupsGone } from '../../lib/cloud/aws/security-groups.ts';
import { DEBIAN_12, type AwsSettings } from '../../lib/cloud/aws/settings.ts';
import { planVpc, planVpcGone } from '../../lib/cloud/aws/vpc.ts';
import { mockContext, mockSettings, shownChange, type RecordingContext } from '../helpers/aws-mock/context.ts';
import { ec2State, handleEc2, seedMachines } from '../helpers/aws-mock/ec2.ts';
import { isMutating } from '../helpers/aws-mock/index.ts';
import { startAwsMock } from '../helpers/aws-mock/server.ts';

const dir = t.testdir({});
const newKey = (name: string) => {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ops@example', '-f', join(dir, name)]);
  return join(dir, `${name}.pub`);
};
const firstKey = newKey('id1');

const mock = await startAwsMock({ ec2: handleEc2 });
t.teardown(() => mock.close());
const st = ec2State(mock);
const settings = (more: Partial<AwsSettings> = {}) =>
  mockSettings(mock, { sshPublicKeyFile: firstKey, sshPrivateKeyFile: firstKey.replace(/\.pub$/, ''), natGateway: false, ...more });

async function planAll(ctx: RecordingContext) {
  const net = await planVpc(ctx, false);
  const groups = await planSecurityGroups(ctx, net.vpc, false);
  await planNat(ctx, net);
  return planInstances(ctx, net, groups, false);
}

async function planAllGone(ctx: RecordingContext) {
  await planInstancesGone(ctx);
  await planNatGone(ctx);
  await planSecurityGroupsGone(ctx);
  await planVpcGone(ctx, { instances: false, nat: false });
}

const EC2_KINDS = ['key pair', 'instance', 'elastic ip', 'ebs volume', 'volume attachment', 'elastic ip association'];

/** Plans network then instances (or the reverse, destroying), then unless dryRun applies and collects the instances. */
async function run(opts: { dryRun?: boolean; destroy?: boolean; settings?: AwsSettings; replace?: string[] } = {}) {
  const ctx = mockContext(mock, opts.settings ?? settings());
  const before = mock.calls.length;
  let instances: Instances | undefined;
  let planMutating: string[] = [];
  try {
    const planned = opts.destroy ? await planAllGone(ctx) : await planAll(ctx);
    planMutating = mock.calls.slice(before).filter(isMutating).map((c) => c.action);
    if (!opts.dryRun) {
      await ctx.apply(opts.replace);
      if (planned) instances = await collectInstances(ctx, planned);
    }
  } finally {
    ctx.close();
  }
  const mutating = mock.calls.slice(before).filter(isMutating).map((c) => c.action);
  const changes = ctx.planned.map(shownChange);
  const ec2Changes = changes.filter((c) => EC2_KINDS.includes(c.kind));
  return { changes, ec2Changes, said: ctx.said, mutating, planMutating, instances };
}
const summary = (changes: { action: string; kind: string; name: string }[]) => changes.map((c) => `${c.action} ${c.kind} ${c.name}`);
const live = () => [...st.instances.values()].filter((i) => i.state !== 'terminated');
const named = (name: string) => {
  const found = live().filter((i) => i.tags.Name === name && i.tags.Project === 'harbor');
  if (found.length !== 1) throw new Error(`${found.length} live instances named ${name}`);
  return found[0]!;
};
const dataVolume = () => [...st.volumes.values()].find((v) => v.tags.Name === 'harbor-registry-data');
const EC2 = [
  'key pair harbor-admin', 'instance harbor-bastion', 'ebs volume harbor-registry-data', 'instance harbor-registry',
  'volume attachment harbor-registry-data → harbor-registry', 'elastic ip harbor-bastion-eip', 'elastic ip association harbor-bastion-eip',
];

t.test('host keys out of console output', async (t) => {
  const ed = readFileSync(firstKey, 'utf8').split(' ').slice(0, 2).join(' ');
  const block = (prefix: string, keys: string[]) => [`${prefix}-----BEGIN SSH HOST KEY KEYS-----`, ...keys.map((k) => `${prefix}${k} root@host`), `${prefix}-----END SSH HOST KEY KEYS-----`];
  t.same(hostKeysFromConsole(['boot', ...block('', [ed]), 'done'].join('\r\n')), [ed]);
  t.same(hostKeysFromConsole(block('ec2: ', [ed]).join('\n')), [ed], 'a prefix on every line');
  const older = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';
  t.same(hostKeysFromConsole([...block('', [older]), 'reboot', ...block('', [ed])].join('\n')), [ed], 'the last boot');
  t.same(hostKeysFromConsole(['-----BEGIN SSH HOST KEY KEYS-----', ed].join('\n')), [], 'cut short: no keys yet');
  t.same(hostKeysFromConsole(block('', ['ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl', 'ci-info: no keys here', ed]).join('\n')), [ed], 'a line whose type and blob disagree is not a key');
  t.same(hostKeysFromConsole('no cloud-init here'), []);
});

t.test('what cannot work is refused by plan, before anything is made', async (t) => {
  const refused = async (more: Partial<AwsSettings>, message: RegExp | string) => {
    const before = mock.calls.length;
    const ctx = mockContext(mock, settings(more));
    await t.rejects(planAll(ctx), { name: 'UserError', message });
    ctx.close();
    t.same(mock.calls.slice(before).filter(isMutating), [], 'no write');
  };
  await refused({ ami: { id: 'ami-0000000000000dead' } }, 'aws.yaml: "ami" ami-0000000000000dead is not an image in eu-west-1 (for this account): check the id and the region');
  await refused({ ami: { id: 'ami-0bad0000000000001' } }, 'aws.yaml: "ami" ami-0bad0000000000001 is failed, not available');
  await refused({ ami: { name: 'debian-11-*', owner: '136693071363' } }, 'aws.yaml: no available x86_64 image named debian-11-* from owner 136693071363 in eu-west-1: set "ami"');
  await refused({ bastionInstanceType: 't4g.micro' }, 'aws.yaml: t4g.micro and t3.large run on no common architecture, and both instances use one image: choose types of one architecture');
  await refused({ registryInstanceType: 't3.small' }, 'aws.yaml: "registry_instance_type" t3.small has 2 vCPU and 2 GiB; Harbor needs at least 2 vCPU and 4 GiB (e.g. t3.large)');
  await refused({ registryInstanceType: 't3.huge' }, 'aws.yaml: "registry_instance_type" t3.huge is not an EC2 instance type in eu-west-1');
  await refused({ sshPublicKeyFile: join(dir, 'nope.pub') }, `${join(dir, 'nope.pub')}: cannot read the SSH public key (ENOENT); set ssh_public_key_file`);
  const other = newKey('other').replace(/\.pub$/, '');
  await refused({ sshPrivateKeyFile: other }, `${other} is not the private key of ${firstKey}: set ssh_private_key_file and ssh_public_key_file to one key pair`);
  t.equal(st.vpcs.size, 0, 'nothing exists');
});

t.test('an image by name pattern: the newest available one of that architecture', async (t) => {
  const { ec2Changes, said } = await run({ dryRun: true, settings: settings({ ami: DEBIAN_12 }) });
  t.match(ec2Changes.find((c) => c.name === 'harbor-registry')?.detail, /^ami-0de12a0000000a002 t3\.large /);
  t.ok(said.includes('image: the newest debian-12-* of owner 136693071363 is ami-0de12a0000000a002 (debian-12-amd64-20240717-1811)'));
  const arm = await run({ dryRun: true, settings: settings({ ami: DEBIAN_12, bastionInstanceType: 't4g.micro', registryInstanceType: 't4g.large' }) });
  t.match(arm.ec2Changes.find((c) => c.name === 'harbor-registry')?.detail, /^ami-0de12b0000000b002 t4g\.large /);
});

t.test('plan on an empty account: everything to create, nothing changed', async (t) => {
  const { ec2Changes, mutating } = await run({ dryRun: true });
  t.same(mutating, []);
  t.same(summary(ec2Changes), EC2.map((x) => `create ${x}`));
  t.match(ec2Changes.find((c) => c.name === 'harbor-registry')?.detail, 'at 172.20.2.20, 20 GiB encrypted root, IMDSv2');
  t.match(ec2Changes.find((c) => c.name === 'harbor-registry-data')?.detail, '100 GiB gp3, encrypted, in eu-west-1b, for /data');
});

let first: Instances;
t.test('apply from nothing: key pair, bastion with its address, registry at its fixed IP with its data volume, host keys pinned', async (t) => {
  const { ec2Changes, said, instances, planMutating } = await run();
  t.same(planMutating, []);
  t.same(summary(ec2Changes), EC2.map((x) => `create ${x}`));
  first = instances!;
  const bastion = named('harbor-bastion');
  const registry = named('harbor-registry');
  const net = (name: string) => [...st.subnets.values()].find((s) => s.tags.Name === name)!.id;
  const groups = (...names: string[]) => names.map((n) => [...st.securityGroups.values()].find((g) => g.tags.Name === `harbor-${n}`)!.id);
  const common = { imageId: 'ami-0123456789abcdef0', keyName: 'harbor-admin', rootDevice: '/dev/xvda', rootType: 'gp3', deleteOnTermination: true, state: 'running', httpTokens: 'required' };
  t.match(bastion, { ...common, type: 't3.micro', rootGiB: 8, hopLimit: 1, subnetId: net('harbor-public'), groupIds: groups('ssh-in', 'web-out', 'web-in-admin', 'ssh-out') });
  t.match(registry, { ...common, type: 't3.large', rootGiB: 20, hopLimit: 2, subnetId: net('harbor-private'), privateIp: '172.20.2.20', groupIds: groups('ssh-in-local', 'web-out', 'web-in-local') });
  t.ok(st.volumes.get(bastion.rootVolumeId)?.encrypted && st.volumes.get(registry.rootVolumeId)?.encrypted, 'root volumes encrypted');
  t.match(dataVolume(), { size: 100, type: 'gp3', encrypted: true, az: 'eu-west-1b', instanceId: registry.id, device: '/dev/sdf', tags: { Project: 'harbor' } });
  t.match(registry.userData, /mkfs\.ext4 -q -L harbor-data .*\n.*mkdir -p \/data\n.*LABEL=harbor-data \/data ext4 defaults,nofail/s, 'its first boot mounts it at data_volume');
  t.equal(bastion.userData, undefined);
  t.same(first.registries[0], { id: registry.id, privateIp: '172.20.2.20', hostKeys: registry.hostKeys });
  t.same(first.bastion.hostKeys, bastion.hostKeys);
  t.equal(first.bastion.privateIp, bastion.privateIp);
  const eip = [...st.addresses.values()].find((a) => a.tags.Name === 'harbor-bastion-eip')!;
  t.match(eip, { instanceId: bastion.id, tags: { Project: 'harbor' } });
  t.equal(first.bastion.publicIp, eip.publicIp);
  const [pair] = [...st.keyPairs.values()];
  t.equal(pair?.publicKey, readFileSync(firstKey, 'utf8').split(' ').slice(0, 2).join(' '));
  t.ok(said.some((m) => m.startsWith('waiting for host keys of instance harbor-registry')), 'says what it waits for');
  t.ok(said.some((m) => /^waiting for instance harbor-\w+ \(i-\w+\): not visible yet$/.test(m)), 'a new instance AWS does not show yet is waited for');
  // The keys are real: OpenSSH reads them.
  for (const key of [...first.bastion.hostKeys, ...first.registries[0].hostKeys]) {
    const file = join(dir, 'hostkey.pub');
    writeFileSync(file, `${key}\n`);
    t.match(execFileSync('ssh-keygen', ['-l', '-f', file], { encoding: 'utf8' }), /^(256 SHA256:\S+ .*\((ED25519|ECDSA)\))/);
  }
});

t.test('a second apply changes nothing and finds the same host keys', async (t) => {
  const { changes, mutating, instances } = await run();
  t.same(changes.filter((c) => c.action !== 'ok'), []);
  t.same(mutating, []);
  t.same(instances, first);
});

t.test('drift put right in place: security groups, metadata options, a stopped instance', async (t) => {
  const registry = named('harbor-registry');
  const wanted = [...registry.groupIds];
  registry.groupIds = wanted.slice(1);
  registry.httpTokens = 'optional';
  const bastion = named('harbor-bastion');
  bastion.state = 'stopped';
  const fix = await run();
  t.same(summary(fix.changes.filter((c) => c.action !== 'ok')), ['update instance harbor-bastion', 'update instance harbor-registry']);
  t.match(fix.changes.find((c) => c.name === 'harbor-bastion')?.detail, 'start it (it is stopped)');
  t.match(fix.changes.find((c) => c.name === 'harbor-registry')?.detail, /security groups .*, metadata: IMDSv2 required, hop limit 2 \(is optional, 2\)/);
  t.same(fix.mutating, ['StartInstances', 'ModifyInstanceAttribute', 'ModifyInstanceMetadataOptions']);
  t.same(registry.groupIds, wanted);
  t.equal(registry.httpTokens, 'required');
  t.equal(bastion.state, 'running');
  t.same((await run()).mutating, []);
});

t.test('what AWS cannot change in place is a replace, made only when asked by name; the data volume moves over', async (t) => {
  const registry = named('harbor-registry');
  const bigger = settings({ registryInstanceType: 'm5.xlarge' });
  const plan = await run({ dryRun: true, settings: bigger });
  t.match(plan.ec2Changes.filter((c) => c.action !== 'ok'), [
    { action: 'replace', name: 'harbor-registry', detail: /^type t3\.large → m5\.xlarge \(a new instance: / },
    { action: 'create', kind: 'volume attachment' },
  ]);
  const notAsked = await run({ settings: bigger });
  t.same(notAsked.mutating, [], 'not asked: nothing done');
  t.equal(named('harbor-registry').id, registry.id);
  const volume = dataVolume()!.id;
  const asked = await run({ settings: bigger, replace: ['harbor-registry'] });
  t.same(asked.mutating, ['TerminateInstances', 'RunInstances', 'AttachVolume']);
  const replaced = named('harbor-registry');
  t.not(replaced.id, registry.id);
  t.match(replaced, { type: 'm5.xlarge', privateIp: '172.20.2.20' });
  t.match(dataVolume(), { id: volume, instanceId: replaced.id }, 'the same data volume, on the new instance');
  t.equal(asked.instances?.registries[0].id, replaced.id);
  t.same((await run({ settings: bigger })).mutating, []);
});

t.test('a new instance whose console shows no host keys: the wait ends at host_key_wait_seconds, unpinned, saying how to pin', async (t) => {
  seedMachines(mock, { publicIps: {}, hostKeys: { 'harbor-registry': [] } });
  t.teardown(() => void delete st.machines);
  const silent = settings({ registryInstanceType: 't3.medium', hostKeyWaitSeconds: 0.2 });
  const { instances, said } = await run({ settings: silent, replace: ['harbor-registry'] });
  t.same(instances?.registries[0].hostKeys, []);
  t.equal(instances?.registries[0].privateIp, '172.20.2.20');
  t.ok(said.some((m) => /^instance harbor-registry \(i-\w+\) showed no host keys on its console within host_key_wait_seconds \(0\.2 s\): its key is not pinned\. .*--host-key-checking accept-new -l registry-1$/.test(m)), 'says how to pin it');
  t.ok(instances?.bastion.hostKeys.length, "the bastion's keys are there");
});

t.test('a new public key replaces the key pair', async (t) => {
  const second = newKey('id2');
  const base = settings({ registryInstanceType: 't3.medium' });
  const { ec2Changes, mutating } = await run({ settings: { ...base, sshPublicKeyFile: second, sshPrivateKeyFile: second.replace(/\.pub$/, '') } });
  t.match(ec2Changes.filter((c) => c.action !== 'ok'), [{ action: 'update', kind: 'key pair', detail: /running instances keep the key they started with/ }]);
  t.same(mutating, ['DeleteKeyPair', 'ImportKeyPair']);
  t.equal([...st.keyPairs.values()][0]?.publicKey, readFileSync(second, 'utf8').split(' ').slice(0, 2).join(' '));
  await run({ settings: base });
});

t.test('destroy terminates before the network goes and keeps the data volume; terminated instances are ignored afterwards', async (t) => {
  const { changes } = await run({ destroy: true });
  t.same(summary(changes.filter((c) => EC2_KINDS.includes(c.kind))), [
    'delete instance harbor-bastion', 'delete instance harbor-registry', 'delete elastic ip harbor-bastion-eip', 'delete key pair harbor-admin',
  ]);
  t.same(live(), []);
  t.equal(st.vpcs.size, 0);
  t.equal(st.addresses.size, 0);
  t.equal(st.keyPairs.size, 0);
  t.match(dataVolume(), { state: 'available' }, "Harbor's data is kept");
  const again = await run({ destroy: true });
  t.same(again.changes, []);
  t.same(again.mutating, []);

  // Rebuilt: new instances with new host keys, the registry at the same address with the same data.
  const { ec2Changes, instances } = await run();
  t.same(summary(ec2Changes.filter((c) => c.action !== 'ok')), EC2.filter((x) => !x.startsWith('ebs volume')).map((x) => `create ${x}`));
  t.not(instances!.registries[0].id, first.registries[0].id);
  t.equal(dataVolume()?.instanceId, instances!.registries[0].id);
  t.notSame(instances!.registries[0].hostKeys, first.registries[0].hostKeys);
  await run({ destroy: true });
  t.same(live(), []);
});
