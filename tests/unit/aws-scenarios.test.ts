// The AWS phase's scenarios on two backends: our own stateful mock, and moto, an AWS emulator
// written outside this project (../shared/tools/moto). The same commands, the same checks, read
// back through the SDK: a bad image refused by plan with nothing made, --only refused for what
// does not exist, apply from empty (Harbor-sized registry, encrypted volumes, IMDSv2), a no-op
// apply with no write and few calls, a console without host keys ending within its wait with an
// inventory written, drift repaired, a pending replace never counted, NAT off and on, AWS errors
// as one line, the deployment lock, destroy twice.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { DescribeNatGatewaysCommand, DescribeSecurityGroupsCommand, DescribeVolumesCommand, DescribeVpcsCommand, RevokeSecurityGroupIngressCommand } from '@aws-sdk/client-ec2';
import t, { type Test } from 'tap';
import { asUserError } from '../../lib/cloud/aws/errors.ts';
import { UserError } from '../../lib/errors.ts';
import { loadInventory } from '../../lib/inventory/index.ts';
import { onBothBackends, scenario, scenarioWork, tagged, type Setup } from '../helpers/aws-mock/scenario.ts';

const work = scenarioWork(t, 'hm-aws-scenarios-');

async function scenarios(t: Test, setup: Setup): Promise<void> {
  const { backend } = setup;
  const { settingsFile, inventoryFile, write, aws, failed, clients, instances } = await scenario(t, work, setup);
  await t.test('a bad image is refused by plan and apply, with nothing made', async (t) => {
    write('ami: ami-0000000000000dead');
    for (const action of ['plan', 'apply'] as const) {
      const r = await aws(action);
      t.match(failed(t, r), /aws\.settings\.yaml: "ami" ami-0000000000000dead is not an image in eu-west-1/);
      t.same(r.writes, [], `${action}: no write`);
    }
    write();
  });

  await t.test('--only dns on an empty account is refused by plan, naming what to apply first', async (t) => {
    const r = await aws('plan', { only: 'dns' });
    t.match(failed(t, r), /of the network does not exist yet, and .* need.* it: apply the network first \(--only network,/);
    t.same(r.writes, []);
  });

  await t.test('apply from empty: a Harbor-sized registry, every volume encrypted, IMDSv2 required; a console without keys ends in its wait', async (t) => {
    const r = await aws('apply');
    t.equal(r.error, undefined, String(r.error));
    t.match(r.stdout, /^Apply complete: \d+ added, 0 changed, 0 destroyed/m);
    const [bastion, registry] = ['harbor-bastion', 'harbor-registry'].map((n) => instances().then((all) => all.find((i) => tagged(i) === n)));
    t.match(await registry, { InstanceType: 't3.large', PrivateIpAddress: '172.20.2.20', MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 2 } });
    t.match(await bastion, { InstanceType: 't3.micro', MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 1 } });
    const volumes = (await clients.ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'tag:Project', Values: ['harbor'] }] }))).Volumes ?? [];
    const data = volumes.find((v) => tagged(v) === 'harbor-registry-data');
    t.match(data, { Size: 100, VolumeType: 'gp3', Encrypted: true, Attachments: [{ InstanceId: (await registry)?.InstanceId, Device: '/dev/sdf' }] });
    const roots = volumes.filter((v) => v.Attachments?.some((a) => a.Device !== '/dev/sdf'));
    t.equal(roots.length, 2, 'two root volumes');
    t.ok(roots.every((v) => v.Encrypted), 'encrypted');
    t.same(roots.map((v) => v.Size).sort(), [20, 8]);
    const inv = await loadInventory(inventoryFile);
    t.equal(inv.hosts.get('registry-1')?.vars.ansible_host, '172.20.2.20', 'the inventory is written');
    if (backend.name === 'moto') {
      // moto's console output has no host keys: each new instance's wait ends at host_key_wait_seconds.
      t.equal(r.log.filter((l) => /showed no host keys on its console within host_key_wait_seconds \(1 s\): its key is not pinned/.test(l)).length, 2, 'says so, and how to pin');
      t.notMatch(readFileSync(inventoryFile.replace(/\.yaml$/, '.known_hosts'), 'utf8'), /ssh-ed25519/, 'nothing pinned without keys');
    } else t.match(readFileSync(inventoryFile.replace(/\.yaml$/, '.known_hosts'), 'utf8'), /ssh-ed25519/, 'keys pinned from the console');
  });

  await t.test('a second apply makes no write and at most 35 calls', async (t) => {
    const r = await aws('apply');
    t.equal(r.error, undefined, String(r.error));
    t.match(r.stdout, /^Plan: 0 to add, 0 to change, 0 to destroy, \d+ unchanged\.$/m);
    t.same(r.writes, []);
    t.ok(r.calls <= 35, `${r.calls} calls`);
  });

  await t.test('drift is shown and repaired', async (t) => {
    const [group] = (await clients.ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'tag:Name', Values: ['harbor-ssh-in'] }] }))).SecurityGroups ?? [];
    await clients.ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: group!.GroupId!, IpPermissions: group!.IpPermissions! }));
    const plan = await aws('plan');
    t.match(plan.stdout, /^ {2}~ security group harbor-ssh-in \(sg-\w+\): \+ ingress tcp\/22 from 203\.0\.113\.0\/24$/m);
    const fixed = await aws('apply');
    t.same(fixed.writes, ['ec2 AuthorizeSecurityGroupIngress']);
    t.same((await aws('apply')).writes, []);
  });

  await t.test('a replace is shown, pending, and never counted as changed', async (t) => {
    write('registry_instance_type: m5.xlarge');
    const r = await aws('apply');
    t.match(r.stdout, /^ {2}-\/\+ instance harbor-registry \(i-\w+\): type t3\.large → m5\.xlarge/m);
    t.match(r.stdout, /^Pending: instance harbor-registry is replaced only when asked: --replace harbor-registry$/m);
    t.match(r.stdout, /^Apply complete: 0 added, 0 changed, 0 destroyed/m);
    t.same(r.writes, []);
    write();
  });

  await t.test('NAT off, then on again', async (t) => {
    write('nat_gateway: false');
    const off = await aws('apply');
    t.equal(off.error, undefined, String(off.error));
    t.match(off.stdout, /^ {2}- nat gateway harbor-nat /m);
    const live = async () => ((await clients.ec2.send(new DescribeNatGatewaysCommand({ Filter: [{ Name: 'tag:Project', Values: ['harbor'] }, { Name: 'state', Values: ['pending', 'available'] }] }))).NatGateways ?? []).length;
    t.equal(await live(), 0);
    write();
    const on = await aws('apply');
    t.equal(on.error, undefined, String(on.error));
    t.equal(await live(), 1);
    t.same((await aws('apply')).writes, []);
  });

  await t.test("AWS's errors are one line: service, operation, resource, code, message, request id", async (t) => {
    const err = await clients.ec2.send(new DescribeVpcsCommand({ VpcIds: ['vpc-0000000000000dead'] })).catch((e: unknown) => e);
    const line = asUserError(err, 'plan');
    t.ok(line instanceof UserError);
    t.match((line as Error).message, /^plan: AWS EC2 DescribeVpcs \(vpc-0000000000000dead\): InvalidVpcID\.NotFound: .*vpc-0000000000000dead.* \[request [\w-]+\]$/);
  });

  await t.test('two runs never interleave: a live holder refuses, a dead one is taken over', async (t) => {
    writeFileSync(`${settingsFile}.lock`, `pid ${process.pid} on ${(await import('node:os')).hostname()} since now: aws.mts apply\n`);
    const locked = await aws('apply');
    t.match(failed(t, locked), /aws\.settings\.yaml is locked by another run \(pid \d+ on .*aws\.mts apply\): wait for it to end; if it is gone, remove .*\.lock$/);
    t.same(locked.writes, []);
    writeFileSync(`${settingsFile}.lock`, `pid 999999 on ${(await import('node:os')).hostname()} since then: aws.mts apply\n`);
    const stale = await aws('apply');
    t.equal(stale.error, undefined, String(stale.error));
    t.ok(stale.log.some((l) => /taking over the lock of a run that is gone/.test(l)));
    t.notOk(existsSync(`${settingsFile}.lock`), 'released after the run');
  });

  await t.test('destroy, then again with nothing to do; storage only by name', async (t) => {
    const r = await aws('destroy');
    t.equal(r.error, undefined, String(r.error));
    t.match(r.stdout, /^Destroy complete: \d+ destroyed\.$/m);
    t.same(await instances(), []);
    const vpcs = (await clients.ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'tag:Project', Values: ['harbor'] }] }))).Vpcs ?? [];
    t.same(vpcs, [], 'no VPC left');
    const again = await aws('destroy');
    t.match(again.stdout, /^Plan: 0 to add, 0 to change, 0 to destroy, 0 unchanged\.$/m);
    t.same(again.writes, []);
    const storage = await aws('destroy', { only: 'storage', emptyBucket: true });
    t.equal(storage.error, undefined, String(storage.error));
    t.match(storage.stdout, /^ {2}- ebs volume harbor-registry-data /m);
    t.match(storage.stdout, /^ {2}- s3 bucket hm-\w+-images/m);
    t.same((await aws('destroy', { only: 'storage' })).writes, []);
  });
}

onBothBackends(t, work, scenarios);
