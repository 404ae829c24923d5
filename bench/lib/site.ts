// The real job side by side: harbormaster's `site` (bastion, proxy and registry roles) against
// the reference's playbook ported to the lab (bench/ansible/site), each on fresh lab hosts:
// first converge, then a no-op rerun that must change nothing.
import { chmod, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { labDown, labUp, type LabInfo } from '../../lib/lab/index.ts';
import { closeMasters, countAnsibleRoundTrips, parseRecap } from './ansible.ts';
import { BENCH_DIR, REPO_DIR } from './paths.ts';
import { mustRun } from './proc.ts';
import type { Recap, RoundTrips } from './tool.ts';

export const SITE_LAB = { name: 'bsite', subnet: '10.198' };
const LAUNCHER = path.join(REPO_DIR, 'bin', 'harbormaster.mjs');
const PLAYBOOK = path.join(BENCH_DIR, 'ansible', 'site', 'site.yml');
const CONFIG = path.join(BENCH_DIR, 'ansible', 'ansible.cfg');
const { NODE_OPTIONS: _npm, ...PLAIN } = process.env;

export interface SiteRun {
  seconds: number;
  recap: Map<string, Recap>;
  roundTrips: Map<string, RoundTrips>;
}

export interface SiteSide {
  name: string;
  /** `npx`: harbormaster started by the README's command, `npx zx scripts/site.mts`, instead of bin/harbormaster.mjs. */
  run(lab: LabInfo, opts?: { count?: boolean; npx?: boolean }): Promise<SiteRun>;
  endSample(): Promise<void>;
}

/** harbormaster's side also knows its registry user (from its vault). */
export interface HarbormasterSite extends SiteSide {
  registryUser(): Promise<{ user: string; password: string }>;
}

export async function freshSiteLab(work: string, registries: number, progress: (m: string) => void): Promise<LabInfo> {
  await labDown({ name: SITE_LAB.name });
  return labUp({ ...SITE_LAB, registries, inventoryFile: path.join(work, `${SITE_LAB.name}.yaml`), onProgress: (m) => progress(`lab: ${m}`) });
}

export const downSiteLab = () => labDown({ name: SITE_LAB.name });

/** harbormaster's site through the compiled entry point, on the bench's own vault and certificates. */
export function harbormasterSite(work: string): HarbormasterSite {
  const dirs = { vault: path.join(work, 'site-vault.yaml'), password: path.join(work, 'site-vault.password'), certs: path.join(work, 'site-certs') };
  return {
    name: 'harbormaster',
    async run(lab, opts = {}) {
      await writeFile(dirs.password, 'bench-site-vault\n', { mode: 0o600 });
      const args = ['-i', lab.inventoryFile, '--vault', dirs.vault, '--vault-password-file', dirs.password, '--certs-dir', dirs.certs, '--json'];
      const smoke = (await mustRun('site --help', process.execPath, [LAUNCHER, 'site', '--help'], { env: PLAIN })).stdout.includes('--skip-smoke');
      if (smoke) args.push('--skip-smoke'); // the bench compares converges; the smoke test is a push and pull
      const r = opts.npx
        ? await mustRun('npx zx scripts/site.mts', 'npx', ['zx', 'scripts/site.mts', ...args], { cwd: REPO_DIR, env: PLAIN })
        : await mustRun('bin/harbormaster.mjs site', process.execPath, [LAUNCHER, 'site', ...args], { cwd: REPO_DIR, env: PLAIN });
      const recap = r.stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { type: string; hosts?: Record<string, Recap & { roundTrips: RoundTrips }> })
        .find((e) => e.type === 'recap');
      if (!recap?.hosts) throw new Error(`bin/harbormaster.mjs site printed no recap:\n${r.stdout.slice(-2000)}${r.stderr.slice(-2000)}`);
      const entries = Object.entries(recap.hosts);
      return {
        seconds: r.seconds,
        recap: new Map(entries.map(([h, x]) => [h, { ok: x.ok, changed: x.changed, unreachable: x.unreachable, failed: x.failed }])),
        roundTrips: new Map(entries.map(([h, x]) => [h, x.roundTrips])),
      };
    },
    endSample: async () => {},
    async registryUser() {
      const args = [LAUNCHER, 'vault', 'get', dirs.vault, 'registry_users.admin', '--vault-password-file', dirs.password];
      return { user: 'admin', password: (await mustRun('vault get', process.execPath, args, { env: PLAIN })).stdout.trim() };
    },
  };
}

