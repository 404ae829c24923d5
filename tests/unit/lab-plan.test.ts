// The lab's plan for several registries and a db host: names, addresses, the shared storage
// and the inventory groups it writes (the lab itself runs in tests/lab/ha-site.test.ts).
import t from 'tap';
import { parse } from 'yaml';
import { jumpInventoryText } from '../../lib/inventory/write.ts';
import { labNamespacePattern, planLab, SHARED_STORAGE_MOUNT } from '../../lib/lab/plan.ts';

t.test('--db adds db-1 on the private network; several registries share a directory', async (t) => {
  const plan = planLab({ name: 'hap', subnet: '10.177', registries: 2, db: true, stateDir: '/tmp/hap-state' });
  t.same(
    plan.hosts.map((h) => [h.name, h.group, h.address, h.privPort, h.sharedDir]),
    [
      ['bastion', 'bastion', '10.177.0.2', 'bastion', null],
      ['registry-1', 'registry', '10.177.1.11', 'r1', '/tmp/hap-state/shared'],
      ['registry-2', 'registry', '10.177.1.12', 'r2', '/tmp/hap-state/shared'],
      ['db-1', 'database', '10.177.1.5', 'db1', null],
    ],
  );
  t.equal(plan.sharedDir, '/tmp/hap-state/shared');
  t.ok(labNamespacePattern('hap').test('hap-db-1'), 'down finds the db namespace');
  t.notOk(labNamespacePattern('hap').test('hap-db-2'));
});

t.test('one registry and no --db: no db host, no shared storage', async (t) => {
  const plan = planLab({ name: 'hap', subnet: '10.177', registries: 1, stateDir: '/tmp/hap-state' });
  t.same(plan.hosts.map((h) => h.name), ['bastion', 'registry-1']);
  t.equal(plan.sharedDir, null);
  t.equal(plan.db, false);
});

t.test('the inventory puts the db host in group database, reached through the bastion like the registries', async (t) => {
  const text = jumpInventoryText({
    header: 'test',
    user: 'root',
    keyFile: '/k',
    knownHostsFile: '/kh',
    become: false,
    bastion: { name: 'bastion', address: '10.177.0.2' },
    registries: [{ name: 'registry-1', address: '10.177.1.11' }],
    databases: [{ name: 'db-1', address: '10.177.1.5', vars: { private_ip: '10.177.1.5' } }],
    vars: { registry_data_dir: SHARED_STORAGE_MOUNT },
  });
  const inv = parse(text) as { all: { vars: Record<string, string>; children: Record<string, { vars?: Record<string, string>; hosts: Record<string, object> }> } };
  t.same(Object.keys(inv.all.children), ['bastion', 'registry', 'database']);
  t.same(inv.all.children.database!.hosts, { 'db-1': { ansible_host: '10.177.1.5', private_ip: '10.177.1.5' } });
  t.equal(inv.all.children.database!.vars!.ansible_ssh_common_args, inv.all.children.registry!.vars!.ansible_ssh_common_args);
  const noDb = parse(jumpInventoryText({ header: 'x', user: 'u', keyFile: '/k', knownHostsFile: '/kh', become: false, bastion: { name: 'b', address: '1.2.3.4' }, registries: [], vars: {} }));
  t.notOk('database' in noDb.all.children, 'no empty database group');
});
