// A changed harbor_version on an installed host: Harbor's upgrade guide as steps. Stop Harbor,
// back up its database and its install directory, unpack the new installer beside the old, let
// Harbor's own migrator (the new prepare image's `migrate`) carry harbor.yml forward, then the
// role's usual install and health wait. Downgrades and versions not checked are refused before
// anything changes; a failed upgrade prints the one line that returns to the backup.
import { UserError } from '../../lib/errors.ts';
import { command, type Step } from '../../lib/steps/index.ts';
import { fields } from '../../lib/steps/fileops.ts';
import { q } from '../../lib/transport/shell.ts';

/** Present while an upgrade is under way: from, to, the backup paths, the line that returns to them. */
export const UPGRADE = '/etc/harbormaster/harbor.upgrade';

/**
 * Release lines an installed Harbor is upgraded from: Harbor's migrator carries their harbor.yml
 * to the format the role writes (tests/unit/harbor-prepare.test.ts runs it on each).
 */
export const UPGRADES_FROM = ['2.13', '2.14', '2.15'];

export interface UpgradeTarget {
  /** The wanted release (harbor_version) and its harbor.yml format (`_version`). */
  version: string;
  configVersion: string;
  installDir: string;
  dataVolume: string;
  /** The marker a finished install leaves, holding the installed release. */
  installed: string;
  /** sh setting $dc to the compose install.sh uses. */
  compose: string;
}

/** A Harbor release as numbers; a release candidate sorts before its release. */
function versionKey(v: string): number[] {
  const m = /^(\d+)\.(\d+)\.(\d+)(?:-rc(\d+))?$/.exec(v);
  if (!m) return [];
  return [Number(m[1]), Number(m[2]), Number(m[3]), m[4] === undefined ? Number.MAX_SAFE_INTEGER : Number(m[4])];
}

export function compareVersions(a: string, b: string): number {
  const [x, y] = [versionKey(a), versionKey(b)];
  for (let i = 0; i < 4; i++) if (x[i] !== y[i]) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
}

const releaseLine = (v: string): string => v.split('.').slice(0, 2).join('.');

/**
 * sh printing what is installed: `installed=VERSION` (the marker's content; without one, or with
 * one an earlier harbormaster left empty, the version of the images archive in an install
 * directory that prepare ran in, as on a host installed by hand or by the reference's playbook),
 * `database=yes` when the data volume holds Harbor's own database, and an upgrade under way as
 * `upgrade.KEY=VALUE`.
 */
function stateProbe(u: UpgradeTarget): string {
  return [
    `if [ -e ${q(u.installed)} ] || [ -e ${q(`${u.installDir}/docker-compose.yml`)} ]; then`,
    `  v=$(cat ${q(u.installed)} 2>/dev/null)`,
    `  [ -n "$v" ] || v=$(ls ${q(u.installDir)} 2>/dev/null | sed -n 's/^harbor\\.v\\(.*\\)\\.tar\\.gz$/\\1/p' | head -n 1)`,
    '  echo "installed=${v:-unknown}"',
    'fi',
    `[ -d ${q(`${u.dataVolume}/database`)} ] && echo database=yes`,
    `[ -f ${q(UPGRADE)} ] && sed 's/^/upgrade./' ${q(UPGRADE)}`,
    'return 0',
  ].join('\n');
}

interface HostState {
  installed?: string;
  database: boolean;
  upgrade?: { from: string; to: string; failed: string };
}

function hostState(output: string): HostState {
  const f = fields(output);
  const from = f.get('upgrade.from');
  return {
    installed: f.get('installed'),
    database: f.get('database') === 'yes',
    ...(from !== undefined ? { upgrade: { from, to: f.get('upgrade.to') ?? '', failed: f.get('upgrade.failed') ?? '' } } : {}),
  };
}

/**
 * First of the role's steps: refuses, before anything changes, a downgrade, an upgrade from a
 * release not checked, and a harbor_version other than the one an unfinished upgrade goes to.
 */
