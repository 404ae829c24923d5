// Several registry hosts and the db host on AWS (registry_count, db_instance), on both backends
// (our mock and moto): the plan for three registries from nothing, apply, a rerun with nothing to
// do, the security groups admitting PostgreSQL and Redis from the registry hosts' group only, the
// inventory naming every host; scaling back to one deletes two instances and nothing else; the db
// host goes only when asked (db_instance: false), with what only it needed; destroy with it.
// A registry_count that is not 1 to 9 is one line naming the setting, before any call.
import { readFileSync } from 'node:fs';
import { DescribeSecurityGroupsCommand, DescribeSubnetsCommand, type SecurityGroup } from '@aws-sdk/client-ec2';
import t, { type Test } from 'tap';
import { loadInventory } from '../../lib/inventory/index.ts';
import { onBothBackends, scenario, scenarioWork, tagged, type Setup } from '../helpers/aws-mock/scenario.ts';

const work = scenarioWork(t, 'hm-aws-scale-');

async function scaling(t: Test, setup: Setup): Promise<void> {
  const { inventoryFile, write, aws, failed, clients, instances } = await scenario(t, work, setup);
  const byName = async () => new Map((await instances()).map((i) => [tagged(i)!, i]));
  const groups = async () => new Map(((await clients.ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'tag:Project', Values: ['harbor'] }] }))).SecurityGroups ?? []).map((g) => [tagged(g)!, g]));
  const subnets = async () => new Map(((await clients.ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'tag:Project', Values: ['harbor'] }] }))).Subnets ?? []).map((s) => [tagged(s)!, s]));
  /** A group's rules as "in tcp/5432 <peer>" lines (a peer group by its Name tag). */
  const rules = (g: SecurityGroup | undefined, all: Map<string, SecurityGroup>) => {
    const nameOf = (id?: string) => [...all.values()].find((x) => x.GroupId === id)?.GroupName ?? id;
    const lines = (dir: string, perms = g?.IpPermissions) =>
      (perms ?? []).flatMap((p) => [...(p.IpRanges ?? []).map((r) => r.CidrIp), ...(p.UserIdGroupPairs ?? []).map((r) => nameOf(r.GroupId))].map((peer) => `${dir} ${p.IpProtocol}/${p.FromPort} ${peer}`));
    return [...lines('in'), ...lines('out', g?.IpPermissionsEgress)].sort();
  };
  const changeLines = (stdout: string) => stdout.split('\n').filter((l) => /^ {2}[-+~]/.test(l)).map((l) => l.trim().replace(/ \((i|sg|subnet|rtb)-\w+\)/, ''));

  await t.test('registry_count must be a whole number from 1 to 9: one line, nothing sent', async (t) => {
    for (const bad of ['0', '20', '"3x"']) {
      write(`registry_count: ${bad}`);
      const r = await aws('plan');
      t.match(failed(t, r), new RegExp(`aws\\.settings\\.yaml: "registry_count" ${bad.replace(/"/g, '\\\\?"')} must be a whole number from 1 to 9$`));
      t.equal(r.calls, 0, `${bad}: no call`);
    }
    write('registry_count: 3', 'db_instance: false');
    t.match(failed(t, await aws('plan')), /"registry_count: 3" needs the db host the registries share: remove "db_instance: false"$/);
  });

  await t.test('the plan for three registries from nothing shows every host, the second private subnet and the db groups', async (t) => {
    write('registry_count: 3');
    const r = await aws('plan');
    t.equal(r.error, undefined, String(r.error));
    t.same(r.writes, [], 'planning writes nothing');
    const lines = changeLines(r.stdout);
    for (const want of [
      /^\+ subnet harbor-private-b: 172\.20\.3\.0\/24 in eu-west-1a$/,
      /^\+ route table harbor-private-b-routes: 0\.0\.0\.0\/0 → \(known after apply\)/,
      /^\+ security group harbor-db-clients: egress tcp\/5432 to 172\.20\.0\.0\/16, egress tcp\/6379 to 172\.20\.0\.0\/16$/,
      /^\+ security group harbor-db-in: ingress tcp\/5432 from harbor-db-clients, ingress tcp\/6379 from harbor-db-clients$/,
      /^\+ instance harbor-registry: .* t3\.large in .* at 172\.20\.2\.20,/,
      /^\+ instance harbor-registry-2: .* t3\.large in .* at 172\.20\.3\.21,/,
      /^\+ instance harbor-registry-3: .* t3\.large in .* at 172\.20\.2\.22,/,
      /^\+ instance harbor-db: .* t3\.medium in .* at 172\.20\.2\.10,/,
    ]) t.ok(lines.some((l) => want.test(l)), `${want}`);
    t.equal(lines.filter((l) => l.startsWith('+ instance ')).length, 5, 'bastion, three registries, db');
  });

  await t.test('apply: the hosts at their addresses in two zones, the db reached from the registry hosts only, the inventory naming all', async (t) => {
    const r = await aws('apply');
    t.equal(r.error, undefined, String(r.error));
    const live = await byName();
    t.same([...live.keys()].sort(), ['harbor-bastion', 'harbor-db', 'harbor-registry', 'harbor-registry-2', 'harbor-registry-3']);
    const nets = await subnets();
    const at = (name: string) => ({ ip: live.get(name)?.PrivateIpAddress, subnet: [...nets.values()].find((s) => s.SubnetId === live.get(name)?.SubnetId)?.AvailabilityZone });
    t.same(['harbor-registry', 'harbor-registry-2', 'harbor-registry-3', 'harbor-db'].map(at), [
      { ip: '172.20.2.20', subnet: 'eu-west-1b' }, { ip: '172.20.3.21', subnet: 'eu-west-1a' }, { ip: '172.20.2.22', subnet: 'eu-west-1b' }, { ip: '172.20.2.10', subnet: 'eu-west-1b' },
    ]);
    const all = await groups();
    t.same(rules(all.get('harbor-db-in'), all), ['in tcp/5432 harbor-db-clients', 'in tcp/6379 harbor-db-clients'], 'PostgreSQL and Redis from the registry hosts group, nothing else');
    t.same(rules(all.get('harbor-db-clients'), all), ['out tcp/5432 172.20.0.0/16', 'out tcp/6379 172.20.0.0/16']);
    const groupNames = (name: string) => (live.get(name)?.SecurityGroups ?? []).map((g) => g.GroupName).sort();
    for (const name of ['harbor-registry', 'harbor-registry-2', 'harbor-registry-3']) t.same(groupNames(name), ['harbor-db-clients', 'harbor-ssh-in-local', 'harbor-web-in-local', 'harbor-web-out'], name);
    t.same(groupNames('harbor-db'), ['harbor-db-in', 'harbor-ssh-in-local', 'harbor-web-out'], 'the db host serves no HTTP');
    t.same(groupNames('harbor-bastion').includes('harbor-db-clients'), false, 'the bastion cannot reach the database');
    const inv = await loadInventory(inventoryFile);
    const group = (g: string) => [...inv.hosts.values()].filter((h) => h.groups.includes(g)).map((h) => `${h.name} ${h.vars.ansible_host} ${h.vars.private_ip}`);
    t.same(group('registry'), ['registry-1 172.20.2.20 172.20.2.20', 'registry-2 172.20.3.21 172.20.3.21', 'registry-3 172.20.2.22 172.20.2.22']);
    t.same(group('database'), ['db-1 172.20.2.10 172.20.2.10']);
    t.equal(inv.hosts.get('bastion')?.vars.private_ip, live.get('harbor-bastion')?.PrivateIpAddress, "the bastion's private address: where the registries reach the balancer");
    t.match(String(inv.hosts.get('db-1')?.vars.ansible_ssh_common_args), /ProxyCommand=.*@/, 'the db host is reached through the bastion');
    if (setup.backend.name === 'mock') {
      const pinned = readFileSync(inventoryFile.replace(/\.yaml$/, '.known_hosts'), 'utf8');
      for (const ip of ['172.20.2.20', '172.20.3.21', '172.20.2.22', '172.20.2.10']) t.match(pinned, new RegExp(`^${ip.replace(/\./g, '\\.')} ssh-ed25519 `, 'm'), `${ip} pinned`);
    }
  });

  await t.test('a rerun has nothing to do', async (t) => {
    const r = await aws('apply');
    t.match(r.stdout, /^Plan: 0 to add, 0 to change, 0 to destroy, \d+ unchanged\.$/m);
    t.same(r.writes, []);
  });

  await t.test('scaling to one registry deletes two instances and nothing else; the db host stays', async (t) => {
    write('registry_count: 1');
    const r = await aws('apply');
    t.equal(r.error, undefined, String(r.error));
    t.same(changeLines(r.stdout), ['- instance harbor-registry-2', '- instance harbor-registry-3']);
    t.match(r.stdout, /^Apply complete: 0 added, 0 changed, 2 destroyed, \d+ unchanged\.$/m);
    t.same([...(await byName()).keys()].sort(), ['harbor-bastion', 'harbor-db', 'harbor-registry']);
    const inv = await loadInventory(inventoryFile);
    t.same([...inv.hosts.keys()].sort(), ['bastion', 'db-1', 'registry-1']);
    t.same((await aws('apply')).writes, [], 'and then nothing to do');
  });

  await t.test('db_instance: false removes the db host, its groups and the second private subnet, after the hosts leave them', async (t) => {
    write('db_instance: false');
    const r = await aws('apply');
    t.equal(r.error, undefined, String(r.error));
    const [leaves, ...gone] = changeLines(r.stdout);
    t.match(leaves, /^~ instance harbor-registry: security groups (sg-\w+, ){3}sg-\w+ → (sg-\w+, ){2}sg-\w+$/, 'registry-1 leaves the db clients group first');
    t.same(gone, [
      '- instance harbor-db', '- security group harbor-db-in', '- security group harbor-db-clients', '- route table harbor-private-b-routes', '- subnet harbor-private-b',
    ]);
    t.same([...(await byName()).keys()].sort(), ['harbor-bastion', 'harbor-registry']);
    t.notOk((await groups()).has('harbor-db-in'));
    t.notOk((await subnets()).has('harbor-private-b'));
    const inv = await loadInventory(inventoryFile);
    t.same([...inv.hosts.keys()].sort(), ['bastion', 'registry-1']);
    t.same((await aws('apply')).writes, []);
  });

  await t.test('destroy takes the db groups down too (the one a rule names last)', async (t) => {
    // New addresses: moto keeps a terminated instance's address in use.
    write('registry_count: 2', 'registry_private_ip: 172.20.2.30', 'db_private_ip: 172.20.2.11');
    const again = await aws('apply');
    t.equal(again.error, undefined, String(again.error));
    t.match(again.stdout, /^Pending: instance harbor-registry is replaced only when asked: --replace harbor-registry$/m, 'registry-1 keeps its address until asked');
    t.same([...(await byName()).keys()].sort(), ['harbor-bastion', 'harbor-db', 'harbor-registry', 'harbor-registry-2']);
    const r = await aws('destroy');
    t.equal(r.error, undefined, String(r.error));
    t.same(await instances(), []);
    t.same([...(await groups()).keys()].filter((n) => n !== 'default'), []);
  });
}

onBothBackends(t, work, scaling);
