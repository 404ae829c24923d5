import { q } from '../transport/shell.ts';
import { common, StepError } from './base.ts';
import type { Step, StepEnv, StepOptions } from './types.ts';

export interface PkgOptions extends StepOptions {
  /** Package name(s), as the host's package manager knows them. */
  packages: string | string[];
  state?: 'present' | 'absent';
  /** apt: run `apt-get update` before installing (only when something must be installed). */
  updateCache?: boolean;
}

const APT = 'DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=300';
const APT_KEEP_CONFIGS = "-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold";

function manager(env: StepEnv): 'apt' | 'dnf' | 'yum' {
  const pm = env.facts.packageManager;
  if (pm === 'unknown') throw new StepError(`${env.host.name}: no supported package manager (apt-get, dnf, yum)`);
  return pm;
}

/** Names of the wanted packages that are installed, from the probe's output. */
export function installedPackages(output: string, wanted: string[]): Set<string> {
  const installed = new Set<string>();
  for (const line of output.split('\n')) {
    const [name, status] = line.split('\t');
    if (!name || !wanted.includes(name)) continue;
    // dpkg: "install ok installed"; rpm prints the bare name, and "package x is not installed" otherwise.
    if (status === undefined || / installed$/.test(status)) installed.add(name);
  }
  return installed;
}

/** Packages installed (or removed) with apt, dnf or yum as the facts say; checked with dpkg-query/rpm first. */
export function pkg(opts: PkgOptions): Step {
  const names = Array.isArray(opts.packages) ? opts.packages : [opts.packages];
  const state = opts.state ?? 'present';
  const list = names.map(q).join(' ');
  return {
    ...common('pkg', opts, `pkg ${names.join(' ')}${state === 'absent' ? ' absent' : ''}`),
    // The package database changes only through package managers, i.e. steps that may write anything.
    reads: [],
    probe: (env) => ({
      shell:
        manager(env) === 'apt'
          ? `dpkg-query -W -f='\${Package}\\t\${Status}\\n' ${list} 2>/dev/null\nreturn 0`
          : `rpm -q --qf '%{NAME}\\n' ${list} 2>/dev/null\nreturn 0`,
    }),
    async plan({ output }, env) {
      const installed = installedPackages(output, names);
      const todo = names.filter((n) => (state === 'present' ? !installed.has(n) : installed.has(n)));
      if (todo.length === 0) return null;
      const args = todo.map(q).join(' ');
      const pm = manager(env);
      let script: string;
      if (pm === 'apt') {
        script =
          state === 'present'
            ? `set -e\n${opts.updateCache ? `${APT} update\n` : ''}${APT} ${APT_KEEP_CONFIGS} install ${args}`
            : `${APT} remove ${args}`;
      } else {
        script = `${pm} -y -q ${state === 'present' ? 'install' : 'remove'} ${args}`;
      }
      return { summary: `${state === 'present' ? 'install' : 'remove'} ${todo.join(' ')}`, action: { script } };
    },
  };
}
