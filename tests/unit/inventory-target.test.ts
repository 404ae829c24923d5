import { copyFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { loadInventory } from '../../lib/inventory/index.ts';
import type { Inventory, SshTarget } from '../../lib/inventory/index.ts';
import { splitShellWords } from '../../lib/inventory/shell-words.ts';
import { sshTargetOf } from '../../lib/inventory/target.ts';
import { fixture, userError } from '../fixtures/inventory/helpers.ts';

const KEY = '/var/lib/harbormaster/lab/lab/id_ed25519';
const LAB_KNOWN_HOSTS = '/abs/inventory/lab.known_hosts';
const HOME_KNOWN_HOSTS = join(homedir(), '.ssh', 'known_hosts');

const target = (inv: Inventory, name: string, opts = {}) => sshTargetOf(inv, inv.hosts.get(name)!, opts);

/** An INI inventory in a fresh directory. */
async function ini(t: Test, text: string): Promise<Inventory> {
  return loadInventory(join(t.testdir({ hosts: text }), 'hosts'));
}

t.test('the lab inventory: bastion direct, registry-1 through the bastion inventory host', async (t) => {
  const inv = await loadInventory(fixture('lab', 'lab.yaml'));
  const bastion: SshTarget = { name: 'bastion', address: '10.90.0.2', port: 22, user: 'root', keyFile: KEY, knownHostsFile: LAB_KNOWN_HOSTS, become: false };
  t.same(target(inv, 'bastion'), bastion);
  t.same(target(inv, 'registry-1'), {
    name: 'registry-1', address: '10.90.1.11', port: 22, user: 'root', keyFile: KEY, knownHostsFile: LAB_KNOWN_HOSTS, become: false, jump: bastion,
  }, 'root@10.90.0.2 in the ProxyCommand is the inventory host bastion (its ansible_host)');
});

t.test('the reference INI inventory: a jump named by inventory name; known_hosts beside the inventory when present', async (t) => {
  const inv = await loadInventory(fixture('reference', 'inventario'));
  const bastion = { name: 'registry.taletoul.com', address: 'registry.taletoul.com', port: 22, user: 'centos', knownHostsFile: HOME_KNOWN_HOSTS, become: true };
  t.same(target(inv, '172.20.2.20'), { name: '172.20.2.20', address: '172.20.2.20', port: 22, user: 'centos', knownHostsFile: HOME_KNOWN_HOSTS, become: true, jump: bastion },
    'no key file: ssh-agent; non-root: become');

  const dir = t.testdir({ 'inventario.known_hosts': '' });
  copyFileSync(fixture('reference', 'inventario'), join(dir, 'inventario'));
  const beside = await loadInventory(join(dir, 'inventario'));
  t.equal(target(beside, '172.20.2.20').knownHostsFile, join(dir, 'inventario.known_hosts'), '<inventory>.known_hosts exists');
  t.equal(target(beside, '172.20.2.20').jump!.knownHostsFile, join(dir, 'inventario.known_hosts'));
  t.equal(target(beside, '172.20.2.20', { knownHostsFile: '/x/kh' }).jump!.knownHostsFile, '/x/kh', 'opts.knownHostsFile wins everywhere');
});

t.test('jump hosts that are not in the inventory: ProxyJump, -J chains, ProxyCommand with -p -l -i, nc', async (t) => {
  const inv = await ini(t, [
    '[all:vars]',
    'ansible_ssh_private_key_file=keys/id',
    'ansible_user=deploy',
    '[hosts]',
    "pj ansible_ssh_common_args='-o ProxyJump=admin@jump.example.com:2222'",
    "chain ansible_ssh_extra_args='-J first.example.com,ops@second.example.com'",
    `pc ansible_ssh_common_args='-o ProxyCommand="ssh -p 2200 -l ops -i ~/.ssh/jump -o UserKnownHostsFile=jump.known_hosts -W %h:%p -q jump.example.com"'`,
    `nc ansible_ssh_common_args='-o "ProxyCommand ssh -q jump.example.com nc %h %p"' ansible_port=2022`,
    `jj ansible_ssh_common_args="-oProxyCommand='ssh -J root@outer.example.com -W [%h]:%p inner.example.com'"`,
  ].join('\n'));
  const dir = inv.file.replace(/\/hosts$/, '');
  const key = join(dir, 'keys/id');
  const common = { keyFile: key, knownHostsFile: HOME_KNOWN_HOSTS, become: false };
  t.same(target(inv, 'pj').jump, { name: 'admin@jump.example.com:2222', address: 'jump.example.com', port: 2222, user: 'admin', ...common }, 'the host key file and known_hosts, its own user and port');
  const chain = target(inv, 'chain').jump!;
  t.same(chain, {
    name: 'ops@second.example.com', address: 'second.example.com', port: 22, user: 'ops', ...common,
    jump: { name: 'deploy@first.example.com', address: 'first.example.com', port: 22, user: 'deploy', ...common },
  }, 'the first hop is reached first; a hop without user@ takes the host user');
  t.same(target(inv, 'pc').jump, {
    name: 'ops@jump.example.com:2200', address: 'jump.example.com', port: 2200, user: 'ops', keyFile: join(homedir(), '.ssh/jump'),
    knownHostsFile: join(dir, 'jump.known_hosts'), become: false,
  }, 'options inside the ProxyCommand apply to the jump');
  t.same(target(inv, 'nc').jump, { name: 'deploy@jump.example.com', address: 'jump.example.com', port: 22, user: 'deploy', ...common }, '"Key value" option form, nc %h %p');
  t.equal(target(inv, 'nc').port, 2022);
  t.same(target(inv, 'jj').jump, {
    name: 'deploy@inner.example.com', address: 'inner.example.com', port: 22, user: 'deploy', ...common,
    jump: { name: 'root@outer.example.com', address: 'outer.example.com', port: 22, user: 'root', ...common },
  }, '-J inside a ProxyCommand comes before its destination');
});

t.test('matching a jump to an inventory host: by name or ansible_host, and only with the same user and port', async (t) => {
  const inv = await ini(t, [
    '[bastion]',
    'gw ansible_host=192.0.2.1 ansible_user=centos',
    '[app]',
    "by-name ansible_ssh_common_args='-J gw'",
    "by-address ansible_ssh_common_args='-o ProxyJump=centos@192.0.2.1:22'",
    "other-user ansible_ssh_common_args='-J root@192.0.2.1'",
  ].join('\n'));
  t.equal(target(inv, 'by-name').jump!.name, 'gw');
  t.equal(target(inv, 'by-address').jump!.name, 'gw');
  t.same(target(inv, 'other-user').jump, { name: 'root@192.0.2.1', address: '192.0.2.1', port: 22, user: 'root', knownHostsFile: HOME_KNOWN_HOSTS, become: false },
    'root@ the same address is another login');
});

t.test('users, ports, become, keys and known_hosts from variables', async (t) => {
  const inv = await ini(t, [
    'default',
    'custom ansible_host=192.0.2.9 ansible_port="2222" ansible_user=ops ansible_become=no ansible_ssh_private_key_file=~/.ssh/id_ops',
    'legacy ansible_ssh_host=192.0.2.8 ansible_ssh_port=2200 ansible_ssh_user=admin ansible_private_key_file=/k',
    "argsonly ansible_ssh_common_args='-o User=svc -o Port=2300 -o IdentityFile=/id -o UserKnownHostsFile=/dev/null'",
    "known ansible_ssh_common_args='-o UserKnownHostsFile=\"kh/one kh/two\"'",
  ].join('\n'));
  t.same(target(inv, 'default'), { name: 'default', address: 'default', port: 22, user: 'root', knownHostsFile: HOME_KNOWN_HOSTS, become: false });
  t.same(target(inv, 'custom'), { name: 'custom', address: '192.0.2.9', port: 2222, user: 'ops', keyFile: join(homedir(), '.ssh/id_ops'), knownHostsFile: HOME_KNOWN_HOSTS, become: false });
  t.same(target(inv, 'legacy'), { name: 'legacy', address: '192.0.2.8', port: 2200, user: 'admin', keyFile: '/k', knownHostsFile: HOME_KNOWN_HOSTS, become: true });
  t.same(target(inv, 'argsonly'), { name: 'argsonly', address: 'argsonly', port: 2300, user: 'svc', keyFile: '/id', knownHostsFile: HOME_KNOWN_HOSTS, become: true },
    'ssh -o options when no variable says; /dev/null known_hosts is not used');
  t.equal(target(inv, 'known').knownHostsFile, join(inv.file, '..', 'kh/one'), 'the first of several files, relative to the inventory');
});

t.test('connection settings harbormaster cannot use are errors naming host and variable', async (t) => {
  const inv = await ini(t, [
    'templ ansible_host="{{ lookup(\'env\', \'IP\') }}"',
    'badport ansible_port=ssh',
    'badbecome ansible_user=x ansible_become=maybe',
    "nc ansible_ssh_common_args='-o ProxyCommand=\"nc -X connect -x proxy:3128 %h %p\"'",
    "w ansible_ssh_common_args='-o ProxyCommand=\"ssh -W other:22 jump\"'",
    "stray ansible_ssh_common_args='-o Foo=bar oops'",
    "quote ansible_ssh_common_args='-o ProxyCommand=\"ssh -W %h:%p'",
    "loop1 ansible_ssh_common_args='-J loop2'",
    "loop2 ansible_ssh_common_args='-J loop1'",
    "badjump ansible_ssh_common_args='-J user@host:port'",
  ].join('\n'));
  const f = inv.file;
  const cases: [string, string][] = [
    ['templ', `${f}: host templ: ansible_host is a Jinja template, which harbormaster does not evaluate; write the value itself`],
    ['badport', `${f}: host badport: ansible_port must be a port number (1-65535), not 'ssh'`],
    ['badbecome', `${f}: host badbecome: ansible_become must be true or false, not 'maybe'`],
    ['nc', `${f}: host nc: ssh args: ProxyCommand 'nc -X connect -x proxy:3128 %h %p' is not supported; use ssh -W %h:%p [user@]bastion or -o ProxyJump=[user@]bastion`],
    ['w', `${f}: host w: ssh args: ProxyCommand 'ssh -W other:22 jump' is not supported; use ssh -W %h:%p [user@]bastion or -o ProxyJump=[user@]bastion`],
    ['stray', `${f}: host stray: ssh args: unexpected 'oops' (expected ssh options such as -o Key=value)`],
    ['quote', `${f}: host quote: ssh args: no closing quotation in: -o ProxyCommand="ssh -W %h:%p`],
    ['loop1', `${f}: host loop1: its jump hosts lead back to it (loop1 -> loop2 -> loop1)`],
    ['badjump', `${f}: host badjump: ssh args: jump host 'user@host:port' is not [user@]host[:port]`],
  ];
  for (const [host, message] of cases) t.equal(await userError(t, () => target(inv, host)), message, host);
});

t.test('shell word splitting as ssh args and INI host lines need it', async (t) => {
  t.same(splitShellWords(`-o ProxyCommand="ssh -W %h:%p -q u@b" -o 'A=b c'`), ['-o', 'ProxyCommand=ssh -W %h:%p -q u@b', '-o', 'A=b c']);
  t.same(splitShellWords(String.raw`a\ b "c\"d" 'e\f' x""y`), ['a b', 'c"d', 'e\\f', 'xy']);
  t.same(splitShellWords('h x=1 # note', { comments: true }), ['h', 'x=1']);
  t.same(splitShellWords('h x=a#b', { comments: true }), ['h', 'x=a'], 'shlex ends a word at #, as Ansible does');
  t.same(splitShellWords("h x='a#b'", { comments: true }), ['h', 'x=a#b']);
  t.same(splitShellWords('  '), []);
});
