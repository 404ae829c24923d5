import { existsSync } from 'node:fs';
import { chmod, chown, copyFile, lstat, mkdir, readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { LAB_ROOT } from './plan.ts';
import type { LabPlan, PlannedHost } from './plan.ts';
import { mustRun } from './run.ts';
import { writePublicFile } from '../fs.ts';

/**
 * Prepares a host's overlay upper dir from the controller before the host boots: what the host
 * must not see of the machine, its own SSH host key, and the controller's key for root.
 * Everything here is kept on later boots, so a restarted host keeps its identity.
 */

export const HOST_KEY = '/etc/ssh/ssh_host_ed25519_key';

const SSHD_DROP_IN = `# harbormaster lab: key-only root login with this host's own key
HostKey ${HOST_KEY}
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
`;

/** Creates `path` inside `upper`, each missing directory with the mode and owner of the machine's own. */
async function mkdirLike(upper: string, path: string): Promise<string> {
  let real = '/';
  for (const part of path.split(sep).filter(Boolean)) {
    real = join(real, part);
    const target = join(upper, real);
    if (existsSync(target)) continue;
    const like = await lstat(real).catch(() => null);
    await mkdir(target);
    await chmod(target, like ? like.mode & 0o7777 : 0o755);
    if (like) await chown(target, like.uid, like.gid);
  }
  return join(upper, path);
}

/** Directories hidden from the host: the machine's /root and the lab state (it holds the controller's private key). */
function maskedDirs(plan: LabPlan): string[] {
  const masks = ['/root'];
  if (existsSync(LAB_ROOT)) masks.push(LAB_ROOT);
  const covered = (dir: string) => masks.some((m) => !relative(m, dir).startsWith('..'));
  if (!covered(plan.stateDir)) masks.push(plan.stateDir);
  return masks;
}

/** An opaque directory in the upper layer hides everything below it in the lower layer (the machine). */
async function maskDirs(upper: string, dirs: string[]): Promise<void> {
  const made = await Promise.all(dirs.map((d) => mkdirLike(upper, d)));
  await mustRun('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', ...made]);
}

/** root's home from /etc/skel plus the controller's public key. */
async function prepareRootHome(upper: string, publicKey: string): Promise<void> {
  const home = join(upper, 'root');
  for (const entry of await readdir('/etc/skel')) {
    if (!existsSync(join(home, entry))) await copyFile(join('/etc/skel', entry), join(home, entry));
  }
  const ssh = join(home, '.ssh');
  await writePublicFile(join(ssh, 'authorized_keys'), publicKey, 0o600, 0o700);
}

export async function prepareUpper(plan: LabPlan, host: PlannedHost, publicKey: string): Promise<void> {
  for (const dir of [host.upperDir, host.workDir, host.rootDir]) await mkdir(dir, { recursive: true, mode: 0o700 });
  // The upper dir's own mode and owner become those of the host's "/": the machine's.
  const root = await lstat('/');
  await chmod(host.upperDir, root.mode & 0o7777);
  await chown(host.upperDir, root.uid, root.gid);
  await maskDirs(host.upperDir, maskedDirs(plan));
  await prepareRootHome(host.upperDir, publicKey);
  const etcSsh = await mkdirLike(host.upperDir, '/etc/ssh/sshd_config.d');
  await writePublicFile(join(etcSsh, 'harbormaster-lab.conf'), SSHD_DROP_IN);
  const key = join(host.upperDir, HOST_KEY);
  if (!existsSync(key)) await mustRun('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `root@${host.name}`, '-f', key]);
  await writePublicFile(join(host.upperDir, 'etc/hostname'), `${host.name}\n`);
  await writePublicFile(
    join(host.upperDir, 'etc/hosts'),
    `127.0.0.1\tlocalhost\n127.0.1.1\t${host.name}\n::1\tlocalhost ip6-localhost ip6-loopback\n`,
  );
}
