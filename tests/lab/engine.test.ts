// The engine on real lab hosts: the demo role (every step kind) converges on the bastion and a
// registry behind it, reruns change nothing, check mode changes nothing, handlers run once,
// secrets stay hidden, and become via sudo works for a non-root user.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { loadInventory } from '../../lib/inventory/index.ts';
import { sshTargetOf } from '../../lib/inventory/target.ts';
import type { Inventory } from '../../lib/inventory/types.ts';
import { labExec, type LabInfo } from '../../lib/lab/index.ts';
import { Secret } from '../../lib/secret.ts';
import { copy, template } from '../../lib/steps/index.ts';
import type { Role } from '../../lib/run/types.ts';
import { ConnectionPool } from '../../lib/transport/pool.ts';
import demo from '../../roles/demo/index.ts';
import { withLab } from '../helpers/lab.ts';
import { expectSuccess, runCollect, withDefaults } from '../fixtures/engine/run.ts';

const ALL_KINDS = ['file', 'copy', 'template', 'line', 'pkg', 'service', 'command', 'download', 'unarchive'];

async function exec(info: LabInfo, host: string, cmd: string): Promise<string> {
  const r = await labExec(info, host, cmd);
  if (r.code !== 0) throw new Error(`${host}: ${cmd}: exit ${r.code}: ${r.stderr}`);
  return r.stdout.trim();
}