/**
 * The same secrets for Ansible's side: the TLS files, the registry users and the HTTP secret that
 * harbormaster put on a converged lab, read from that lab's host filesystems (0700 directory).
 */
export async function siteFilesFrom(lab: LabInfo, work: string): Promise<{ dir: string; vars: Record<string, string> }> {
  const dir = path.join(work, 'site-files');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const upper = (host: string) => lab.hosts.find((h) => h.name === host)!.upperDir;
  const registry = lab.hosts.find((h) => h.group === 'registry')!.name;
  for (const f of ['ca.crt', 'server.crt', 'server.key']) await copyFile(path.join(upper(registry), 'etc/harbormaster/tls', f), path.join(dir, f));
  await copyFile(path.join(upper(registry), 'etc/docker/registry/htpasswd'), path.join(dir, 'htpasswd'));
  const config = await readFile(path.join(upper(registry), 'etc/docker/registry/config.yml'), 'utf8');
  const vhost = await readFile(path.join(upper(lab.hosts.find((h) => h.group === 'bastion')!.name), 'etc/apache2/sites-available/registry_ssl.conf'), 'utf8');
  return {
    dir,
    vars: {
      registry_http_secret: JSON.parse(/^\s+secret: (".*")$/m.exec(config)![1]!) as string,
      registry_public_name: /^\s+ServerName (\S+)$/m.exec(vhost)![1]!,
    },
  };
}

/** ansible-playbook bench/ansible/site/site.yml with forks = hosts and a fresh ControlPath per sample. */
export function ansibleSite(work: string, files: { dir: string; vars: Record<string, string> }): SiteSide {
  let sample = 0;
  const controlDir = () => path.join(work, `site-cp-${sample}`);
  return {
    name: 'Ansible',
    async run(lab, opts = {}) {
      const registries = lab.hosts.filter((h) => h.group === 'registry');
      const varsFile = path.join(work, 'site-vars.yml');
      const vars = {
        ...files.vars,
        files_dir: files.dir,
        registry_port: 443,
        registry_data_dir: '/var/lib/docker-registry',
        backend_url: `https://${registries[0]!.address}/`,
      };
      await writeFile(varsFile, stringify(vars), { mode: 0o600 });
      await mkdir(controlDir(), { recursive: true, mode: 0o700 });
      const args = ['-i', lab.inventoryFile, '-f', String(lab.hosts.length), '-e', `@${varsFile}`, PLAYBOOK];
      if (opts.count) args.unshift('-vvv');
      const env = { ...process.env, ANSIBLE_CONFIG: CONFIG, ANSIBLE_SSH_CONTROL_PATH_DIR: controlDir(), ANSIBLE_NOCOLOR: '1' };
      const r = await mustRun('ansible-playbook site.yml', 'ansible-playbook', args, { env });
      const byAddress = opts.count ? countAnsibleRoundTrips(r.stdout) : new Map<string, RoundTrips>();
      return {
        seconds: r.seconds,
        recap: parseRecap(r.stdout),
        roundTrips: new Map(lab.hosts.map((h) => [h.name, byAddress.get(h.address) ?? { exec: 0, sftp: 0 }])),
      };
    },
    async endSample() {
      await closeMasters(controlDir());
      sample++;
    },
  };
}

/** Every host converged without failure: changes on the first converge, none on the rerun. */
export function checkSite(side: string, what: 'first converge' | 'no-op rerun', run: SiteRun, hosts: number): void {
  const bad: string[] = [];
  if (run.recap.size !== hosts) bad.push(`recap has ${run.recap.size} hosts, expected ${hosts}`);
  for (const [host, r] of run.recap) {
    if (r.failed || r.unreachable) bad.push(`${host}: failed=${r.failed} unreachable=${r.unreachable}`);
    if (what === 'no-op rerun' && r.changed !== 0) bad.push(`${host}: changed=${r.changed} on the rerun (not idempotent)`);
    if (what === 'first converge' && r.changed === 0) bad.push(`${host}: nothing changed on fresh hosts`);
  }
  if (bad.length) throw new Error(`${side} site ${what}: ${bad.join('; ')}`);
}
