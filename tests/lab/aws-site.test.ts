// `site.mts --aws` from nothing to a registry that answers: the AWS phase runs against the
// stateful mock (real SDK, SigV4 checked), whose bastion and registry instances are this lab's
// hosts (their addresses and their real host keys, printed on the "console"), then the roles run
// over SSH through the bastion with those keys pinned, strictly. A rerun changes nothing.
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { loadInventory } from '../../lib/inventory/index.ts';
import { HOST_KEY } from '../../lib/lab/hostfs.ts';
import type { LabHost } from '../../lib/lab/types.ts';
import { resolvingTo } from '../fixtures/roles/client.ts';
import { seedMachines } from '../helpers/aws-mock/ec2.ts';
import { startFullAwsMock } from '../helpers/aws-mock/index.ts';
import { withLab } from '../helpers/lab.ts';

const NAME = 'registry.lab.test';
const LAUNCHER = join(process.cwd(), 'bin', 'harbormaster.mjs');

const lab = await withLab(t, { name: 'awslab', subnet: '10.211', registries: 1 });
const bastion = lab.hosts.find((h) => h.group === 'bastion')!;
const registry = lab.hosts.find((h) => h.name === 'registry-1')!;
const hostKey = async (h: LabHost) => [(await readFile(join(h.upperDir, HOST_KEY + '.pub'), 'utf8')).trim().split(/\s+/).slice(0, 2).join(' ')];

const mock = await startFullAwsMock({ hostedZone: 'lab.test' });
t.teardown(() => mock.close());
seedMachines(mock, {
  publicIps: { 'harbor-bastion-eip': bastion.address },
  hostKeys: { 'harbor-bastion': await hostKey(bastion), 'harbor-registry': await hostKey(registry) },
});

// The deployment lives in its own directory: inventory/aws.yaml is written under the cwd.
const dir = t.testdir();
const subnet = bastion.address.split('.').slice(0, 2).join('.');
await writeFile(
  join(dir, 'aws.settings.yaml'),
  [
    'ami: ami-0123456789abcdef0',
    `admin_cidr: ${subnet}.0.0/24`,
    'hosted_zone: lab.test',
    'bucket: hm-lab-images',
    `endpoint: ${mock.endpoint}`,
    `vpc_cidr: ${subnet}.0.0/16`,
    `public_subnet_cidr: ${subnet}.0.0/24`,
    `private_subnet_cidr: ${subnet}.1.0/24`,
    `registry_private_ip: ${registry.address}`,
    'nat_gateway: false',
    'ssh_user: root',
    `ssh_private_key_file: ${lab.keyFile}`,
    `ssh_public_key_file: ${lab.keyFile}.pub`,
    'poll_seconds: 0.01',
    '',
  ].join('\n'),
);
await writeFile(join(dir, 'vault.password'), 'aws site test password\n', { mode: 0o600 });
const env = { ...process.env, AWS_ACCESS_KEY_ID: mock.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: mock.credentials.secretAccessKey };
delete (env as Record<string, string | undefined>).NODE_OPTIONS; // as from a plain shell: the compiled entry point, no tsx

/** `bin/harbormaster.mjs site --aws …` from the deployment's directory (async: the mock answers in this process). */
function site(): Promise<{ code: number; stdout: string; stderr: string }> {
  // The mock's Route53 is no real DNS: the smoke test would ask the machine's resolver for the name.
  const args = [LAUNCHER, 'site', '--aws', 'aws.settings.yaml', '--yes', '--vault', 'vault.yaml', '--vault-password-file', 'vault.password', '--certs-dir', 'certs', '--json', '--skip-smoke'];
  // The lab's hosts cannot reach the mock's S3, so the registry keeps its images on disk here.
  args.push('-e', 'registry_storage=filesystem');
  return new Promise((resolve) =>
    execFile(process.execPath, args, { cwd: dir, env, maxBuffer: 1 << 24 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code) : 0, stdout, stderr }),
    ),
  );
}

const recapOf = (stdout: string) =>
  stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { type: string; hosts: Record<string, { changed: number; failed: number; unreachable: number }> }).find((e) => e.type === 'recap');

t.test('from an empty account to a converged site on the instances', async (t) => {
  const r = await site();
  t.equal(r.code, 0, r.stdout.split('\n').filter((l) => /"(failed|unreachable)"/.test(l)).join('\n'));
  t.match(r.stderr, /^Apply complete: \d+ added, 0 changed, 0 destroyed/m, 'the AWS phase ran');
  const inv = await loadInventory(join(dir, 'inventory/aws.yaml'));
  t.equal(inv.hosts.get('bastion')?.vars.ansible_host, bastion.address, "the bastion's Elastic IP");
  t.equal(inv.hosts.get('registry-1')?.vars.ansible_host, registry.address, 'the fixed private IP');
  const known = await readFile(join(dir, 'inventory/aws.known_hosts'), 'utf8');
  t.ok(known.includes(`${bastion.address} ${(await hostKey(bastion))[0]}`), "the bastion's key, from its console");
  const recap = recapOf(r.stdout);
  t.strictSame(Object.keys(recap?.hosts ?? {}).sort(), ['bastion', 'registry-1']);
  for (const [host, h] of Object.entries(recap?.hosts ?? {})) t.match(h, { failed: 0, unreachable: 0 }, `${host} converged`);

  const client = await resolvingTo(dir, NAME, bastion.address);
  const curl = await client('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', join(dir, 'certs', 'ca.crt'), `https://${NAME}/v2/`]);
  t.equal(curl.stdout, '401', 'the registry answers by its public name through the proxy (and wants a login)');
});

t.test('a rerun: the account and the hosts are as they should be', async (t) => {
  const r = await site();
  t.equal(r.code, 0, r.stderr.slice(-3000));
  t.match(r.stderr, /^Plan: 0 to add, 0 to change, 0 to destroy, \d+ unchanged\.$/m);
  for (const [host, h] of Object.entries(recapOf(r.stdout)?.hosts ?? {})) t.equal(h.changed, 0, `${host} unchanged`);
});
