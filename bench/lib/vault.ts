import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { BENCH_DIR, REPO_DIR } from './paths.ts';
import { mustRun } from './proc.ts';
import type { Pair } from './report.ts';
import { repeat } from './stats.ts';

/** Debian's python, which has the ansible package (a pyenv python on PATH may not). */
export const PYTHON = '/usr/bin/python3';
const VAULT_PY = path.join(BENCH_DIR, 'ansible', 'vault_bench.py');
const VAULT_PLAYBOOK = path.join(BENCH_DIR, 'ansible', 'vault.yml');
const VALUES = 100;

interface Decrypted {
  seconds: number;
  values: number;
  chars: number;
}

function parse(what: string, out: string): Decrypted {
  const r = JSON.parse(out.trim().split('\n').pop()!) as Decrypted;
  if (r.values !== VALUES) throw new Error(`${what} decrypted ${r.values} values, expected ${VALUES}`);
  return r;
}

/**
 * Decrypting a vars file of 100 `!vault` values (written by Ansible's own VaultLib):
 * - process: harbormaster's loader in a fresh node process vs ansible-playbook loading it with -e @file
 *   and using every value (wall time, interpreter start included);
 * - library: the in-process time of harbormaster's loader vs Ansible's DataLoader (no start-up).
 */
export async function benchVault(work: string, samples: number, progress: (m: string) => void): Promise<{ values: number; process: Pair; library: Pair }> {
  const vars = path.join(work, 'vault-vars.yml');
  const pw = path.join(work, 'vault-password');
  if (!existsSync(pw)) await writeFile(pw, randomBytes(24).toString('base64') + '\n', { mode: 0o600 });
  if (!existsSync(vars)) await mustRun('make vault vars', PYTHON, [VAULT_PY, 'make', vars, pw, String(VALUES)]);
  const hmEnv = { ...process.env, NODE_OPTIONS: '--import=tsx' };
  const ansibleEnv = { ...process.env, ANSIBLE_CONFIG: path.join(BENCH_DIR, 'ansible', 'ansible.cfg'), ANSIBLE_NOCOLOR: '1' };
  const out: { values: number; process: Pair; library: Pair } = { values: VALUES, process: { hm: [], other: [] }, library: { hm: [], other: [] } };
  await repeat(samples, async (i) => {
    const hm = await mustRun('vault-decrypt.mts', 'node', [path.join(BENCH_DIR, 'vault-decrypt.mts'), vars, pw], { env: hmEnv, cwd: REPO_DIR });
    const lib = await mustRun('vault_bench.py', PYTHON, [VAULT_PY, 'decrypt', vars, pw]);
    const play = await mustRun('ansible-playbook vault.yml', 'ansible-playbook', ['-i', 'localhost,', '-c', 'local', VAULT_PLAYBOOK, '-e', `@${vars}`, '--vault-password-file', pw], { env: ansibleEnv });
    const chars = parse('harbormaster', hm.stdout).chars;
    if (parse('ansible', lib.stdout).chars !== chars || !play.stdout.includes(`"msg": "${chars}"`)) {
      throw new Error('harbormaster and Ansible decrypted different values');
    }
    out.process.hm.push(hm.seconds);
    out.process.other.push(play.seconds);
    out.library.hm.push(parse('harbormaster', hm.stdout).seconds);
    out.library.other.push(parse('ansible', lib.stdout).seconds);
    progress(`vault sample ${i + 1}/${samples}: harbormaster ${hm.seconds.toFixed(2)} s, ansible-playbook ${play.seconds.toFixed(2)} s`);
  });
  return out;
}
