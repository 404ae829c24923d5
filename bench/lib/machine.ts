import os from 'node:os';
import { timed } from './proc.ts';

export interface Machine {
  date: string;
  cpu: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  node: string;
  ansible: string;
  python: string;
  openssh: string;
  gitSha: string;
  /** 1-minute load average when the run started and ended: other work on the machine skews results. */
  load: { start: number; end?: number };
}

const firstLine = (s: string) => s.trim().split('\n')[0] ?? '';

/** What the results depend on: hardware, kernel and the versions of both tools. */
export async function describeMachine(repo: string): Promise<Machine> {
  const [ansible, ssh, sha, dirty] = await Promise.all([
    timed('ansible', ['--version']),
    timed('ssh', ['-V']),
    timed('git', ['-C', repo, 'rev-parse', '--short=12', 'HEAD']),
    timed('git', ['-C', repo, 'status', '--porcelain', '--untracked-files=no']),
  ]);
  const python = /python version = (\S+)/.exec(ansible.stdout)?.[1] ?? '?';
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    cpu: os.cpus()[0]?.model ?? '?',
    cores: os.cpus().length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    ansible: `ansible-core ${/\[core ([^\]]+)\]/.exec(ansible.stdout)?.[1] ?? '?'}`,
    python,
    openssh: firstLine(ssh.stderr),
    gitSha: sha.stdout.trim() + (dirty.stdout.trim() ? ' (+ uncommitted changes)' : ''),
    load: { start: os.loadavg()[0]! },
  };
}
