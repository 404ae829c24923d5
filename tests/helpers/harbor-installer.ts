// Harbor's real installer (shared/reference/harbor/installer-v2.15.2, absent from a user's clone) on
// this machine: its Python prepare run on a harbor.yml with its container paths moved into a
// scratch directory, and its shell install.sh/prepare run with a stand-in docker on PATH that
// records what would reach Docker (harbor-installer/docker).
import { execFile } from 'node:child_process';
import { access, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parse } from 'yaml';
import { tlsPaths } from '../../roles/shared/tls.ts';

const SHARED = fileURLToPath(new URL('../../../shared', import.meta.url));
export const INSTALLER = join(SHARED, 'reference/harbor/installer-v2.15.2');
const PREPARE = join(INSTALLER, 'photon/prepare');
/** The system python3: Debian's yaml, jinja2, click and packaging are in its site-packages, not pyenv's. */
const PYTHON = '/usr/bin/python3';
const HELPERS = fileURLToPath(new URL('.', import.meta.url));

/** Why these tests cannot run here, or null when they can. */
async function installerAbsent(): Promise<string | null> {
  try {
    await access(join(INSTALLER, 'install.sh'));
  } catch {
    return `skipped: ../shared/reference/harbor/installer-v2.15.2 is absent (a user clone): Harbor's installer is not here to run`;
  }
  // Harbor's prepare chowns its files to uid 10000 and 999, as the image runs it: as root.
  if (process.getuid?.() !== 0) return 'skipped: Harbor\'s prepare chowns its files to its containers\' users, which needs root';
  return null;
}

/**
 * The test file's scratch directory (removed at its end), or null when Harbor's installer cannot
 * run here, after planning no tests with the reason (never a silent pass).
 */
