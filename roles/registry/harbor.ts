// registry_engine: harbor — Harbor 2.x from its offline installer, run by docker compose on the
// host, serving TLS with the deployment's certificate behind the bastion's proxy. What the
// reference's registry play did, with the installer verified by sha256, a usable certificate
// directory, and a reconfigure whenever harbor.yml or the certificate change.
import type { Vars } from '../../lib/inventory/types.ts';
import type { RoleContext } from '../../lib/run/types.ts';
import { command, directory, download, pkg, service, template, unarchive, type Step } from '../../lib/steps/index.ts';
import { q, remoteBase, remoteDir } from '../../lib/transport/shell.ts';
import { UserError } from '../../lib/errors.ts';
import type { Secret } from '../../lib/secret.ts';
import type { Facts } from '../../lib/facts/index.ts';
import { loadedFiles } from '../shared/loaded.ts';
import { tlsPaths, tlsSteps } from '../shared/tls.ts';
import { verifyService, waitUntil } from '../shared/verify.ts';
import { harborAdminPasswordStep } from './harbor-admin.ts';
import { localHarborApi } from './harbor-api.ts';
import { harborSettingsStep } from './harbor-settings.ts';
import { need, needSecret } from '../shared/deployment.ts';
import { harborExternal } from './external.ts';
import { harborMigrateStep, harborUpgradeStep, harborVersionStep, onUpgradeFailure, recordInstalled, type UpgradeTarget } from './harbor-upgrade.ts';

const ROLE = 'registry';
const RECONFIGURE = 'reconfigure harbor';
const RECORD = 'record what harbor loaded';
/** Written once install.sh has succeeded, holding the release: later runs reconfigure (or upgrade) instead of installing. */
export const INSTALLED = '/etc/harbormaster/harbor.installed';
/** install.sh's last line when every container came up healthy. */
const INSTALL_OK = 'Harbor has been installed and started successfully';

/**
 * Docker engine and compose from the distribution: Debian's docker-compose (v1 on 12, v2 from 13),
 * Ubuntu's docker-compose-v2 from 22.04 on. RHEL-family hosts get Docker only from Docker's own
 * repository (docker-ce), which harbormaster does not set up.
 */
function dockerPackages(facts: Facts): string[] {
  if (facts.distribution === 'ubuntu') return ['docker.io', Number.parseFloat(facts.version) >= 22.04 ? 'docker-compose-v2' : 'docker-compose'];
  if (facts.osFamily === 'debian') return ['docker.io', 'docker-compose'];
  throw new UserError(
    `role ${ROLE}: registry_engine harbor needs Docker, which ${facts.distribution} gets only from Docker's own repository (docker-ce), not set up by harbormaster; use a Debian or Ubuntu registry host`,
  );
}

/** `docker compose` (v2) when the plugin is there, else docker-compose (v1), as Harbor's install.sh picks. */
export const COMPOSE = 'if docker compose version >/dev/null 2>&1; then dc="docker compose"; else dc=docker-compose; fi';

function absolute(vars: Vars, name: string): string {
  const path = String(need(vars, name, ROLE));
  if (!path.startsWith('/')) throw new UserError(`role ${ROLE}: ${name} ${path} must be an absolute path`);
  return path;
}

/**
 * Harbor releases whose harbor.yml.tmpl and installer harbor.yml.njk has been held against (in
 * tests/unit/harbor-prepare.test.ts, with that release's own prepare), and the format version
 * (`_version`, what Harbor's migrator reads) of their harbor.yml.
 */
const CHECKED_RELEASES: Record<string, string> = { '2.15': '2.15.0' };

/**
 * Harbor's prepare script reads data_volume with `grep | awk '{print $NF}'` and hands it unquoted
 * to `docker run -v`: no quotes, blanks, glob or `:` characters survive that.
 */
const DATA_VOLUME = /^\/[A-Za-z0-9._/-]*$/;

/** A true/false setting: a YAML boolean, or the words from `-e name=true`; anything else is refused. */
export function flag(vars: Vars, name: string): boolean {
  const v = vars[name];
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false') return false;
  throw new UserError(`role ${ROLE}: ${name} must be true or false, not ${JSON.stringify(v)}`);
}

