// What the AWS scenario tests share, on either backend (our mock or moto): a settings file
// written per step, the aws.mts command run in this process (its output, the calls it made and
// which of them wrote), the project's instances read back through the SDK.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { CreateHostedZoneCommand } from '@aws-sdk/client-route-53';
import type { Test } from 'tap';
import { awsClients, closeClients } from '../../../lib/cloud/aws/clients.ts';
import { runAwsCommand } from '../../../lib/cloud/aws/command.ts';
import { loadAwsSettings } from '../../../lib/cloud/aws/settings.ts';
import { UserError } from '../../../lib/errors.ts';
import { isMutating, startFullAwsMock } from './index.ts';
import { startMoto, type AwsBackend } from './moto.ts';

/** A backend and the image setting it has: an id our mock has, a pattern moto's catalogue matches. */
export interface Setup {
  backend: AwsBackend;
  ami: string;
}

/** A work directory with an SSH key pair and a vault password, removed after the test file. */
export function scenarioWork(t: Test, prefix: string): string {
  const work = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'admin', '-f', join(work, 'id_ed25519')]);
  writeFileSync(join(work, 'vault.password'), 'scenario vault password\n', { mode: 0o600 });
  return work;
}

/** Runs `scenarios` on our mock, then on moto (skipped with its reason when ../shared/tools/moto is absent). */
export function onBothBackends(t: Test, work: string, scenarios: (t: Test, setup: Setup) => Promise<void>): void {
  t.test('on our own mock', async (t) => {
    const mock = await startFullAwsMock({ hostedZone: 'example.com' });
    t.teardown(() => mock.close());
    await scenarios(t, { backend: { name: 'mock', ...mock }, ami: 'ami: ami-0123456789abcdef0' });
  });
  t.test('on moto', async (t) => {
    const moto = await startMoto();
    if (!moto) {
      t.plan(0, 'skipped: ../shared/tools/moto is absent (a user clone)');
      return;
    }
    t.teardown(() => moto.close());
    writeFileSync(join(work, 'zone.yaml'), `admin_cidr: 203.0.113.0/24\nhosted_zone: example.com\nbucket: hm-zone\nendpoint: ${moto.endpoint}\n`);
    const route53 = awsClients(await loadAwsSettings(join(work, 'zone.yaml')), moto.credentials);
    await route53.route53.send(new CreateHostedZoneCommand({ Name: 'example.com', CallerReference: 'scenarios' }));
    closeClients(route53);
    // moto's catalogue has no Debian: its Ubuntu 16.04 images, found by name pattern and owner as Debian's would be.
    await scenarios(t, { backend: moto, ami: "ami: { name: 'ubuntu/images/hvm-ssd/ubuntu-xenial-16.04-amd64-server-*', owner: '099720109477' }" });
  });
}

export type AwsRun = Awaited<ReturnType<Scenario['aws']>>;
export type Scenario = Awaited<ReturnType<typeof scenario>>;

/** A deployment in a directory of its own on the backend: its settings, its commands, what AWS holds. */
export async function scenario(t: Test, work: string, { backend, ami }: Setup) {
  const dir = mkdtempSync(join(work, `${backend.name}-`));
  const settingsFile = join(dir, 'aws.settings.yaml');
  const base = [
    `admin_cidr: 203.0.113.0/24`, 'hosted_zone: example.com', `bucket: hm-${backend.name}-images`, `endpoint: ${backend.endpoint}`,
    `ssh_public_key_file: ${join(work, 'id_ed25519.pub')}`, `ssh_private_key_file: ${join(work, 'id_ed25519')}`, 'poll_seconds: 0.05', 'host_key_wait_seconds: 1',
  ];
  /** Writes the settings: the base, the backend's image unless these lines name another, and these lines. */
  const write = (...more: string[]) => writeFileSync(settingsFile, [...base, ...(more.some((l) => l.startsWith('ami:')) ? [] : [ami]), ...more, ''].join('\n'));
  write();
  process.env.AWS_ACCESS_KEY_ID = backend.credentials.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = backend.credentials.secretAccessKey;
  const inventoryFile = join(dir, 'aws.yaml');

  /** One command in this process: exit, what it printed, the calls it made and how many wrote. */
  async function aws(action: 'plan' | 'apply' | 'destroy', more: { only?: string; replace?: string; emptyBucket?: boolean } = {}) {
    const from = backend.calls.length;
    const out = new PassThrough();
    let stdout = '';
    out.on('data', (d: Buffer) => void (stdout += d.toString()));
    const log: string[] = [];
    let error: unknown;
    try {
      await runAwsCommand({
        action, settingsFile, yes: true, emptyBucket: more.emptyBucket ?? false, inventoryFile, out, log: (l) => void log.push(l),
        vaultFile: join(dir, 'vault.yaml'), vaultPasswordFile: join(work, 'vault.password'), ...(more.only ? { only: more.only } : {}), ...(more.replace ? { replace: more.replace } : {}),
      });
    } catch (err) {
      error = err;
    }
    const calls = backend.calls.slice(from);
    return { error, stdout, log, calls: calls.length, writes: calls.filter(isMutating).map((c) => `${c.service} ${c.action}`) };
  }
  const failed = (t: Test, r: { error: unknown }) => {
    t.ok(r.error instanceof UserError, `one line, no stack: ${(r.error as Error)?.message}`);
    t.notMatch((r.error as Error)?.message ?? '', /\n/);
    return (r.error as Error)?.message ?? '';
  };
  const clients = awsClients(await loadAwsSettings(settingsFile), backend.credentials);
  t.teardown(() => closeClients(clients));
  /** The project's pending and running instances. */
  const instances = async () =>
    ((await clients.ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:Project', Values: ['harbor'] }, { Name: 'instance-state-name', Values: ['pending', 'running'] }] }))).Reservations ?? [])
      .flatMap((r) => r.Instances ?? []);
  return { dir, settingsFile, inventoryFile, write, aws, failed, clients, instances };
}

/** A resource's Name tag. */
export const tagged = (i: { Tags?: { Key?: string; Value?: string }[] }) => i.Tags?.find((x) => x.Key === 'Name')?.Value;