export async function installerScratch(prefix: string): Promise<string | null> {
  const absent = await installerAbsent();
  if (absent) {
    t.plan(0, absent);
    return null;
  }
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(file: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { ...opts, maxBuffer: 1 << 24 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

let registryCa: Promise<{ key: string; cert: string }> | undefined;

/**
 * The token-signing key and certificate prepare makes on a first run (openssl genrsa 4096, slow
 * on a busy machine), made once per test file, smaller, and placed where prepare finds them.
 */
async function seedRegistryCa(data: string): Promise<void> {
  registryCa ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hm-harbor-ca-'));
    const [key, cert] = [join(dir, 'key.pem'), join(dir, 'root.crt')];
    const r = await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-subj', '/CN=harbor-token', '-days', '2']);
    if (r.code !== 0) throw new Error(`openssl: ${r.stderr}`);
    const pair = { key: await readFile(key, 'utf8'), cert: await readFile(cert, 'utf8') };
    await rm(dir, { recursive: true, force: true });
    return pair;
  })();
  const { key, cert } = await registryCa;
  await mkdir(join(data, 'secret/core'), { recursive: true });
  await mkdir(join(data, 'secret/registry'), { recursive: true });
  await writeFile(join(data, 'secret/core/private_key.pem'), key, { mode: 0o600 });
  await writeFile(join(data, 'secret/registry/root.crt'), cert);
}

/** A host root for the installer to see: the deployment's certificate where harbor.yml names it. */
async function hostRoot(root: string): Promise<string> {
  const hostfs = join(root, 'hostfs');
  const tls = tlsPaths();
  await mkdir(join(hostfs, tls.dir), { recursive: true });
  await writeFile(join(hostfs, tls.cert), '-----BEGIN CERTIFICATE-----\nserver\n-----END CERTIFICATE-----\n');
  await writeFile(join(hostfs, tls.key), '-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----\n', { mode: 0o600 });
  return hostfs;
}

/**
 * Harbor's Python prepare (`main.py prepare`: parse_yaml_config, validate, every component's
 * renderer, the compose file) on harbor.yml, its /input, /data, /config, /compose_location and
 * /hostfs under root. Harbor logging any warning fails it.
 */
export async function pythonPrepare(root: string, harborYml: string, opts: { trivy?: boolean } = {}): Promise<Run & { dirs: Record<string, string> }> {
  const { dirs, mounts } = await containerDirs(root);
  await writeFile(join(dirs.input, 'harbor.yml'), harborYml, { mode: 0o600 });
  await seedRegistryCa(dirs.data);
  const r = await run(PYTHON, [join(HELPERS, 'harbor-prepare.py'), PREPARE, ...mounts, '--', 'prepare', ...(opts.trivy ? ['--with-trivy'] : [])]);
  return { ...r, dirs };
}

/**
 * Harbor's migrator as its upgrade guide runs it (`docker run -v /:/hostfs goharbor/prepare migrate
 * -i /opt/harbor/harbor.yml`): the file is migrated in place; returns the run and the new text.
 */
export async function pythonMigrate(root: string, harborYml: string, target: string): Promise<Run & { migrated: string }> {
  const { dirs, mounts } = await containerDirs(root);
  const file = '/opt/harbor/harbor.yml';
  await mkdir(join(dirs.hostfs, '/opt/harbor'), { recursive: true });
  await writeFile(join(dirs.hostfs, file), harborYml, { mode: 0o600 });
  const r = await run(PYTHON, [join(HELPERS, 'harbor-prepare.py'), PREPARE, ...mounts, `/work=${root}`, '--', 'migrate', '-i', file, '-t', target]);
  return { ...r, migrated: await readFile(join(dirs.hostfs, file), 'utf8') };
}

/** The prepare container's directories under root, and their mount arguments for harbor-prepare.py. */
async function containerDirs(root: string) {
  const dirs = { input: join(root, 'input'), data: join(root, 'data'), config: join(root, 'config'), compose: join(root, 'compose'), hostfs: await hostRoot(root) };
  for (const d of Object.values(dirs)) await mkdir(d, { recursive: true });
  const mounts = [`/input=${dirs.input}`, `/data=${dirs.data}`, `/config=${dirs.config}`, `/compose_location=${dirs.compose}`, `/hostfs=${dirs.hostfs}`];
  return { dirs, mounts };
}

export interface DockerCall {
  argv: string[];
  cwd: string;
}

/**
 * An unpacked offline installer under root/opt/harbor: Harbor's install.sh, prepare and
 * common.sh, an images archive, and harbor.yml. Returns how to run a command there with the
 * stand-in docker first on PATH, and the docker calls it has recorded. dataVolume (harbor.yml's)
 * gets the registry's token key pair, as after a first prepare.
 */
export async function installerHost(root: string, harborYml: string, dataVolume: string) {
  const dir = join(root, 'opt/harbor');
  await mkdir(dir, { recursive: true });
  for (const f of ['install.sh', 'prepare', 'common.sh', 'harbor.yml.tmpl']) await copyFile(join(INSTALLER, f), join(dir, f));
  await writeFile(join(dir, 'harbor.v2.15.2.tar.gz'), 'the images of the offline installer\n');
  await writeFile(join(dir, 'harbor.yml'), harborYml, { mode: 0o600 });
  const log = join(root, 'docker.log');
  await writeFile(log, '');
  const hostfs = await hostRoot(root);
  await seedRegistryCa(dataVolume);
  const env = {
    ...process.env,
    PATH: `${join(HELPERS, 'harbor-installer')}:/usr/sbin:/usr/bin:/sbin:/bin`,
    HM_DOCKER_LOG: log,
    HM_HOSTFS: hostfs,
    HM_PREPARE_DIR: PREPARE,
  };
  return {
    dir,
    hostfs,
    /** A shell command in the install directory, as the role runs it there. */
    sh: (script: string) => run('/bin/bash', ['-c', script], { cwd: dir, env }),
    calls: async (): Promise<DockerCall[]> =>
      (await readFile(log, 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as DockerCall),
    compose: async () => parse(await readFile(join(dir, 'docker-compose.yml'), 'utf8')) as { services: Record<string, { volumes?: unknown[] }> },
  };
}

/** The -v arguments of a docker run, as Docker receives them. */
export const volumes = (call: DockerCall): string[] => call.argv.flatMap((a, i) => (call.argv[i - 1] === '-v' ? [a] : []));