t.test('engine on the lab', async (t) => {
  const info = await withLab(t, { name: 'elab', subnet: '10.203', registries: 1 });
  const inv = await loadInventory(info.inventoryFile);
  const upper = (host: string, path: string) => join(info.hosts.find((h) => h.name === host)!.upperDir, path);
  const names = info.hosts.map((h) => h.name);

  await t.test('the demo role converges on the bastion and, through it, on the registry', async (t) => {
    const { result, steps, printed } = await runCollect(inv, [demo]);
    expectSuccess(t, { result, printed });
    for (const host of names) {
      t.match(result.hosts[host], { failed: 0, unreachable: 0 }, host);
      t.ok(result.hosts[host]!.changed > 0, `${host} changed`);
      const kinds = new Set(steps.filter((s) => s.host === host).map((s) => s.kind));
      t.strictSame([...kinds].sort(), [...ALL_KINDS].sort(), `${host}: every step kind ran`);
      const handlerRuns = steps.filter((s) => s.host === host && s.handler);
      t.strictSame(handlerRuns.map((s) => [s.step, s.status]), [['restart demo', 'changed']], `${host}: the handler ran once though two steps notified it`);
      const conf = await readFile(upper(host, 'opt/demo/conf/demo.conf'), 'utf8');
      t.match(conf, new RegExp(`# ${host}: debian 12 on x86_64, apt, sysv\\nPORT=8099\\n`), 'template with vars and facts');
      t.equal(await readFile(upper(host, 'opt/demo/www/archive.html'), 'utf8'), '<h1>archive</h1>\n', 'unarchived');
      t.equal(
        await readFile(upper(host, 'opt/demo/downloaded.html'), 'utf8'),
        await readFile(upper(host, 'opt/demo/www/index.html'), 'utf8'),
        'downloaded from the demo service',
      );
      t.equal(await readFile(upper(host, 'etc/demo-roots'), 'utf8'), '/opt/demo\n');
      t.equal(await readFile(upper(host, 'opt/demo/conf/settings.ini'), 'utf8'), '[demo]\nmode=production\n');
      t.equal((await stat(upper(host, 'opt/demo/conf'))).mode & 0o777, 0o750);
      await exec(info, host, 'service demo status');
    }
    const registry = result.connections.get('registry-1')!;
    const bastion = result.connections.get('bastion')!;
    t.match(registry, { via: 'bastion', logins: 1 }, 'the registry is reached via the bastion');
    t.match(bastion, { logins: 1, forwards: 1 }, 'over the one bastion connection');
  });

  await t.test('the registry session really comes from the bastion, over one controller connection', async (t) => {
    const pool = new ConnectionPool();
    t.teardown(() => pool.close());
    const reg = pool.get(sshTargetOf(inv, inv.hosts.get('registry-1')!));
    const peer = (await reg.exec('echo $SSH_CLIENT')).stdout.split(' ')[0]!;
    const bastionAddrs = await exec(info, 'bastion', "ip -4 -o addr show | awk '{print $4}' | cut -d/ -f1");
    t.ok(bastionAddrs.split('\n').includes(peer), `registry sees ${peer}, an address of the bastion`);
    const sessions = await exec(info, 'bastion', "ss -tnH state established '( sport = :22 )' | wc -l");
    t.equal(Number(sessions), 1, 'the bastion holds one SSH connection from the controller');
  });

  await t.test('transport: scripts too long for argv (with and without stdin), timeouts, stdin never in argv', async (t) => {
    const pool = new ConnectionPool({ commandTimeoutMs: 20_000 });
    t.teardown(() => pool.close());
    const reg = pool.get(sshTargetOf(inv, inv.hosts.get('registry-1')!));
    const long = `${'n=$((n+1))\n'.repeat(20_000)}echo "n=$n"`;
    t.ok(long.length > 128 * 1024, 'longer than one argv string may be');
    t.strictSame(await reg.exec(long), { code: 0, stdout: 'n=20000\n', stderr: '' });
    const withInput = await reg.exec(`${long}\nread -r line; echo "got $line"`, { stdin: 'from stdin\n' });
    t.equal(withInput.stdout, 'n=20000\ngot from stdin\n');
    t.equal(await exec(info, 'registry-1', 'ls /tmp | grep -c "^tmp" || true'), '0', 'its temp file is gone');
    const seen = await reg.exec('ps -eo args | grep -c "[h]m-argv-probe" || true; cat >/dev/null', { stdin: 'hm-argv-probe secret-ish input' });
    t.equal(seen.stdout.trim(), '0', 'stdin content is not in any process argv');
    await t.rejects(reg.exec('sleep 30', { timeoutMs: 500 }), { name: 'CommandTimeoutError', message: /registry-1: command timed out after 0\.5s/ });
    t.equal((await reg.exec('echo still usable')).stdout, 'still usable\n', 'the connection survives a timeout');
  });

  await t.test('a second run changes nothing, in two round trips per host', async (t) => {
    const { result, printed } = await runCollect(inv, [demo]);
    expectSuccess(t, { result, printed });
    for (const host of names) {
      t.match(result.hosts[host], { changed: 0, failed: 0, unreachable: 0 }, host);
      t.strictSame(result.hosts[host]!.roundTrips, { exec: 2, sftp: 0 }, `${host}: facts + one probe batch`);
    }
  });

  await t.test('bin/harbormaster.mjs runs the same role compiled: nothing to do, the same two round trips', async (t) => {
    const r = spawnSync('env', ['-u', 'NODE_OPTIONS', process.execPath, 'bin/harbormaster.mjs', 'role', '-i', info.inventoryFile, '--json', 'demo'], { encoding: 'utf8' });
    t.equal(r.status, 0, r.stderr);
    const recap = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((e) => e.type === 'recap');
    for (const host of names) {
      t.match(recap?.hosts[host], { changed: 0, failed: 0, unreachable: 0, roundTrips: { exec: 2, sftp: 0 } }, host);
    }
  });

  await t.test('--check on a changed template reports the change and its diff, and changes nothing', async (t) => {
    const file = upper('registry-1', 'opt/demo/conf/demo.conf');
    const before = { text: await readFile(file, 'utf8'), mtime: (await stat(file)).mtimeMs };
    const changed = withDefaults(demo, { demo_port: 8100 });
    const { result, steps, printed } = await runCollect(inv, [changed], { check: true, diff: true, limit: 'registry-1' });
    expectSuccess(t, { result, printed });
    const tpl = steps.find((s) => s.kind === 'template')!;
    t.match(tpl, { status: 'changed', summary: 'update content' });
    t.match(tpl.diff, /^-PORT=8099$/m);
    t.match(tpl.diff, /^\+PORT=8100$/m);
    t.match(steps.find((s) => s.handler), { step: 'restart demo', status: 'changed' }, 'the handler would run');
    t.equal(result.hosts['registry-1']!.changed, 2);
    t.equal(await readFile(file, 'utf8'), before.text, 'the file on the host is untouched');
    t.equal((await stat(file)).mtimeMs, before.mtime);
    const again = await runCollect(inv, [demo], { limit: 'registry-1' });
    t.equal(again.result.hosts['registry-1']!.changed, 0, 'and a real run still has nothing to do');
  });

  await t.test('tags, skip-tags and start-at choose the steps; --start-at with no match is an error', async (t) => {
    const tagged = await runCollect(inv, [demo], { tags: ['config'], limit: 'bastion' });
    t.strictSame([...new Set(tagged.steps.map((s) => s.kind))].sort(), ['line', 'template']);
    const skipped = await runCollect(inv, [demo], { skipTags: ['config', 'packages'], limit: 'bastion' });
    t.notOk(skipped.steps.some((s) => ['template', 'line', 'pkg'].includes(s.kind)));
    const from = await runCollect(inv, [demo], { startAt: 'download *', limit: 'bastion' });
    t.strictSame(from.steps.map((s) => s.kind), ['download', 'command', 'command']);
    await t.rejects(runCollect(inv, [demo], { startAt: 'no such step', limit: 'bastion' }), /no step of the selected roles has that name/);
  });

  await t.test('the role.mts command: --list-steps, check mode text output, mistakes in one line', async (t) => {
    const role = (...args: string[]) => spawnSync('node', ['--import=tsx', 'scripts/role.mts', '-i', info.inventoryFile, ...args], { encoding: 'utf8' });
    const list = role('demo', '--list-steps', '--tags', 'config');
    t.equal(list.status, 0, list.stderr);
    t.match(list.stdout, /^role demo \[bastion, registry-1\]\n +1\. template \/opt\/demo\/conf\/demo\.conf +\[config\] +-> restart demo\n/);
    t.match(list.stdout, /handlers: restart demo/);
    t.notMatch(list.stdout, /pkg openssh-client/, 'tags apply to the listing');
    const check = role('demo', '--check', '--limit', 'bastion');
    t.equal(check.status, 0, check.stderr);
    t.match(check.stdout, /check mode: nothing will be changed/);
    t.match(check.stdout, /  ok       bastion   template \/opt\/demo\/conf\/demo\.conf\n/);
    t.match(check.stdout, /RECAP \(check mode\)\nhost +ok +changed +unreachable +failed +skipped +round trips\nbastion +17 +0 +0 +0 +0 +2 exec\n/);
    const typo = role('demo', '--limit', 'nosuchhost');
    t.equal(typo.status, 1);
    t.match(typo.stderr, /^role: host pattern 'nosuchhost'.* no host.*\n$/);
    const unknown = role('nosuchrole');
    t.equal(unknown.status, 1);
    t.match(unknown.stderr, /^role: role nosuchrole: .* not found\n$/);
  });

  await t.test('secrets: a template holding one is written, its diff hidden, and nothing prints it', async (t) => {
    const secretInv: Inventory = { ...inv, hosts: new Map(inv.hosts) };
    const host = inv.hosts.get('bastion')!;
    secretInv.hosts.set('bastion', { ...host, vars: { ...host.vars, db_password: new Secret('s3cret-lab-password') } });
    const role: Role = {
      name: 'secret',
      hosts: 'bastion',
      templateDir: fileURLToPath(new URL('../fixtures/engine/templates/secret', import.meta.url)),
      steps: () => [
        template({ src: 'secret.conf.njk', dest: '/opt/demo/conf/secret.conf', mode: '0600', vars: {} }),
        copy({ dest: '/opt/demo/conf/token', content: new Secret('another-s3cret-token'), mode: '0600' }),
      ],
    };
    const first = await runCollect(secretInv, [role], { diff: true });
    expectSuccess(t, first);
    t.match(first.steps.map((s) => s.diff), [/content hidden: sensitive/, /content hidden: sensitive/]);
    t.notMatch(first.printed, /s3cret/);
    t.equal(await readFile(upper('bastion', 'opt/demo/conf/secret.conf'), 'utf8'), 'password = s3cret-lab-password\n');
    t.equal(await readFile(upper('bastion', 'opt/demo/conf/token'), 'utf8'), 'another-s3cret-token');
    t.equal((await stat(upper('bastion', 'opt/demo/conf/token'))).mode & 0o777, 0o600);
    t.equal((await runCollect(secretInv, [role], { diff: true })).result.hosts.bastion!.changed, 0);
  });

  await t.test('become: a non-root user works through sudo -n, small and large files included', async (t) => {
    await exec(
      info,
      'registry-1',
      [
        'id deploy >/dev/null 2>&1 || useradd -m -s /bin/sh deploy',
        'install -d -m 700 -o deploy -g deploy /home/deploy/.ssh',
        'install -m 600 -o deploy -g deploy /root/.ssh/authorized_keys /home/deploy/.ssh/authorized_keys',
        "echo 'deploy ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/deploy && chmod 440 /etc/sudoers.d/deploy",
      ].join(' && '),
    );
    const reg = inv.hosts.get('registry-1')!;
    const becomeInv: Inventory = { ...inv, hosts: new Map([...inv.hosts, ['registry-1', { ...reg, vars: { ...reg.vars, ansible_user: 'deploy' } }]]) };
    t.equal(sshTargetOf(becomeInv, becomeInv.hosts.get('registry-1')!).become, true);
    const big = Buffer.alloc(3 * 1024 * 1024, 'x');
    const dir = await mkdtemp(join(tmpdir(), 'hm-become-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const bigFile = join(dir, 'big.bin');
    await writeFile(bigFile, big);
    const role: Role = {
      name: 'become',
      hosts: 'registry-1',
      steps: () => [
        copy({ dest: '/root/become-small', content: 'as root\n', mode: '0600' }),
        copy({ dest: '/root/become-big', src: bigFile, mode: '0640' }),
      ],
    };
    const run = await runCollect(becomeInv, [role]);
    expectSuccess(t, run);
    t.equal(run.result.hosts['registry-1']!.roundTrips.sftp > 0, true, 'the large file went by SFTP');
    t.equal(await exec(info, 'registry-1', 'stat -c "%U %a" /root/become-small /root/become-big'), 'root 600\nroot 640');
    const sum = createHash('sha256').update(big).digest('hex');
    t.equal((await exec(info, 'registry-1', 'sha256sum /root/become-big')).slice(0, 64), sum);
    t.equal(await exec(info, 'registry-1', 'ls -a /tmp | grep -c "^.hm-upload" || true'), '0', 'no upload left in /tmp');
    t.equal((await runCollect(becomeInv, [role])).result.hosts['registry-1']!.changed, 0);
  });
});
