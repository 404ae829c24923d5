import { join } from 'node:path';
import t from 'tap';
import { loadInventory } from '../../lib/inventory/index.ts';
import { userError } from '../fixtures/inventory/helpers.ts';

interface Fixture {
  [name: string]: string | Fixture;
}

/** Each case: files to write, the file to load, and the exact one-line error (DIR stands for the test dir). */
const cases: [string, Fixture, string, string][] = [
  ['YAML syntax', { 'i.yaml': 'all:\n  hosts:\n    a: b: c\n' }, 'i.yaml', 'DIR/i.yaml:3: Nested mappings are not allowed in compact mappings (YAML)'],
  ['duplicate key', { 'i.yaml': 'all:\n  vars:\n    a: 1\n    a: 2\n' }, 'i.yaml', 'DIR/i.yaml:4: Map keys must be unique (YAML)'],
  ['empty file', { 'i.yaml': '# nothing\n' }, 'i.yaml', 'DIR/i.yaml: the inventory is empty; write `all:` with `hosts:` or `children:`'],
  ['top level is a list', { 'i.yaml': '- all\n' }, 'i.yaml', 'DIR/i.yaml:1: an inventory must be a mapping of groups (all:, children:, hosts:, vars:)'],
  ['hosts is a list', { 'i.yaml': 'all:\n  children:\n    web:\n      hosts:\n        - web1\n' }, 'i.yaml',
    'DIR/i.yaml:5: hosts: of group web must be a mapping, not a list (write each host as `name:` on its own line)'],
  ['a host that is a list', { 'i.yaml': 'all:\n  hosts:\n    web1:\n      - a\n' }, 'i.yaml',
    'DIR/i.yaml:4: host web1 must map to its variables (key: value) or to nothing, not a list'],
  ['unknown key in a group', { 'i.yaml': 'all:\n  host:\n    a:\n' }, 'i.yaml',
    "DIR/i.yaml:2: unknown key 'host' in group all (expected hosts:, children: or vars:; a host goes under hosts:)"],
  ['a group that is a list', { 'i.yaml': 'web:\n  - a\n' }, 'i.yaml', 'DIR/i.yaml:2: group web must be a mapping with hosts:, children: or vars:, not a list'],
  ['vars that are a string', { 'i.yaml': 'all:\n  vars: x\n' }, 'i.yaml', 'DIR/i.yaml:2: vars: of group all must be a mapping, not the value "x"'],
  ['child group cycle', { 'i.yaml': 'all:\n  children:\n    a:\n      children:\n        b:\n          children:\n            a:\n' }, 'i.yaml',
    'DIR/i.yaml:5: making b a child of a creates a group cycle: a -> b -> a'],
  ['a group its own child', { 'i.yaml': 'all:\n  children:\n    a:\n      children:\n        a:\n' }, 'i.yaml', 'DIR/i.yaml:5: group a cannot be a child of itself'],
  ['bad host range', { 'i.yaml': 'all:\n  hosts:\n    web[01:3]:\n' }, 'i.yaml', 'DIR/i.yaml:3: host range [01:3] must give begin and end with the same number of digits'],
  ['inventory plugin config', { 'i.yml': 'plugin: aws_ec2\nregions: [eu-west-1]\n' }, 'i.yml',
    'DIR/i.yml:1: this is an inventory plugin configuration; harbormaster reads only YAML and INI inventories'],
  ['group_vars file is a list', { 'i.yaml': 'all:\n  hosts:\n    a:\n', group_vars: { 'all.yml': '# vars\n- x\n' } }, 'i.yaml',
    'DIR/group_vars/all.yml:2: a variables file must be a mapping of names to values'],
  ['host_vars YAML syntax', { 'i.yaml': 'all:\n  hosts:\n    a:\n', host_vars: { a: { 'main.yml': 'x: 1\ny: [1, 2\n' } } }, 'i.yaml',
    'DIR/host_vars/a/main.yml:3: Flow sequence in block collection must be sufficiently indented and end with a ] (YAML)'],
  ['no such file', {}, 'missing.yaml', 'DIR/missing.yaml: no such file'],
  ['INI unknown section type', { hosts: '[web]\na\n[web:hostz]\n' }, 'hosts',
    "DIR/hosts:3: section [web:hostz] has unknown type 'hostz' (use [web], [web:vars] or [web:children])"],
  ['INI section with a space', { hosts: '[web servers]\na\n' }, 'hosts',
    'DIR/hosts:1: invalid section header [web servers]: use [group], [group:vars] or [group:children] without spaces'],
  ['INI section header without its bracket', { hosts: '[db]\nd\n[web\na\n' }, 'hosts',
    'DIR/hosts:3: invalid section header [web: use [group], [group:vars] or [group:children] without spaces'],
  ['INI section header with a stray bracket', { hosts: '[web]]\na\n' }, 'hosts',
    'DIR/hosts:1: invalid section header [web]]: use [group], [group:vars] or [group:children] without spaces'],
  ['INI vars line without =', { hosts: '[web]\na\n[web:vars]\nx=1\njust words\n' }, 'hosts', 'DIR/hosts:5: expected key=value in [web:vars], got: just words'],
  ['INI host word without =', { hosts: '[web]\na ansible_user=x oops\n' }, 'hosts', 'DIR/hosts:2: expected key=value after host a, got: oops'],
  ['INI unclosed quote', { hosts: "[web]\na x='open\n" }, 'hosts', "DIR/hosts:2: cannot read host line (no closing quotation): a x='open"],
  ['INI vars of an undefined group', { hosts: '[web]\na\n\n[db:vars]\nx=1\n' }, 'hosts',
    'DIR/hosts:4: [db:vars] is for group db, which is not defined anywhere (add a [db] section)'],
  ['INI children naming an undefined group', { hosts: '[web]\na\n[site:children]\nweb\nfront\n' }, 'hosts',
    'DIR/hosts:5: [site:children] names group front, which is not defined anywhere (add a [front] section)'],
  ['INI child group cycle', { hosts: '[a:children]\nb\n[b:children]\na\n' }, 'hosts', 'DIR/hosts:4: making a a child of b creates a group cycle: b -> a -> b'],
  ['INI that is YAML', { 'i.ini': '---\nall:\n' }, 'i.ini', 'DIR/i.ini:1: this looks like YAML; name the file .yaml or .yml'],
  ['INI port that is not a number', { hosts: '[web]\na:ssh\n' }, 'hosts', "DIR/hosts:2: 'a:ssh' has a port that is not a number (write host:PORT)"],
  ['INI group priority not a number', { hosts: '[web]\na\n[web:vars]\nansible_group_priority=high\n' }, 'hosts',
    'DIR/hosts:4: ansible_group_priority of group web must be an integer'],
];

for (const [what, files, load, expected] of cases) {
  t.test(what, async (t) => {
    const dir = t.testdir(files);
    const message = await userError(t, () => loadInventory(join(dir, load)));
    t.equal(message, expected.replace('DIR', dir));
  });
}
