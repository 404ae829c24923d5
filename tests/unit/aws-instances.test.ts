// The EC2 directory against the EC2 mock, through the real SDK: the key pair, the bastion with
// its Elastic IP and the registry at its fixed address, host keys read from the console output,
// reruns that change nothing, settings AWS cannot change in place reported (not applied), and
// destroy in dependency order. Also host keys parsed out of console text like cloud-init's.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { hostKeysFromConsole } from '../../lib/cloud/aws/console.ts';
import { destroyInstances, ensureInstances, type Instances } from '../../lib/cloud/aws/instances.ts';
import { destroyNatGateway, destroyNetwork, ensureNatGateway, ensureNetwork } from '../../lib/cloud/aws/network.ts';
import type { AwsSettings } from '../../lib/cloud/aws/settings.ts';
import { mockContext, mockSettings } from '../helpers/aws-mock/context.ts';
import { ec2State, handleEc2 } from '../helpers/aws-mock/ec2.ts';
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
const settings = (more: Partial<AwsSettings> = {}) => mockSettings(mock, { sshPublicKeyFile: firstKey, natGateway: false, ...more });

/** Network then instances (or the reverse, destroying): what was recorded and said, which calls changed something. */
async function run(opts: { dryRun?: boolean; destroy?: boolean; settings?: AwsSettings } = {}) {
  const ctx = mockContext(mock, opts.settings ?? settings(), opts.dryRun ?? false);
  const before = mock.calls.length;
  let instances: Instances | undefined;
  try {
    if (opts.destroy) {
      await destroyInstances(ctx);
      await destroyNatGateway(ctx);
      await destroyNetwork(ctx);
    } else {
      const net = await ensureNetwork(ctx);
      await ensureNatGateway(ctx, net);
      instances = await ensureInstances(ctx, net);
    }
  } finally {
    ctx.close();
  }
  const mutating = mock.calls.slice(before).filter(isMutating).map((c) => c.action);
  const ec2Changes = ctx.changes.filter((c) => ['key pair', 'instance', 'elastic ip'].includes(c.kind));
  return { changes: ctx.changes, ec2Changes, said: ctx.said, mutating, instances };
}
const summary = (changes: { action: string; kind: string; name: string }[]) => changes.map((c) => `${c.action} ${c.kind} ${c.name}`);
const live = () => [...st.instances.values()].filter((i) => i.state !== 'terminated');
const named = (name: string) => {
  const found = live().filter((i) => i.tags.Name === name && i.tags.Project === 'harbor');
  if (found.length !== 1) throw new Error(`${found.length} live instances named ${name}`);
  return found[0]!;
};
const EC2 = ['key pair harbor-admin', 'instance harbor-bastion', 'instance harbor-registry', 'elastic ip harbor-bastion-eip'];

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

t.test('plan on an empty account: everything to create, nothing changed', async (t) => {
  const { ec2Changes, mutating, instances } = await run({ dryRun: true });
  t.same(mutating, []);
  t.same(summary(ec2Changes), EC2.map((x) => `create ${x}`));
  t.equal(instances?.registry.privateIp, '172.20.2.20');
  t.same(instances?.bastion.hostKeys, []);
});

