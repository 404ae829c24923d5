// The engine when things go wrong on real lab hosts: an unreachable host, host keys that are
// unknown or changed, and connections killed in the middle of an upload.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadInventory } from '../../lib/inventory/index.ts';
import type { Inventory } from '../../lib/inventory/types.ts';
import { labExec, type LabInfo } from '../../lib/lab/index.ts';
import type { Role } from '../../lib/run/types.ts';
import { command, copy, directory } from '../../lib/steps/index.ts';
import { fingerprint } from '../../lib/transport/knownhosts.ts';
import { withLab } from '../helpers/lab.ts';
import { expectSuccess, runCollect } from '../fixtures/engine/run.ts';

async function exec(info: LabInfo, host: string, cmd: string): Promise<string> {
  const r = await labExec(info, host, cmd);
  if (r.code !== 0) throw new Error(`${host}: ${cmd}: exit ${r.code}: ${r.stderr}`);
  return r.stdout.trim();
}

/** A small role touching every host, to see who was reached. */
const touch: Role = {
  name: 'touch',
  hosts: 'all',
  steps: ({ host }) => [directory({ path: '/opt/touched', mode: '0755' }), copy({ dest: '/opt/touched/by', content: `${host.name}\n` })],
};

/** The host's real public host key blob, read from its upper dir (as the lab pinned it). */
async function hostKey(info: LabInfo, host: string): Promise<Buffer> {
  const upper = info.hosts.find((h) => h.name === host)!.upperDir;
  const line = await readFile(join(upper, 'etc/ssh/ssh_host_ed25519_key.pub'), 'utf8');
  return Buffer.from(line.split(' ')[1]!, 'base64');
}

