import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { UserError } from '../../lib/errors.ts';
import { labDown, labExec, labStatus, labUp } from '../../lib/lab/index.ts';
import type { LabInfo } from '../../lib/lab/index.ts';
import { run } from '../../lib/lab/run.ts';
import { withLab } from '../helpers/lab.ts';

const NAME = 'tlab';
const SUBNET = '10.201';
const NAMESPACES = [`${NAME}-bastion`, `${NAME}-priv`, `${NAME}-registry-1`, `${NAME}-registry-2`];

/** A TCP connect from the controller itself: resolves with the error code, or 'connected'. */
function tcpConnect(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const sock = connect({ host, port, timeout: 5000 });
    sock.on('connect', () => (sock.destroy(), resolve('connected')));
    sock.on('timeout', () => (sock.destroy(), resolve('timeout')));
    sock.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

const ssh = (config: string, host: string, cmd: string) => run('ssh', ['-F', config, '-o', 'BatchMode=yes', host, cmd]);

async function namespaces(): Promise<string[]> {
  const r = await run('ip', ['-j', 'netns', 'list']);
  return ((r.stdout.trim() ? JSON.parse(r.stdout) : []) as Array<{ name: string }>).map((n) => n.name);
}

async function exec(info: LabInfo, host: string, cmd: string): Promise<string> {
  const r = await labExec(info, host, cmd);
  if (r.code !== 0) throw new Error(`${host}: ${cmd}: exit ${r.code}: ${r.stderr}`);
  return r.stdout.trim();
}

t.test('a name too long for interface names is refused with a clear error', async (t) => {
  await t.rejects(labUp({ name: 'averylonglabname' }), UserError);
  await t.rejects(labUp({ name: 'averylonglabname' }), { message: /"averylonglabname" is 16 characters; at most 11/ });
});

t.test('lab', async (t) => {
  const info = await withLab(t, { name: NAME, subnet: SUBNET, registries: 2 });
  const byName = new Map(info.hosts.map((h) => [h.name, h]));

  t.test('topology: namespaces, addresses, bridges, routes', async (t) => {
    t.same(
      info.hosts.map((h) => [h.name, h.group, h.address]),
      [
        ['bastion', 'bastion', '10.201.0.2'],
        ['registry-1', 'registry', '10.201.1.11'],
        ['registry-2', 'registry', '10.201.1.12'],
      ],
    );
    const present = await namespaces();
    for (const ns of NAMESPACES) t.ok(present.includes(ns), `namespace ${ns} exists`);
    t.match((await run('ip', ['-4', '-br', 'addr', 'show', 'dev', `${NAME}-pub`])).stdout, /10\.201\.0\.1\/24/, 'controller on the public bridge');
    t.match((await run('ip', ['-4', 'route', 'show', 'type', 'unreachable'])).stdout, /10\.201\.0\.0\/16/, 'lab range is unreachable by default');
    t.notMatch((await run('ip', ['-4', '-br', 'addr'])).stdout, /10\.201\.1\./, 'controller has no address on the private network');
    t.match(await exec(info, 'bastion', 'ip -4 -br addr'), /eth0\S* +\S+ +10\.201\.0\.2\/24[\s\S]*eth1\S* +\S+ +10\.201\.1\.1\/24/);
    t.match(await exec(info, 'registry-1', 'ip -4 -br addr'), /eth0\S* +\S+ +10\.201\.1\.11\/24/);
    t.notMatch(await exec(info, 'registry-1', 'ip route'), /default/, 'registry has no default route');
    t.match((await run('ip', ['-n', `${NAME}-priv`, '-br', 'link', 'show', 'master', 'br0'])).stdout, /bastion[\s\S]*r1[\s\S]*r2/);
  });

  t.test('isolation: the controller cannot reach registries, the bastion can', async (t) => {
    t.not(await tcpConnect('10.201.1.11', 22), 'connected', 'controller → registry-1:22 fails');
    t.equal(await tcpConnect('10.201.0.2', 22), 'connected', 'controller → bastion:22 works');
    t.match(await exec(info, 'bastion', 'exec 3<>/dev/tcp/10.201.1.11/22; head -1 <&3'), /^SSH-2\.0-OpenSSH/, 'bastion → registry-1:22');
    const back = await labExec(info, 'registry-1', 'exec 3<>/dev/tcp/10.201.0.1/22');
    t.not(back.code, 0, 'registry → controller fails');
  });

  t.test('OpenSSH logs in to every host with the generated config and pinned keys', async (t) => {
    for (const h of info.hosts) {
      const r = await ssh(info.sshConfig, h.name, 'hostname');
      t.equal(r.code, 0, `${h.name}: ${r.stderr}`);
      t.equal(r.stdout.trim(), h.name);
    }
    const status = await labStatus({ name: NAME });
    t.same(status?.hosts.map((h) => [h.name, h.running, /^SSH-2\.0-/.test(h.sshBanner ?? '')]), info.hosts.map((h) => [h.name, true, true]));
  });

  t.test('a wrong host key is refused, for the bastion and behind it', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'tlab-badkeys-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const lines = (await readFile(info.knownHostsFile, 'utf8')).split('\n');
    const keyOf = (addr: string) => lines.find((l) => l.startsWith(`${addr} `))!.split(' ').slice(1).join(' ');
    for (const victim of ['bastion', 'registry-1']) {
      const addr = byName.get(victim)!.address;
      const other = victim === 'bastion' ? byName.get('registry-2')!.address : byName.get('bastion')!.address;
      const knownHosts = join(dir, `${victim}.known_hosts`);
      await writeFile(knownHosts, lines.map((l) => (l.startsWith(`${addr} `) ? `${addr} ${keyOf(other)}` : l)).join('\n'));
      const config = join(dir, `${victim}.ssh_config`);
      await writeFile(config, (await readFile(info.sshConfig, 'utf8')).replaceAll(info.knownHostsFile, knownHosts));
      const r = await ssh(config, victim, 'true');
      t.not(r.code, 0, `${victim} with a wrong key is refused`);
      t.match(r.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
    }
  });

  t.test('real ansible-playbook runs against the inventory', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'tlab-ansible-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const playbook = join(dir, 'hostname.yml');
    await writeFile(playbook, '- hosts: all\n  gather_facts: false\n  tasks:\n    - command: hostname\n');
    const r = await run('ansible-playbook', ['-i', info.inventoryFile, playbook], {
      env: { ...process.env, ANSIBLE_PYTHON_INTERPRETER: '/usr/bin/python3', ANSIBLE_LOCAL_TEMP: dir },
    });
    t.equal(r.code, 0, r.stdout + r.stderr);
    for (const h of info.hosts) t.match(r.stdout, new RegExp(`${h.name} +: ok=1 +changed=1 +unreachable=0 +failed=0`));
  });

  t.test('filesystem: each host sees only its own writes; /root and the lab state stay hidden', async (t) => {
    const marker = `/srv/tlab-marker-${process.pid}`;
    await exec(info, 'registry-1', `echo from-registry-1 > ${marker}`);
    t.equal(await readFile(join(byName.get('registry-1')!.upperDir, marker), 'utf8'), 'from-registry-1\n', 'lands in its upper dir');
    t.equal(await exec(info, 'registry-1', `cat ${marker}`), 'from-registry-1');
    for (const other of ['bastion', 'registry-2']) {
      t.equal((await labExec(info, other, `test -e ${marker}`)).code, 1, `not visible on ${other}`);
    }
    t.notOk(existsSync(marker), "not visible on the machine's /");

    await exec(info, 'bastion', 'echo x > /tmp/tlab-private-tmp');
    t.notOk(existsSync('/tmp/tlab-private-tmp'), 'host /tmp is private');

    const rootMarker = `.tlab-marker-${process.pid}`;
    await writeFile(join('/root', rootMarker), 'machine only');
    t.teardown(() => rm(join('/root', rootMarker), { force: true }));
    const home = (await exec(info, 'bastion', 'ls -A /root')).split('\n').sort();
    t.notOk(home.includes(rootMarker), "the machine's /root is hidden");
    t.same(home, (await readdir(join(byName.get('bastion')!.upperDir, 'root'))).sort(), "root's home holds only the host's own files");
    for (const f of await readdir('/etc/skel')) t.ok(home.includes(f), `${f} from /etc/skel`);
    t.equal((await labExec(info, 'bastion', `test -e ${info.keyFile}`)).code, 1, 'controller key not visible');
    t.equal(await exec(info, 'bastion', `ls -A ${join(info.stateDir, '..')} || true`), '', 'lab state dirs not visible');
  });

  t.test('each host: own hostname, PID namespace, sshd via init script, unprivileged low ports', async (t) => {
    for (const h of info.hosts) {
      t.equal(await exec(info, h.name, 'hostname'), h.name);
      t.equal(await exec(info, h.name, 'cat /proc/1/comm'), 'bash', 'PID 1 is the host init');
      t.notMatch(await exec(info, h.name, 'ps -eo comm'), /\bnode\b/, "the machine's processes are not visible");
      t.equal(await exec(info, h.name, 'cat /proc/sys/net/ipv4/ip_unprivileged_port_start'), '0');
      t.equal((await labExec(info, h.name, 'service ssh status')).code, 0, 'service works without systemd');
      t.equal(await exec(info, h.name, 'su -s /bin/sh nobody -c "cat /etc/hostname"'), h.name, 'other users can use the filesystem');
      t.equal(await exec(info, h.name, 'ls /etc/ssh | grep -c "^ssh_host_.*_key$"'), '1', "machine's host keys are gone");
    }
  });

  t.test('up again is idempotent; a host whose sshd died is rebuilt with the same key', async (t) => {
    const knownHosts = await readFile(info.knownHostsFile, 'utf8');
    const inventoryMtime = (await stat(info.inventoryFile)).mtimeMs;
    const pids = await run('ip', ['netns', 'pids', `${NAME}-registry-1`]);
    const again = await labUp({ name: NAME, subnet: SUBNET, registries: 2, inventoryFile: info.inventoryFile });
    t.same(again, info);
    t.equal(await readFile(info.knownHostsFile, 'utf8'), knownHosts, 'same host keys');
    t.equal((await stat(info.inventoryFile)).mtimeMs, inventoryMtime, 'inventory untouched');
    t.equal((await run('ip', ['netns', 'pids', `${NAME}-registry-1`])).stdout, pids.stdout, 'same processes');

    await exec(info, 'registry-2', 'pkill -x sshd');
    t.equal((await ssh(info.sshConfig, 'registry-2', 'true')).code, 255, 'registry-2 lost its sshd');
    await labUp({ name: NAME, inventoryFile: info.inventoryFile });
    t.equal(await readFile(info.knownHostsFile, 'utf8'), knownHosts, 'same host keys after the rebuild');
    t.equal((await ssh(info.sshConfig, 'registry-2', 'hostname')).stdout.trim(), 'registry-2');
  });

  t.test('down removes everything it made and nothing else', async (t) => {
    const pids = (
      await Promise.all(NAMESPACES.map(async (ns) => (await run('ip', ['netns', 'pids', ns])).stdout.split('\n')))
    ).flat().filter(Boolean);
    t.ok(pids.length >= 3 * 3, 'lab processes before down');
    await labDown({ name: NAME });
    const left = await namespaces();
    t.same(left.filter((ns) => ns.startsWith(`${NAME}-`)), [], 'no namespaces');
    t.equal((await run('ip', ['link', 'show', 'dev', `${NAME}-pub`])).code, 1, 'no public bridge');
    t.equal((await run('ip', ['link', 'show', 'dev', `${NAME}-bas`])).code, 1, 'no bastion veth');
    t.notMatch((await run('ip', ['-4', 'route', 'show', 'table', 'all'])).stdout, /10\.201\./, 'no routes');
    const alive = pids.filter((p) => existsSync(`/proc/${p}`));
    t.same(await Promise.all(alive.map((p) => readFile(`/proc/${p}/stat`, 'utf8'))), [], 'no processes');
    const mountinfos = await Promise.all(
      (await readdir('/proc')).filter((d) => /^\d+$/.test(d)).map((p) => readFile(`/proc/${p}/mountinfo`, 'utf8').catch(() => '')),
    );
    t.notOk(mountinfos.some((m) => m.includes(`${info.stateDir}/`) || m.includes(`/run/netns/${NAME}-`)), 'no mounts in any process');
    t.notOk(existsSync(info.stateDir), 'no state dir');
    t.notOk(existsSync(info.inventoryFile) || existsSync(info.knownHostsFile), 'no inventory files');
    await t.resolves(labDown({ name: NAME }), 'down again is a no-op');
    t.equal(await labStatus({ name: NAME }), null);
  });
});