let first: Instances;
t.test('apply from nothing: key pair, bastion with its address, registry at its fixed IP, host keys pinned', async (t) => {
  const { ec2Changes, said, instances } = await run();
  t.same(summary(ec2Changes), EC2.map((x) => `create ${x}`));
  first = instances!;
  const bastion = named('harbor-bastion');
  const registry = named('harbor-registry');
  const net = (name: string) => [...st.subnets.values()].find((s) => s.tags.Name === name)!.id;
  const groups = (...names: string[]) => names.map((n) => [...st.securityGroups.values()].find((g) => g.tags.Name === `harbor-${n}`)!.id);
  const common = { imageId: 'ami-0123456789abcdef0', type: 't3.micro', keyName: 'harbor-admin', rootDevice: '/dev/xvda', rootGiB: 8, rootType: 'gp3', deleteOnTermination: true, state: 'running' };
  t.match(bastion, { ...common, subnetId: net('harbor-public'), groupIds: groups('ssh-in', 'web-out', 'web-in-admin', 'ssh-out') });
  t.match(registry, { ...common, subnetId: net('harbor-private'), privateIp: '172.20.2.20', groupIds: groups('ssh-in-local', 'web-out', 'web-in-local') });
  t.same(first.registry, { id: registry.id, privateIp: '172.20.2.20', hostKeys: registry.hostKeys });
  t.same(first.bastion.hostKeys, bastion.hostKeys);
  t.equal(first.bastion.privateIp, bastion.privateIp);
  t.match(first.bastion.privateIp, /^172\.20\.1\./);
  const eip = [...st.addresses.values()].find((a) => a.tags.Name === 'harbor-bastion-eip')!;
  t.match(eip, { instanceId: bastion.id, tags: { Project: 'harbor' } });
  t.equal(first.bastion.publicIp, eip.publicIp);
  const [pair] = [...st.keyPairs.values()];
  t.equal(pair?.publicKey, readFileSync(firstKey, 'utf8').split(' ').slice(0, 2).join(' '));
  t.ok(said.some((m) => m.startsWith('waiting for host keys of instance harbor-registry')), 'says what it waits for');
  t.ok(said.some((m) => /^waiting for instance harbor-bastion \(i-\w+\): not visible yet$/.test(m)), 'a new instance AWS does not show yet is waited for');
  // The keys are real: OpenSSH reads them.
  for (const key of [...first.bastion.hostKeys, ...first.registry.hostKeys]) {
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

t.test('settings AWS cannot change in place are reported, not applied; security groups are', async (t) => {
  const registry = named('harbor-registry');
  const plan = await run({ dryRun: true, settings: settings({ instanceType: 't3.small' }) });
  t.same(plan.mutating, []);
  t.match(plan.ec2Changes.filter((c) => c.action === 'update'), [
    { name: 'harbor-bastion', detail: 'type t3.micro → t3.small: not changed in place; destroy the instances to apply it' },
    { name: 'harbor-registry', detail: /^type t3\.micro → t3\.small/ },
  ]);
  const apply = await run({ settings: settings({ instanceType: 't3.small' }) });
  t.same(apply.mutating, []);
  t.equal(named('harbor-registry').id, registry.id, 'not replaced');
  t.equal(registry.type, 't3.micro');

  const wanted = [...registry.groupIds];
  registry.groupIds = wanted.slice(1);
  const fix = await run();
  t.same(summary(fix.changes.filter((c) => c.action !== 'ok')), ['update instance harbor-registry']);
  t.same(fix.mutating, ['ModifyInstanceAttribute']);
  t.same(registry.groupIds, wanted);
});

t.test('a new public key replaces the key pair', async (t) => {
  const second = newKey('id2');
  const { ec2Changes, mutating } = await run({ settings: settings({ sshPublicKeyFile: second }) });
  t.match(ec2Changes.filter((c) => c.action !== 'ok'), [{ action: 'update', kind: 'key pair', detail: /running instances keep the key they started with/ }]);
  t.same(mutating, ['DeleteKeyPair', 'ImportKeyPair']);
  t.equal([...st.keyPairs.values()][0]?.publicKey, readFileSync(second, 'utf8').split(' ').slice(0, 2).join(' '));
  await run({ settings: settings({ sshPublicKeyFile: firstKey }) });
});

t.test('a missing public key file is one line naming it', async (t) => {
  const ctx = mockContext(mock, settings({ sshPublicKeyFile: join(dir, 'nope.pub') }));
  await t.rejects(ensureInstances(ctx, await ensureNetwork(ctx)), { name: 'UserError', message: `${join(dir, 'nope.pub')}: cannot read the SSH public key (ENOENT); set ssh_public_key_file` });
  ctx.close();
});

t.test('destroy terminates before the network goes; terminated instances are ignored afterwards', async (t) => {
  const { changes } = await run({ destroy: true });
  t.same(summary(changes.filter((c) => ['instance', 'key pair', 'elastic ip'].includes(c.kind))), [
    'delete instance harbor-bastion', 'delete instance harbor-registry', 'delete elastic ip harbor-bastion-eip', 'delete key pair harbor-admin',
  ]);
  t.same(live(), []);
  t.equal([...st.instances.values()].filter((i) => i.state === 'terminated').length, 2, 'still visible, as terminated');
  t.equal(st.vpcs.size, 0);
  t.equal(st.addresses.size, 0);
  t.equal(st.keyPairs.size, 0);
  const again = await run({ destroy: true });
  t.same(again.changes, []);
  t.same(again.mutating, []);

  // Rebuilt: new instances with new host keys, the registry at the same address.
  const { ec2Changes, instances } = await run();
  t.same(summary(ec2Changes), EC2.map((x) => `create ${x}`));
  t.not(instances!.registry.id, first.registry.id);
  t.equal(instances!.registry.privateIp, '172.20.2.20');
  t.notSame(instances!.registry.hostKeys, first.registry.hostKeys);
  await run({ destroy: true });
  t.same(live(), []);
});
