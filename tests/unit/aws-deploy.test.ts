// scripts/aws.mts from nothing to a deployment and back, against the stateful AWS mock with the
// real SDK: plan reads only, apply asks (or takes --yes), writes the inventory with the host keys
// the instances printed, keeps the S3 user's secret only in the vault, a rerun changes nothing,
// destroy leaves the bucket unless asked by name.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { loadInventory } from '../../lib/inventory/index.ts';
import { Secret } from '../../lib/secret.ts';
import { VaultFile } from '../../lib/vault/index.ts';
import { ec2State } from '../helpers/aws-mock/ec2.ts';
import { iamState } from '../helpers/aws-mock/iam.ts';
import { isMutating, startFullAwsMock } from '../helpers/aws-mock/index.ts';
import { route53State } from '../helpers/aws-mock/route53.ts';
import { s3State } from '../helpers/aws-mock/s3.ts';

const run = promisify(execFile);
const repo = process.cwd();
const work = mkdtempSync(join(tmpdir(), 'hm-aws-deploy-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

const mock = await startFullAwsMock({ hostedZone: 'example.com' });
t.teardown(() => mock.close());

execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'admin', '-f', join(work, 'id_ed25519')]);
const settings = join(work, 'aws.settings.yaml');
writeFileSync(
  settings,
  [
    'ami: ami-0123456789abcdef0',
    'admin_cidr: 203.0.113.0/24',
    'hosted_zone: example.com',
    'bucket: hm-test-images',
    `endpoint: ${mock.endpoint}`,
    'ssh_public_key_file: id_ed25519.pub',
    'ssh_private_key_file: id_ed25519',
    'poll_seconds: 0.01',
    '',
  ].join('\n'),
);
const passwordFile = join(work, 'vault.password');
writeFileSync(passwordFile, 'correct horse battery\n', { mode: 0o600 });
const vaultFile = join(work, 'vault.yaml');
const inventoryFile = join(work, 'aws.yaml');
const env = {
  ...process.env,
  AWS_ACCESS_KEY_ID: mock.credentials.accessKeyId,
  AWS_SECRET_ACCESS_KEY: mock.credentials.secretAccessKey,
  HARBORMASTER_VAULT_PASSWORD_FILE: passwordFile,
};