/** Where things go, from the role's vars; the installer archive unpacks into a `harbor` directory. */
export function harborPaths(vars: Vars) {
  const installDir = absolute(vars, 'harbor_install_dir').replace(/\/+$/, '');
  if (remoteBase(installDir) !== 'harbor') {
    throw new UserError(`role ${ROLE}: harbor_install_dir ${installDir} must be an absolute path ending in /harbor (the installer archive's top directory)`);
  }
  const version = String(need(vars, 'harbor_version', ROLE)).replace(/^v/, '');
  if (!/^2\.\d+\.\d+(-rc\d+)?$/.test(version)) throw new UserError(`role ${ROLE}: harbor_version ${version} is not a Harbor 2.x release like 2.15.2`);
  const configVersion = CHECKED_RELEASES[version.split('.').slice(0, 2).join('.')];
  if (!configVersion) {
    const checked = Object.keys(CHECKED_RELEASES).map((r) => `${r}.x`).join(', ');
    throw new UserError(`role ${ROLE}: harbor_version ${version} has not been checked against harbormaster's harbor.yml (checked: ${checked}); use one of those`);
  }
  const dataVolume = absolute(vars, 'harbor_data_volume');
  if (!DATA_VOLUME.test(dataVolume)) {
    throw new UserError(
      `role ${ROLE}: harbor_data_volume ${JSON.stringify(dataVolume)} holds characters Harbor's installer cannot pass to docker (its prepare reads the line with awk, unquoted): use letters, digits, '.', '_', '-' and '/'`,
    );
  }
  const archive = `harbor-offline-installer-v${version}.tgz`;
  return {
    version,
    installDir,
    archive: `${remoteDir(installDir)}/${archive}`,
    url: (vars.harbor_installer_url as string | undefined) || `https://github.com/goharbor/harbor/releases/download/v${version}/${archive}`,
    config: `${installDir}/harbor.yml`,
    configVersion,
    dataVolume,
  };
}

function installerSha256(vars: Vars, version: string): string {
  const sum = String(vars.harbor_installer_sha256 ?? '').trim().toLowerCase();
  if (/^[0-9a-f]{64}$/.test(sum)) return sum;
  throw new UserError(
    `role ${ROLE}: harbor_installer_sha256 ${sum ? 'is not 64 hex digits' : 'is not set'}: set it in the inventory to the sha256 of harbor-offline-installer-v${version}.tgz, ` +
      `shown beside the asset on https://github.com/goharbor/harbor/releases/tag/v${version} (or sha256sum a copy verified with its .asc signature)`,
  );
}

/**
 * GET /api/v2.0/health on this host under the public name, the certificate verified: the overall
 * status is "healthy" only when every component's is, so any "unhealthy" means not yet.
 */
export const harborHealthy = (publicName: string): string =>
  `r=$(curl -fs --max-time 3 --cacert ${q(tlsPaths().ca)} --resolve ${q(`${publicName}:443:127.0.0.1`)} ${q(`https://${publicName}/api/v2.0/health`)} | tr -d ' \\t\\r\\n') && ` +
  `case "$r" in *unhealthy*) false;; *'"status":"healthy"'*) true;; *) false;; esac`;

/** Waits (up to ~3 min: Harbor's containers start slowly) until Harbor reports healthy, else fails with its state. */
const untilHealthy = (publicName: string, installDir: string) => ({
  test: harborHealthy(publicName),
  seconds: 180,
  sleep: 2,
  failure: `echo "Harbor is not healthy at https://${publicName}/api/v2.0/health on this host; containers:" >&2; ${COMPOSE}; cd ${q(installDir)} && $dc ps >&2`,
});

/**
 * Harbor reads harbor.yml and the certificate only through ./prepare: any change means a
 * reconfigure, but for the admin password, which Harbor reads only at its first start (a later
 * one is changed over the API, harbor-admin.ts).
 */
const loaded = (config: string) =>
  loadedFiles({
    name: 'harbor runs the current harbor.yml',
    paths: [config, tlsPaths().cert, tlsPaths().key],
    ignoreLines: '^harbor_admin_password:',
    marker: '/etc/harbormaster/harbor.loaded',
    notify: [RECONFIGURE],
    recordName: RECORD,
  });

/** install.sh's and prepare's flags: Trivy (its images are in the offline installer) only when asked for. */
export const installerFlags = (vars: Vars): string => (flag(vars, 'harbor_trivy') ? ' --with-trivy' : '');

/** install.sh, in the install directory, as the role runs it (install.sh colours its output with tput, which needs a terminal type). */
export const installScript = (vars: Vars): string =>
  `out=$(TERM=dumb ./install.sh${installerFlags(vars)} 2>&1) && printf '%s' "$out" | grep -q ${q(INSTALL_OK)} || { printf '%s\\n' "$out" | tail -n 30 >&2; echo "install.sh did not report success" >&2; exit 1; }`;

/** Harbor's prepare, in the install directory, as a reconfigure runs it. */
export const prepareScript = (vars: Vars): string => `TERM=dumb ./prepare${installerFlags(vars)}`;

/** One of Harbor's passwords: generated into the vault by the deployment's prepare, except in check mode. */
function harborSecret(vars: Vars, name: string): Secret {
  if (vars[name] === undefined) throw new UserError(`role ${ROLE}: vault lacks ${name}: run the site once without --check to generate it`);
  return needSecret(vars, name, ROLE);
}

/** The S3 driver's settings, checked here so a missing one is named before anything runs. */
function s3Vars(vars: Vars): Vars {
  return {
    registry_s3_region: need(vars, 'registry_s3_region', ROLE),
    registry_s3_bucket: need(vars, 'registry_s3_bucket', ROLE),
    registry_s3_access_key: needSecret(vars, 'registry_s3_access_key', ROLE),
    registry_s3_secret_key: needSecret(vars, 'registry_s3_secret_key', ROLE),
  };
}

