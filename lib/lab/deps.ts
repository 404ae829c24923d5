import { existsSync, readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../errors.ts';
import { run } from './run.ts';

/** Commands the lab runs, and the Debian package that provides each. */
const NEEDED: Array<[command: string, pkg: string]> = [
  ['ip', 'iproute2'],
  ['sshd', 'openssh-server'],
  ['ssh', 'openssh-client'],
  ['ssh-keygen', 'openssh-client'],
  ['setfattr', 'attr'],
  ['unshare', 'util-linux'],
  ['nsenter', 'util-linux'],
  ['service', 'init-system-helpers'],
  ['timeout', 'coreutils'],
];

const SEARCH = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin'];

function missingPackages(wanted: Array<[command: string, pkg: string]>): string[] {
  const missing = wanted.filter(([cmd]) => !SEARCH.some((dir) => dir && existsSync(join(dir, cmd))));
  return [...new Set(missing.map(([, pkg]) => pkg))];
}

export function assertRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new UserError('the lab needs root (it creates network namespaces and mounts): run it with sudo');
  }
}

function isDebianLike(): boolean {
  const osRelease = existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '';
  return /^(ID|ID_LIKE)=.*\b(debian|ubuntu)\b/m.test(osRelease) && existsSync('/usr/bin/apt-get');
}

/**
 * Installs missing packages with apt-get on Debian/Ubuntu. A temporary policy-rc.d keeps the
 * packages from starting their daemons (sshd) on the machine itself: they only run in hosts.
 */
export async function ensurePackages(onProgress: (msg: string) => void, extra: Array<[command: string, pkg: string]> = []): Promise<void> {
  const missing = missingPackages([...NEEDED, ...extra]);
  if (missing.length === 0) return;
  if (!isDebianLike()) throw new UserError(`missing packages: ${missing.join(' ')}; install them and run again`);
  onProgress(`installing ${missing.join(' ')} with apt-get`);
  const policy = '/usr/sbin/policy-rc.d';
  const ownPolicy = !existsSync(policy);
  if (ownPolicy) await writeFile(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    await run('apt-get', ['update', '-qq'], { env });
    const r = await run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env });
    if (r.code !== 0) throw new UserError(`apt-get install ${missing.join(' ')} failed: ${r.stderr.trim().split('\n').pop()}`);
  } finally {
    if (ownPolicy) await rm(policy, { force: true });
  }
}