export function harborVersionStep(u: UpgradeTarget): Step {
  return {
    kind: 'command',
    name: `harbor version ${u.version}`,
    tags: ['harbor'],
    notify: [],
    when: true,
    sensitive: false,
    reads: [u.installed, UPGRADE],
    probe: () => ({ shell: stateProbe(u) }),
    async plan({ output }, env) {
      const s = hostState(output);
      const at = `role registry: host ${env.host.name}`;
      if (s.upgrade) {
        if (s.upgrade.to === u.version) return null;
        throw new UserError(`${at}: the upgrade of Harbor from ${s.upgrade.from} to ${s.upgrade.to} has not finished: set harbor_version to ${s.upgrade.to} to finish it, or go back: ${s.upgrade.failed}`);
      }
      const installed = s.installed;
      if (installed === undefined || installed === u.version) return null;
      if (versionKey(installed).length === 0) {
        throw new UserError(`${at}: Harbor is installed in ${u.installDir} but its release is unknown (neither ${u.installed} nor an images archive harbor.vVERSION.tar.gz there names it): write the installed release, e.g. 2.14.3, into ${u.installed}`);
      }
      if (compareVersions(installed, u.version) > 0) {
        throw new UserError(`${at}: Harbor ${installed} is installed and harbor_version is ${u.version}: downgrades are refused (Harbor's database migrations only go forward); set harbor_version to ${installed} or later`);
      }
      if (!UPGRADES_FROM.includes(releaseLine(installed))) {
        const from = UPGRADES_FROM.map((r) => `${r}.x`).join(', ');
        throw new UserError(`${at}: Harbor ${installed} cannot be upgraded to ${u.version} here: harbormaster upgrades from ${from} (upgrade through Harbor's releases in between by hand first)`);
      }
      return null;
    },
  };
}

/** Where an upgrade from `from` keeps the old install, its database, and the script that puts both back. */
export function backupPaths(u: UpgradeTarget, from: string, stamp: string) {
  const install = `${u.installDir}-v${from}-${stamp}`;
  return { install, database: `${u.dataVolume}/database-v${from}-${stamp}`, restore: `${install}.restore.sh` };
}

/** The script that returns to the backup: the new Harbor down, the old directory and database back, started. */
export function restoreScript(u: UpgradeTarget, from: string, to: string, b: ReturnType<typeof backupPaths>, database: boolean): string {
  const db = `${u.dataVolume}/database`;
  return [
    '#!/bin/sh',
    `# Returns this host to Harbor ${from} as it was before the upgrade to ${to} (written by harbormaster).`,
    'set -e',
    u.compose,
    `if [ -f ${q(`${u.installDir}/docker-compose.yml`)} ]; then (cd ${q(u.installDir)} && $dc down); fi`,
    `rm -rf ${q(u.installDir)}`,
    `mv ${q(b.install)} ${q(u.installDir)}`,
    ...(database ? [`rm -rf ${q(db)}`, `cp -a ${q(b.database)} ${q(db)}`] : []),
    `cd ${q(u.installDir)} && $dc up -d`,
    `printf '%s\\n' ${q(from)} > ${q(u.installed)}`,
    `rm -f ${q(UPGRADE)}`,
    `echo ${q(`Harbor ${from} is back; the next run with harbor_version ${to} upgrades again`)}`,
    '',
  ].join('\n');
}

/**
 * Stop Harbor, back up, set the old install directory aside: after the new installer is
 * downloaded (Harbor stays up meanwhile) and before it is unpacked where the old one was.
 */