/** The steps of a Harbor registry host: Docker, the installer, the certificate, harbor.yml, install once (or upgrade). */
export function harborSteps(ctx: RoleContext): Step[] {
  const { vars, facts } = ctx;
  const packages = dockerPackages(facts);
  const p = harborPaths(vars);
  const sha256 = installerSha256(vars, p.version);
  const publicName = need<string>(vars, 'registry_public_name', ROLE);
  const storage = need<string>(vars, 'registry_storage', ROLE);
  if (storage !== 'filesystem' && storage !== 's3') throw new UserError(`role ${ROLE}: registry_storage must be filesystem or s3, not ${storage}`);
  const api = localHarborApi(publicName);
  // Checked here (Harbor's rule, what netrc carries), before anything runs.
  const adminPassword = harborAdminPasswordStep(api, harborSecret(vars, 'harbor_admin_password'));
  const templateVars = {
    harbor: { paths: p, tls: tlsPaths(), trivy: flag(vars, 'harbor_trivy'), s3Redirect: storage === 's3' && flag(vars, 'registry_s3_redirect') },
    harbor_db_password: harborSecret(vars, 'harbor_db_password'),
    external: harborExternal(ctx),
    ...(storage === 's3' ? s3Vars(vars) : {}),
  };
  const l = loaded(p.config);
  const upgrade: UpgradeTarget = { ...p, installed: INSTALLED, compose: COMPOSE };
  return [
    harborVersionStep(upgrade),
    pkg({ packages: [...packages, 'curl'], tags: ['packages'] }),
    service({ service: 'docker', state: 'started', enabled: true, tags: ['service'] }),
    // Only made when missing (a custom harbor_install_dir): /opt's own mode and owner are left alone.
    directory({ path: remoteDir(p.installDir), tags: ['harbor'] }),
    download({ url: p.url, dest: p.archive, sha256, mode: '0644', owner: 'root', group: 'root', timeoutMs: 30 * 60_000, tags: ['harbor'] }),
    harborUpgradeStep(upgrade),
    unarchive({ src: p.archive, dest: remoteDir(p.installDir), creates: `${p.installDir}/install.sh`, timeoutMs: 10 * 60_000, tags: ['harbor'] }),
    harborMigrateStep(upgrade),
    ...tlsSteps({ role: ROLE, vars }),
    template({ src: 'harbor.yml.njk', dest: p.config, vars: templateVars, mode: '0600', owner: 'root', group: 'root', sensitive: true, tags: ['config'] }),
    // Before the install: on the first run install.sh loads everything itself and records it.
    { ...l.step, when: `[ -e ${q(INSTALLED)} ]` },
    command({
      name: 'install harbor',
      cwd: p.installDir,
      creates: INSTALLED,
      cmd: [
        onUpgradeFailure,
        COMPOSE,
        installScript(vars),
        waitUntil(untilHealthy(publicName, p.installDir)),
        recordInstalled(upgrade),
      ].join('\n'),
      notify: [RECORD],
      timeoutMs: 30 * 60_000,
      tags: ['harbor'],
    }),
    // After a reconfigure this run asked for: Harbor serves what it wrote.
    verifyService({ name: 'harbor answers', ...untilHealthy(publicName, p.installDir) }),
    adminPassword,
    harborSettingsStep(api, vars),
  ];
}

/**
 * Reconfigure as Harbor documents it: stop with the compose file that started the containers,
 * ./prepare (new compose file and configs from harbor.yml), start; then record what it loaded.
 */
export function harborHandlers({ vars }: RoleContext): Step[] {
  return [command({ name: RECONFIGURE, ...harborControl('reconfigure', vars) }), loaded(harborPaths(vars).config).record];
}

/** What operators did by hand on the registry host, as `harbor.mts ACTION` runs it. */
export const HARBOR_ACTIONS = ['status', 'stop', 'start', 'restart', 'reconfigure'] as const;
export type HarborAction = (typeof HARBOR_ACTIONS)[number];

/** The shell for an action: in the install directory, with whichever compose install.sh used; starts wait for health. */
export function harborControl(action: HarborAction, vars: Vars): { cmd: string; timeoutMs: number } {
  const p = harborPaths(vars);
  const wait = waitUntil(untilHealthy(need<string>(vars, 'registry_public_name', ROLE), p.installDir));
  const body: Record<HarborAction, string[]> = {
    status: ['$dc ps'],
    stop: ['$dc stop'],
    start: ['$dc start', wait],
    restart: ['$dc stop', '$dc start', wait],
    reconfigure: ['$dc down', prepareScript(vars), '$dc up -d', wait],
  };
  const installed = `[ -e ${q(INSTALLED)} ] || { echo "Harbor is not installed on this host (converge it with registry_engine: harbor first)" >&2; exit 1; }`;
  return { cmd: ['set -e', installed, `cd ${q(p.installDir)}`, COMPOSE, ...body[action]].join('\n'), timeoutMs: 15 * 60_000 };
}
