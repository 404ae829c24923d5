import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { UserError } from '../errors.ts';
import { SHARED_STORAGE_MOUNT, type PlannedHost } from './plan.ts';
import { livePid, netnsPath } from './procs.ts';
import { run } from './run.ts';
import type { ExecResult } from './types.ts';

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * A host's init, run by bash as PID 1 of a fresh PID namespace inside the host's network
 * namespace and a new mount/UTS/IPC namespace. It assembles the host's root (overlay of the
 * whole machine, fresh /proc and /sys, the machine's /dev, private tmpfs /run /tmp /dev/shm) and
 * chroots into it; a registry host of a lab with several also gets the lab's shared storage
 * directory bind-mounted (HM_SHARED at HM_SHARED_AT). There it drops the machine's other SSH
 * host keys, checks sshd's config (the init script reports success even when sshd refuses to
 * start), starts sshd through its init script (no systemd: /run/systemd/system does not exist
 * inside), and only then writes its
 * PID as the controller sees it (read while the machine's /proc was still mounted) to the pid
 * file held open on fd 3. It stays as PID 1, reaping orphaned daemons. Mount propagation is
 * `slave` rather than private so that when a lab deletes a namespace, the nsfs mount under
 * /run/netns goes away in every host's copy too and does not pin that namespace.
 */
const BOOT = `set -euo pipefail
read -r pid _ < /proc/self/stat
R=$HM_ROOT
mount -t overlay overlay -o "lowerdir=/,upperdir=$HM_UPPER,workdir=$HM_WORK" "$R"
mount -t proc proc "$R/proc"
if [ -n "$HM_SHARED" ]; then mkdir -p "$R$HM_SHARED_AT" && mount --bind "$HM_SHARED" "$R$HM_SHARED_AT"; fi
mount -t sysfs sysfs "$R/sys"
mount --rbind /dev "$R/dev"
mount -t tmpfs -o mode=755 tmpfs "$R/run"
mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"
mount -t tmpfs -o mode=1777 tmpfs "$R/dev/shm"
mkdir -m 1777 "$R/run/lock"
hostname "$HM_HOST"
echo 0 > /proc/sys/net/ipv4/ip_unprivileged_port_start
exec 3> "$HM_PIDFILE"
exec chroot "$R" /bin/bash -c '
  set -e
  find /etc/ssh -maxdepth 1 -name "ssh_host_*" ! -name "ssh_host_ed25519_key*" -delete
  mkdir -p -m 755 /run/sshd
  /usr/sbin/sshd -t
  service ssh start 3>&-
  echo "$0" >&3
  exec 3>&-
  while :; do sleep infinity & wait $! || true; done' "$pid"
`;

/** The last lines of a host's boot log, for error messages. */
async function bootLogTail(host: PlannedHost): Promise<string> {
  const text = await readFile(host.logFile, 'utf8').catch(() => '');
  return text.trim().split('\n').slice(-5).join(' | ') || '(empty boot log)';
}

/** Boots a host whose network namespace and upper dir are ready; resolves with its init's PID. */
export async function bootHost(host: PlannedHost, timeoutMs = 30_000): Promise<number> {
  await rm(host.pidFile, { force: true });
  const log = openSync(host.logFile, 'w', 0o600);
  const child = spawn(
    'nsenter',
    [`--net=${netnsPath(host.ns)}`, 'unshare', '--mount', '--propagation', 'slave', '--pid', '--fork', '--uts', '--ipc', '--kill-child', 'bash', '-c', BOOT],
    {
      detached: true,
      stdio: ['ignore', log, log],
      env: { PATH, LANG: 'C.UTF-8', HM_ROOT: host.rootDir, HM_UPPER: host.upperDir, HM_WORK: host.workDir, HM_HOST: host.name, HM_PIDFILE: host.pidFile,
        HM_SHARED: host.sharedDir ?? '', HM_SHARED_AT: SHARED_STORAGE_MOUNT },
    },
  );
  closeSync(log);
  let exited = false;
  child.on('exit', () => (exited = true));
  child.unref();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pid = await livePid(host.pidFile, host.ns);
    if (pid) return pid;
    if (exited || Date.now() > deadline) {
      throw new UserError(`${host.name}: boot failed${exited ? '' : ' (timed out)'}: ${await bootLogTail(host)}`);
    }
    await sleep(25);
  }
}

export async function silentSshdError(hosts: PlannedHost[]): Promise<UserError> {
  const each = await Promise.all(hosts.map(async (h) => `${h.name}: sshd does not answer on ${h.address}:22 (boot log: ${await bootLogTail(h)})`));
  return new UserError(each.join('; '));
}

/** Runs `bash -c cmd` inside a running host: all its namespaces and its root, with a clean root environment. */
export async function execInHost(host: PlannedHost, cmd: string): Promise<ExecResult> {
  const pid = await livePid(host.pidFile, host.ns);
  if (!pid) throw new Error(`lab host ${host.name} is not running`);
  return run('nsenter', ['-t', String(pid), '-m', '-u', '-i', '-n', '-p', '-r', '-w', '--', '/bin/bash', '-c', cmd], {
    env: { PATH, HOME: '/root', USER: 'root', LANG: 'C.UTF-8' },
  });
}

/** Whether a running host has the shared storage it is planned with (a host booted before the lab grew has not). */
export async function hasPlannedMounts(host: PlannedHost, pid: number): Promise<boolean> {
  if (!host.sharedDir) return true;
  const mounts = await readFile(`/proc/${pid}/mountinfo`, 'utf8').catch(() => '');
  return mounts.split('\n').some((l) => l.split(' ')[4] === SHARED_STORAGE_MOUNT);
}