async function aws(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const argv = ['zx', 'scripts/aws.mts', ...args, '--settings', settings, '--vault', vaultFile, '--inventory', inventoryFile];
  try {
    const { stdout, stderr } = await run('npx', argv, { cwd: repo, env, maxBuffer: 1 << 24 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The mutating calls made since `from` (an index into mock.calls). */
const mutatedSince = (from: number) => mock.calls.slice(from).filter(isMutating).map((c) => `${c.service} ${c.action}`);

t.test('plan on an empty account lists every resource to add and changes nothing', async (t) => {
  const from = mock.calls.length;
  const r = await aws('plan');
  t.equal(r.code, 0, r.stderr);
  for (const line of ['+ vpc harbor-vpc', '+ internet gateway', '+ security group harbor-ssh-in', '+ nat gateway', '+ instance harbor-bastion', '+ instance harbor-registry', '+ s3 bucket hm-test-images', '+ iam user harbor_s3_user']) {
    t.match(r.stdout, line);
  }
  t.match(r.stdout, /^Plan: \d+ to add, 0 to change, 0 to destroy, 0 unchanged\.$/m);
  t.strictSame(mutatedSince(from), [], 'no mutating call');
});

t.test('apply without a terminal and without --yes refuses, changing nothing', async (t) => {
  const from = mock.calls.length;
  const r = await aws('apply');
  t.equal(r.code, 1);
  t.match(r.stderr, /^aws: no terminal to ask on: pass --yes to go ahead$/m);
  t.strictSame(mutatedSince(from), []);
});

t.test('apply --yes builds it all, writes the inventory and pinned host keys, keeps the S3 secret in the vault only', async (t) => {
  const r = await aws('apply', '--yes');
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^Apply complete: \d+ added, 0 changed, 0 destroyed/m);

  const instances = [...ec2State(mock).instances.values()].filter((i) => i.state === 'running');
  t.equal(instances.length, 2, 'bastion and registry are running');
  const inv = await loadInventory(inventoryFile);
  const bastion = inv.hosts.get('bastion')!;
  const registry = inv.hosts.get('registry-1')!;
  const eip = [...ec2State(mock).addresses.values()].find((a) => a.instanceId);
  t.equal(bastion.vars.ansible_host, eip?.publicIp, "the bastion's Elastic IP");
  t.equal(registry.vars.ansible_host, '172.20.2.20');
  t.match(registry.vars.ansible_ssh_common_args, new RegExp(`ProxyCommand="ssh .* -W %h:%p -q admin@${eip?.publicIp}"`));
  t.match(inv.groups.get('all')?.vars, { registry_public_name: 'registry.example.com', registry_storage: 's3', registry_s3_bucket: 'hm-test-images' });
  const known = readFileSync(join(work, 'aws.known_hosts'), 'utf8');
  for (const i of instances) {
    for (const key of i.hostKeys) t.ok(known.includes(`${i.privateIp === '172.20.2.20' ? '172.20.2.20' : eip?.publicIp} ${key.split(' ').slice(0, 2).join(' ')}`), 'pinned from the console');
  }

  const record = [...route53State(mock).zones.values()][0]!.records.find((rr) => rr.name === 'registry.example.com.' && rr.type === 'A');
  t.strictSame(record?.values, [eip?.publicIp], 'registry.example.com → the Elastic IP');
  t.ok(s3State(mock).buckets.get('hm-test-images'), 'the bucket');

  const user = iamState(mock).users.get('harbor_s3_user')!;
  const [key] = user.keys;
  const vault = await VaultFile.open(vaultFile, new Secret('correct horse battery'));
  t.equal(vault.get('registry_s3_access_key')?.reveal(), key?.id);
  t.equal(vault.get('registry_s3_secret_key')?.reveal(), key?.secret, 'the secret is in the vault');
  t.notOk(readFileSync(vaultFile, 'utf8').includes(key!.secret), 'encrypted there');
  t.notOk(`${r.stdout}${r.stderr}`.includes(key!.secret), 'and printed nowhere');
});

t.test('a second apply changes nothing and makes no mutating call', async (t) => {
  const from = mock.calls.length;
  const r = await aws('apply', '--yes');
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^Plan: 0 to add, 0 to change, 0 to destroy, \d+ unchanged\.$/m);
  t.match(r.stdout, /^Apply complete: 0 added, 0 changed, 0 destroyed/m);
  t.strictSame(mutatedSince(from), []);
});

t.test('destroy removes all but the bucket and its user; --only storage --empty-bucket removes those', async (t) => {
  const r = await aws('destroy', '--yes');
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^  - instance harbor-bastion /m);
  t.match(r.stdout, /^Destroy complete: \d+ destroyed\.$/m);
  t.notMatch(r.stdout, /s3 bucket|iam user/, 'storage is not in the plan');
  t.equal([...ec2State(mock).instances.values()].filter((i) => i.state !== 'terminated').length, 0, 'no instance left');
  t.equal(ec2State(mock).vpcs.size, 0, 'no VPC left');
  t.ok(s3State(mock).buckets.get('hm-test-images'), 'the images are kept');
  const storage = await aws('destroy', '--yes', '--only', 'storage', '--empty-bucket');
  t.equal(storage.code, 0, storage.stderr);
  t.notOk(s3State(mock).buckets.get('hm-test-images'));
  t.notOk(iamState(mock).users.get('harbor_s3_user'));
  const again = await aws('destroy', '--yes');
  t.match(again.stdout, /^Plan: 0 to add, 0 to change, 0 to destroy/m, 'nothing left to destroy');
});
