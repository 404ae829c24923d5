// scripts/inventory.mts run as the user runs it (child processes, no terminal), checked against
// Ansible's own ansible-inventory on the same fixtures: the same JSON and the same tree.
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { loadInventory } from '../../lib/inventory/index.ts';
import { ansibleJson, InventoryView } from '../../lib/inventory/show.ts';
import { fixture } from '../fixtures/inventory/helpers.ts';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const zx = join(repo, 'node_modules/zx/build/cli.js');
const script = join(repo, 'scripts/inventory.mts');
const tsx = import.meta.resolve('tsx');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const fullEnv = { ...process.env, ...env };
  delete fullEnv.HARBORMASTER_VAULT_PASSWORD_FILE;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: repo, env: fullEnv, detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject).on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end();
  });
}

/** `npx zx scripts/inventory.mts ARGS` (zx and tsx by path), in a new session: no terminal. */
const inventory = (...args: string[]) => run(process.execPath, [zx, script, ...args], { NODE_OPTIONS: `--import=${tsx}` });
const ansibleInventory = (...args: string[]) => run('ansible-inventory', args, { ANSIBLE_INVENTORY_UNPARSED_FAILED: '1', ANSIBLE_NOCOLOR: '1' });
const hasAnsible = spawnSync('ansible-inventory', ['--version']).status === 0;

const LAB = fixture('lab', 'lab.yaml');
const COMPARED = [LAB, fixture('reference', 'inventario'), fixture('precedence', 'hosts.yaml'), fixture('precedence', 'hosts.ini')];

t.test('the --list and --graph output is exactly what ansible-inventory prints', { skip: !hasAnsible && 'ansible-inventory is not installed' }, async (t) => {
  // In-process (the functions the script prints with) to keep this fast; the script itself is run below.
  const runs = await Promise.all(
    COMPARED.flatMap((file) =>
      ['--list', '--graph'].map(async (action) => ({ file, action, inv: await loadInventory(file), theirs: await ansibleInventory('-i', file, action) })),
    ),
  );
  for (const { file, action, inv, theirs } of runs) {
    t.equal(theirs.code, 0, `ansible-inventory ${action} ${file} ran`);
    const ours = action === '--list' ? ansibleJson(new InventoryView(inv).list()) : new InventoryView(inv).graph();
    t.equal(ours, theirs.stdout.trimEnd(), `${action} ${file}`);
  }
});

t.test('--list, --graph and --host on the lab inventory', async (t) => {
  const [list, graph, host] = await Promise.all([inventory('-i', LAB, '--list'), inventory('-i', LAB, '--graph'), inventory('-i', LAB, '--host', 'bastion')]);
  t.equal(list.stdout, ansibleJson(new InventoryView(await loadInventory(LAB)).list()) + '\n', 'the script prints the view');
  const parsed = JSON.parse(list.stdout);
  t.same(parsed.all, { children: ['ungrouped', 'bastion', 'registry'] });
  t.same(parsed.registry, { hosts: ['registry-1'] });
  t.equal(parsed._meta.hostvars['registry-1'].ansible_host, '10.90.1.11');
  t.equal(graph.stdout, ['@all:', '  |--@ungrouped:', '  |--@bastion:', '  |  |--bastion', '  |--@registry:', '  |  |--registry-1', ''].join('\n'));
  t.same(JSON.parse(host.stdout), parsed._meta.hostvars.bastion);
  t.equal(list.stderr + graph.stderr + host.stderr, '', 'nothing on stderr');
});

t.test('--limit narrows the output; --targets shows how hosts are reached', async (t) => {
  const [graph, list, targets] = await Promise.all([
    inventory('-i', LAB, '--limit', 'registry', '--graph'),
    inventory('-i', LAB, '-l', 'all:!registry', '--list'),
    inventory('-i', LAB, '--limit', 'registry-1', '--targets'),
  ]);
  t.equal(graph.stdout, '@all:\n  |--@registry:\n  |  |--registry-1\n');
  t.same(Object.keys(JSON.parse(list.stdout)._meta.hostvars), ['bastion']);
  t.same(Object.keys(JSON.parse(list.stdout)).sort(), ['_meta', 'all', 'bastion']);
  const [registry] = JSON.parse(targets.stdout);
  t.match(registry, { name: 'registry-1', address: '10.90.1.11', jump: { name: 'bastion', address: '10.90.0.2', user: 'root' } });
});

t.test('vault values print as ********; without a password the error names the value', async (t) => {
  const file = fixture('vault', 'inventory.yaml');
  const [shown, refused] = await Promise.all([
    inventory('-i', file, '--host', 'web1', '--vault-password-file', fixture('vault', 'password')),
    inventory('-i', file, '--list'),
  ]);
  t.equal(shown.code, 0);
  const vars = JSON.parse(shown.stdout);
  t.equal(vars.db_password, '********');
  t.equal(vars.vault_api_token, '********');
  t.same(vars.creds, { user: 'admin', password: '********' });
  t.equal(vars.plain_in_dir, 'visible');
  t.notMatch(shown.stdout, /s3cret|tok-123|web1-pass/, 'no plaintext anywhere');
  t.equal(refused.code, 1);
  t.equal(refused.stderr, `inventory: ${file}:5: db_password is vault-encrypted; give a vault password (--vault-password-file or HARBORMASTER_VAULT_PASSWORD_FILE)\n`);
});

t.test('usage and input errors: one line on stderr, exit 1', async (t) => {
  const cases: [string[], string][] = [
    [['-i', LAB], 'inventory: give exactly one of --list, --graph, --host NAME, --targets; see --help'],
    [['-i', LAB, '--list', '--bogus'], "inventory: Unknown option '--bogus'; see --help"],
    [['-i', LAB, '--limit', 'web', '--list'], `inventory: host pattern 'web': 'web' matches no host or group in ${LAB}`],
    [['-i', 'nowhere.yaml', '--list'], `inventory: ${join(repo, 'nowhere.yaml')}: no such file`],
  ];
  const runs = await Promise.all(cases.map(([args]) => inventory(...args)));
  cases.forEach(([args, message], i) => {
    t.equal(runs[i]!.code, 1, args.join(' '));
    t.equal(runs[i]!.stderr, message + '\n', args.join(' '));
  });
  const help = await inventory('--help');
  t.equal(help.code, 0);
  t.match(help.stdout, /^usage: npx zx scripts\/inventory\.mts -i FILE/);
});