t.test('engine faults on the lab', async (t) => {
  const info = await withLab(t, { name: 'elab2', subnet: '10.204', registries: 1 });
  const inv = await loadInventory(info.inventoryFile);
  const work = await mkdtemp(join(tmpdir(), 'hm-faults-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const upper = (host: string, path: string) => join(info.hosts.find((h) => h.name === host)!.upperDir, path);
  const pinned = await readFile(info.knownHostsFile, 'utf8');
  const registryAddress = info.hosts.find((h) => h.name === 'registry-1')!.address;
  const bastionAddress = info.hosts.find((h) => h.name === 'bastion')!.address;

  /** A known_hosts file with the given lines removed (by address) and others added. */
  async function knownHosts(name: string, drop: string[], add: string[] = []): Promise<string> {
    const file = join(work, name);
    const kept = pinned.split('\n').filter((l) => l && !drop.some((a) => l.split(' ')[0]!.split(',').includes(a)));
    await writeFile(file, [...kept, ...add, ''].join('\n'), { mode: 0o600 });
    return file;
  }

  await t.test('an unreachable host is reported while the others converge', async (t) => {
    const reg = inv.hosts.get('registry-1')!;
    const ghost = { name: 'ghost', vars: { ...reg.vars, ansible_port: 2222 }, groups: reg.groups };
    const withGhost: Inventory = { ...inv, hosts: new Map([...inv.hosts, ['ghost', ghost]]) };
    const run = await runCollect(withGhost, [touch]);
    t.equal(run.result.exitCode, 4, 'exit status 4: a host was unreachable');
    t.match(run.result.hosts.ghost, { unreachable: 1, ok: 0, failed: 0 });
    const event = run.events.find((e) => e.type === 'unreachable');
    t.match(event, { host: 'ghost', error: /^ghost: .*:2222 cannot be reached through bastion/ });
    for (const host of ['bastion', 'registry-1']) {
      t.match(run.result.hosts[host], { unreachable: 0, failed: 0, changed: 2 }, `${host} converged`);
      t.equal(await readFile(upper(host, 'opt/touched/by'), 'utf8'), `${host}\n`);
    }
  });

  await t.test('a changed host key is refused, naming both fingerprints; other hosts go on', async (t) => {
    const fake = join(work, 'fake_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', fake]);
    const fakeLine = (await readFile(`${fake}.pub`, 'utf8')).split(' ').slice(0, 2).join(' ');
    const file = await knownHosts('changed', [registryAddress], [`${registryAddress} ${fakeLine}`]);
    const run = await runCollect(inv, [touch], { knownHostsFile: file });
    t.equal(run.result.exitCode, 4);
    t.match(run.result.hosts.bastion, { unreachable: 0, failed: 0 });
    const event = run.events.find((e) => e.type === 'unreachable' && e.host === 'registry-1');
    const real = fingerprint(await hostKey(info, 'registry-1'));
    const pinnedFake = fingerprint(Buffer.from(fakeLine.split(' ')[1]!, 'base64'));
    t.match(event, { error: /host key for .* has CHANGED/ });
    t.ok(event?.type === 'unreachable' && event.error.includes(real) && event.error.includes(pinnedFake), 'both fingerprints are named');
    t.equal(await readFile(file, 'utf8'), [...pinned.split('\n').filter((l) => l && !l.startsWith(registryAddress)), `${registryAddress} ${fakeLine}`, ''].join('\n'), 'known_hosts untouched');
  });

  await t.test('an unknown host key: strict refuses it, accept-new records it, off only warns', async (t) => {
    const strict = await knownHosts('strict', [bastionAddress]);
    const refused = await runCollect(inv, [touch], { knownHostsFile: strict });
    t.equal(refused.result.exitCode, 4);
    const real = fingerprint(await hostKey(info, 'bastion'));
    t.match(refused.events.find((e) => e.type === 'unreachable' && e.host === 'bastion'), { error: new RegExp(`unknown \\(offered ${real.replace(/[+/]/g, '\\$&')}`) });
    t.equal(refused.result.hosts['registry-1']!.unreachable, 1, 'the registry is behind it');

    const file = await knownHosts('accept', [bastionAddress]);
    const accepted = await runCollect(inv, [touch], { knownHostsFile: file, hostKeyChecking: 'accept-new' });
    expectSuccess(t, accepted);
    t.match(accepted.events.filter((e) => e.type === 'warning'), [{ message: new RegExp(`recorded new host key ${real.replace(/[+/]/g, '\\$&')}`) }]);
    const recorded = (await readFile(file, 'utf8')).split('\n').filter((l) => l.startsWith(`${bastionAddress} `));
    t.strictSame(recorded, [`${bastionAddress} ssh-ed25519 ${(await hostKey(info, 'bastion')).toString('base64')}`]);
    const again = await runCollect(inv, [touch], { knownHostsFile: file });
    expectSuccess(t, again);
    t.equal(again.events.some((e) => e.type === 'warning'), false, 'strict now knows it');

    const off = await runCollect(inv, [touch], { knownHostsFile: strict, hostKeyChecking: 'off' });
    expectSuccess(t, off);
    t.match(off.events.filter((e) => e.type === 'warning'), [{ message: /host key checking is OFF/ }]);
  });

  await t.test('sessions killed while the connection is idle: the run notices at once and converges', { timeout: 60_000 }, async (t) => {
    // The registry's side goes away quietly (a FIN, nothing in flight): the bastion only relays
    // an EOF and keeps the channel open, so a client waiting for a close would wait forever.
    const role: Role = {
      name: 'slow',
      hosts: 'registry-1',
      steps: () => [
        command({
          cmd: 'if [ -e /opt/once ]; then touch /opt/done; else touch /opt/once; sleep 300; fi',
          creates: '/opt/done',
        }),
      ],
    };
    const killWhenSleeping = async () => {
      while (!existsSync(upper('registry-1', 'opt/once'))) await new Promise((r) => setTimeout(r, 20));
      await exec(info, 'registry-1', "pkill -KILL -f '^sshd: root'");
    };
    const [run] = await Promise.all([runCollect(inv, [role]), killWhenSleeping()]);
    expectSuccess(t, run);
    t.match(run.result.connections.get('registry-1'), { logins: 2 }, 'reopened once');
    t.ok(existsSync(upper('registry-1', 'opt/done')), 'the command ran again on the new connection');
  });

  await t.test('a connection killed in the middle of an upload', async (t) => {
    const size = 256 * 1024 * 1024;
    const local = join(work, 'payload.bin');
    const content = Buffer.alloc(size);
    for (let i = 0; i < size; i += 4096) content.writeUInt32BE(i, i);
    await writeFile(local, content);
    const sum = createHash('sha256').update(content).digest('hex');
    const role: Role = {
      name: 'upload',
      hosts: 'registry-1',
      steps: () => [directory({ path: '/opt/big', mode: '0755' }), copy({ dest: '/opt/big/payload.bin', src: local, mode: '0644' })],
    };
    const staging = upper('registry-1', 'opt/big/.payload.bin.hm-upload');
    const target = upper('registry-1', 'opt/big/payload.bin');

    /** Waits until the upload is well under way, then runs `cmd` on the registry. */
    async function midUpload(cmd: string): Promise<void> {
      for (let i = 0; i < 3000; i++) {
        const s = await stat(staging).catch(() => null);
        if (s && s.size > 16 * 1024 * 1024 && s.size < size) {
          await exec(info, 'registry-1', cmd);
          return;
        }
        await new Promise((r) => setTimeout(r, 5));
      }
      throw new Error('the upload was never seen under way');
    }

    await t.test('sessions killed: the run reopens the connection once and converges', { timeout: 120_000 }, async (t) => {
      const [run] = await Promise.all([runCollect(inv, [role]), midUpload("pkill -KILL -f '^sshd: root'")]);
      expectSuccess(t, run);
      t.match(run.result.connections.get('registry-1'), { logins: 2 }, 'reopened once');
      t.equal(run.result.connections.get('bastion')?.logins, 1, 'the bastion connection was not affected');
      t.equal(createHash('sha256').update(await readFile(target)).digest('hex'), sum);
      t.strictSame(await readdir(upper('registry-1', 'opt/big')), ['payload.bin'], 'no partial file left');
      t.equal((await runCollect(inv, [role])).result.hosts['registry-1']!.changed, 0, 'a rerun has nothing to do');
    });

    await t.test('sshd gone: the host is unreachable, the target never half-written; a rerun converges', { timeout: 120_000 }, async (t) => {
      await exec(info, 'registry-1', 'rm -f /opt/big/payload.bin');
      const [run] = await Promise.all([
        runCollect(inv, [role]),
        // The listener first (and gone), then every session: nothing may accept the reconnection.
        midUpload("service ssh stop >/dev/null; while pgrep -f '^sshd: /usr/sbin/sshd' >/dev/null; do sleep 0.05; done; pkill -KILL -f '^sshd:'; true"),
      ]);
      t.equal(run.result.exitCode, 4);
      t.match(run.result.hosts['registry-1'], { unreachable: 1 });
      t.equal(existsSync(target), false, 'the target was not written');
      await exec(info, 'registry-1', 'service ssh start >/dev/null');
      const rerun = await runCollect(inv, [role]);
      expectSuccess(t, rerun);
      t.equal(createHash('sha256').update(await readFile(target)).digest('hex'), sum);
      t.strictSame(await readdir(upper('registry-1', 'opt/big')), ['payload.bin'], 'the partial upload was replaced and renamed');
    });
  });
});