export function harborUpgradeStep(u: UpgradeTarget): Step {
  return {
    kind: 'command',
    name: 'upgrade harbor: stop, back up, set aside',
    tags: ['harbor'],
    notify: [],
    when: true,
    sensitive: false,
    reads: [u.installed, UPGRADE],
    // The next steps see it: the installer is unpacked, migrated, installed again.
    writes: [u.installDir, u.installed, UPGRADE],
    timeoutMs: 30 * 60_000,
    probe: () => ({ shell: stateProbe(u) }),
    async plan({ output }) {
      const s = hostState(output);
      const from = s.installed;
      if (s.upgrade || from === undefined || from === u.version) return null;
      const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '');
      const b = backupPaths(u, from, stamp);
      const kept = s.database ? `${b.install} and its database in ${b.database}` : `${b.install} (the external database is not backed up here: back it up with the postgres role's backup tag)`;
      const failed = `Harbor's upgrade from ${from} to ${u.version} did not finish; the old install is in ${kept}: to return to ${from}, run sh ${b.restore} on this host`;
      const record = { from, to: u.version, install: b.install, database: s.database ? b.database : '', restore: b.restore, failed };
      const script = [
        'set -e',
        `hm_stopped() { echo ${q(`the upgrade stopped before Harbor ${from} was set aside; Harbor may be stopped: cd ${u.installDir} && docker compose up -d starts it again`)} >&2; }`,
        "trap 'hm_rc=$?; [ $hm_rc -eq 0 ] || hm_stopped' EXIT",
        `cd ${q(u.installDir)}`,
        u.compose,
        '$dc down',
        ...(s.database ? [`cp -a ${q(`${u.dataVolume}/database`)} ${q(b.database)}`] : []),
        `cat > ${q(b.restore)} <<'HM_RESTORE'\n${restoreScript(u, from, u.version, b, s.database)}HM_RESTORE`,
        `chmod 700 ${q(b.restore)}`,
        'cd /',
        `mv ${q(u.installDir)} ${q(b.install)}`,
        `printf '%s\\n' ${Object.entries(record).map(([k, v]) => q(`${k}=${v}`)).join(' ')} > ${q(`${UPGRADE}.tmp`)}`,
        `mv -f ${q(`${UPGRADE}.tmp`)} ${q(UPGRADE)}`,
        `rm -f ${q(u.installed)}`,
        'trap - EXIT',
      ].join('\n');
      return { summary: `${from} -> ${u.version}: Harbor stopped, backed up to ${b.install}${s.database ? ` and ${b.database}` : ''}`, action: { script } };
    },
  };
}

/** sh for the steps after the old install was set aside: on failure, the line that returns to it. */
export const onUpgradeFailure = [
  `hm_upgrade_failed() { [ ! -f ${q(UPGRADE)} ] || sed -n 's/^failed=//p' ${q(UPGRADE)} >&2; }`,
  "trap 'hm_rc=$?; [ $hm_rc -eq 0 ] || hm_upgrade_failed' EXIT",
].join('\n');

/**
 * Harbor's migrator on the old harbor.yml, in the new install directory, as the upgrade guide
 * runs it: the new release's prepare image (loaded from its images archive) with the host's /
 * at /hostfs. The role's template then writes the deployment's harbor.yml over it.
 */
export function harborMigrateStep(u: UpgradeTarget): Step {
  const config = `${u.installDir}/harbor.yml`;
  return command({
    name: `migrate harbor.yml to ${u.configVersion}`,
    unless: `! [ -f ${q(UPGRADE)} ] || [ -e ${q(config)} ]`,
    reads: [UPGRADE, config],
    cwd: u.installDir,
    cmd: [
      'set -e',
      onUpgradeFailure,
      `old=$(sed -n 's/^install=//p' ${q(UPGRADE)})`,
      `install -m 0600 "$old/harbor.yml" ${q(config)}`,
      // The image tag the new installer's own prepare script runs.
      'image=$(grep -o "goharbor/prepare:[^ ]*" prepare | head -n 1)',
      'docker load -i harbor.v*.tar.gz',
      `docker run --rm -v /:/hostfs "$image" migrate -i ${q(config)} -t ${q(u.configVersion)}`,
    ].join('\n'),
    timeoutMs: 15 * 60_000,
    tags: ['harbor'],
  });
}

/** sh ending a successful install: the marker holds the release, an upgrade is over. */
export const recordInstalled = (u: UpgradeTarget): string => `printf '%s\\n' ${q(u.version)} > ${q(u.installed)} && rm -f ${q(UPGRADE)}`;
