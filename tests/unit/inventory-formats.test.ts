import { join } from 'node:path';
import t from 'tap';
import { loadInventory } from '../../lib/inventory/index.ts';
import type { Inventory } from '../../lib/inventory/index.ts';
import { fixture } from '../fixtures/inventory/helpers.ts';

const vars = (inv: Inventory, host: string) => inv.hosts.get(host)?.vars;
const groupsOf = (inv: Inventory, host: string) => inv.hosts.get(host)?.groups;

t.test('the lab inventory (YAML): groups, hosts, variables by precedence', async (t) => {
  const inv = await loadInventory(fixture('lab', 'lab.yaml'));
  t.equal(inv.file, fixture('lab', 'lab.yaml'), 'absolute file');
  t.same([...inv.hosts.keys()], ['bastion', 'registry-1']);
  t.same([...inv.groups.keys()], ['all', 'ungrouped', 'bastion', 'registry']);
  t.same(inv.groups.get('all')!.children, ['ungrouped', 'bastion', 'registry']);
  t.same(inv.groups.get('registry')!.hosts, ['registry-1']);
  t.same(groupsOf(inv, 'registry-1'), ['all', 'registry']);
  t.same(vars(inv, 'bastion'), {
    ansible_user: 'root',
    ansible_ssh_private_key_file: '/var/lib/harbormaster/lab/lab/id_ed25519',
    ansible_ssh_common_args: '-o UserKnownHostsFile=/abs/inventory/lab.known_hosts -o StrictHostKeyChecking=yes',
    ansible_host: '10.90.0.2',
  });
  t.match(vars(inv, 'registry-1')!.ansible_ssh_common_args, /ProxyCommand="ssh -i .* -W %h:%p -q root@10\.90\.0\.2"$/, 'group var beats all');
  t.equal(vars(inv, 'registry-1')!.ansible_host, '10.90.1.11');
});

t.test('the reference INI inventory (inventario)', async (t) => {
  const inv = await loadInventory(fixture('reference', 'inventario'));
  t.same([...inv.hosts.keys()], ['registry.taletoul.com', '172.20.2.20']);
  t.same(vars(inv, 'registry.taletoul.com'), { ansible_user: 'centos' });
  t.same(vars(inv, '172.20.2.20'), {
    ansible_ssh_common_args: '-o ProxyCommand="ssh -W %h:%p -q centos@registry.taletoul.com"',
    ansible_user: 'centos',
  }, 'the Python-quoted [registry:vars] value is unquoted once');
  t.same(groupsOf(inv, '172.20.2.20'), ['all', 'registry']);
});

t.test('precedence: all < parent < child group, group_vars files over inline group vars, then host vars', async (t) => {
  const yaml = await loadInventory(fixture('precedence', 'hosts.yaml'));
  const ini = await loadInventory(fixture('precedence', 'hosts.ini'));
  const h1 = vars(yaml, 'h1')!;
  t.equal(h1.only_all, 'all_inline', 'a var only all sets');
  t.equal(h1.p1, 'parent_inline', 'parent group beats all');
  t.equal(h1.p2, 'child_inline', 'child group beats parent');
  t.equal(h1.p3, 'gv_all', 'group_vars/all beats any inline group var (Ansible)');
  t.equal(h1.p4, 'gv_parent', 'group_vars/parent beats group_vars/all');
  t.equal(h1.p5, 'gv_child', 'group_vars/child beats group_vars/parent');
  t.equal(h1.p6, 'host_inline', 'inline host var beats group_vars');
  t.equal(h1.p7, 'hv', 'host_vars/h1 (no extension) beats inline host var');
  t.equal(h1.p10, 'second', 'group_vars/parent/ files in name order; hidden, backup~ and .txt files skipped');
  t.equal(h1.p12, 'nested', 'subdirectories of group_vars/parent/ are read');
  t.equal(h1.p11, 'yml', 'child.yml is used and child.yaml is not (first of NAME, .yml, .yaml, .json)');
  t.notOk('ignored' in h1, 'child.yaml is not read at all');
  t.equal(vars(yaml, 'h2')!.p8, 'zeta', 'same depth: later name wins');
  t.same(vars(yaml, 'h2')!.from_json, [1, 2], 'host_vars/h2/main.json');
  t.equal(vars(yaml, 'h2')!.p6, 'gv_child', 'h2 has no inline p6');
  t.equal(vars(yaml, 'h3')!.p9, 'beta', 'ansible_group_priority 10 beats a later name at the same depth');
  t.notOk('ansible_group_priority' in vars(yaml, 'h3')!, 'the priority is not a variable');
  t.same(groupsOf(yaml, 'h2'), ['all', 'parent', 'alpha', 'child', 'zeta'], 'groups in precedence order');
  t.same(groupsOf(yaml, 'lone'), ['all', 'ungrouped'], 'a host directly under all is ungrouped');
  t.equal(vars(yaml, 'lone')!.ansible_port, 2201);
  t.same(yaml.groups.get('child')!.vars, { p2: 'child_inline', p3: 'child_inline', p5: 'gv_child', p6: 'gv_child', p11: 'yml' }, 'group vars: inline then file');

  t.same([...ini.hosts.keys()].sort(), [...yaml.hosts.keys()].sort(), 'INI: same hosts');
  for (const [name, host] of yaml.hosts) {
    t.same(ini.hosts.get(name)!.vars, host.vars, `INI: same variables for ${name}`);
    t.same(ini.hosts.get(name)!.groups, host.groups, `INI: same groups for ${name}`);
  }
});

t.test('INI: ranges, ports, comments, Python literal values, ungrouped hosts, children declared before their group', async (t) => {
  const dir = t.testdir({
    hosts: [
      '# comment',
      '; another comment',
      'loose1',
      'web[01:03] role=web  # trailing comment',
      '[db]',
      'db-[a:c]:5433 ansible_user=pg',
      'node[0:10:5]',
      '[fe80::1]:2222 ansible_user=v6',
      "quoted ansible_ssh_common_args='-o ProxyCommand=\"ssh -W %h:%p -q centos@bastion\"' spaced=\"a b\"",
      'typed n=22 f=1.5 t=True no=None yes=yes list=[1,2] d="{\'k\': \'v\'}" octal=0644 ip=10.0.0.1',
      '[site:children]',
      'db',
      'later',
      '[later]',
      'late1',
      '[site:vars]',
      'site_name = "main site"',
    ].join('\n'),
  });
  const inv = await loadInventory(join(dir, 'hosts'));
  t.same(inv.groups.get('ungrouped')!.hosts, ['loose1', 'web01', 'web02', 'web03'], 'hosts before any section');
  t.same(inv.groups.get('db')!.hosts, ['db-a', 'db-b', 'db-c', 'node0', 'node5', 'node10', 'fe80::1', 'quoted', 'typed']);
  t.same(vars(inv, 'fe80::1'), { ansible_port: 2222, ansible_user: 'v6', site_name: 'main site' }, 'a host line may start with [ for IPv6');
  t.same(vars(inv, 'web02'), { role: 'web' }, 'comment after a host line ignored');
  t.same(vars(inv, 'db-b'), { ansible_port: 5433, ansible_user: 'pg', site_name: 'main site' });
  t.equal(vars(inv, 'quoted')!.ansible_ssh_common_args, '-o ProxyCommand="ssh -W %h:%p -q centos@bastion"');
  t.equal(vars(inv, 'quoted')!.spaced, 'a b');
  t.same(vars(inv, 'typed'), {
    n: 22, f: 1.5, t: true, no: null, yes: 'yes', list: [1, 2], d: { k: 'v' }, octal: '0644', ip: '10.0.0.1', site_name: 'main site',
  }, 'literal_eval where Python would, text otherwise');
  t.same(inv.groups.get('site')!.children, ['db', 'later'], 'a child named before its [later] section');
  t.same(groupsOf(inv, 'late1'), ['all', 'site', 'later']);
});

t.test('YAML: null hosts, shorthand, anchors and merge keys, YAML 1.1 scalars like Ansible, ranges and ports in keys', async (t) => {
  const dir = t.testdir({
    'inventory.yml': [
      'base: &base',
      '  vars: { from_anchor: 1 }',
      'all:',
      '  hosts:',
      '    solo:',
      '  children:',
      '    web:',
      '      hosts: single-host',
      '    db:',
      '      vars:',
      '        defaults: &defaults { port: 5432, user: pg }',
      '        merged: { <<: *defaults, user: admin }',
      '        flags: [yes, no, on, off, y, n, 0644, 0x1F, 1:30, 2024-01-02, ~]',
      '        unsafe: !unsafe "{{ not a template }}"',
      '      hosts:',
      '        db[1:2]:2222: { role: db }',
      '        "yes":',
      '    templ: *base',
    ].join('\n'),
  });
  const inv = await loadInventory(join(dir, 'inventory.yml'));
  t.same(inv.groups.get('web')!.hosts, ['single-host'], 'hosts: NAME is a one-host mapping');
  t.same(inv.groups.get('db')!.hosts, ['db1', 'db2', 'yes'], 'a quoted "yes" key stays a name');
  t.same(inv.groups.get('ungrouped')!.hosts, ['solo']);
  const db1 = vars(inv, 'db1')!;
  t.same(db1.merged, { port: 5432, user: 'admin' }, 'merge key, explicit key wins');
  t.same(db1.flags, [true, false, true, false, 'y', 'n', 420, 31, 90, '2024-01-02', null], 'PyYAML: y/n are strings, 0644 is octal, dates stay text');
  t.equal(db1.unsafe, '{{ not a template }}');
  t.equal(db1.ansible_port, 2222, 'port from the host key');
  t.equal(db1.role, 'db');
  t.same(inv.groups.get('templ')!.vars, { from_anchor: 1 }, 'a group defined through an alias');
  t.same(inv.groups.get('all')!.children, ['ungrouped', 'web', 'db', 'templ', 'base'], 'top-level groups other than all hang under all');
});

t.test('format detection: by extension, else by the first line', async (t) => {
  const dir = t.testdir({
    'yaml-no-ext': '# a comment\nall:\n  hosts:\n    a:\n',
    'ini-no-ext': '# a comment\n[g]\nb\n',
    'host-first': 'c ansible_port=22\n',
    'hosts.yml': 'all:\n  hosts:\n    d:\n',
  });
  t.same([...(await loadInventory(join(dir, 'yaml-no-ext'))).hosts.keys()], ['a']);
  t.same([...(await loadInventory(join(dir, 'ini-no-ext'))).hosts.keys()], ['b']);
  t.same([...(await loadInventory(join(dir, 'host-first'))).hosts.keys()], ['c']);
  t.same([...(await loadInventory(join(dir, 'hosts.yml'))).hosts.keys()], ['d']);
});

t.test('a relative path is resolved; hosts come in Ansible order (groups breadth-first)', async (t) => {
  const dir = t.testdir({ hosts: '[b]\nb1\n[a]\na1\n[b:children]\nc\n[c]\nc1\n[a:children]\nd\n[d]\nd1\nb2 x=1\n' });
  const inv = await loadInventory(join(dir, 'hosts').replace(process.cwd() + '/', ''));
  t.equal(inv.file, join(dir, 'hosts'));
  t.same([...inv.hosts.keys()], ['b1', 'a1', 'c1', 'd1', 'b2']);
});
