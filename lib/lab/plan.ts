import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../errors.ts';
import { knownHostsBeside } from '../inventory/target.ts';
import type { LabHost, LabInfo } from './types.ts';

/** Where labs keep their state unless told otherwise; hidden from inside every host. */
export const LAB_ROOT = '/var/lib/harbormaster/lab';
export const DEFAULT_SUBNET = '10.90';
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** `<name>-pub` names an interface in the root namespace: Linux allows 15 characters. */
const MAX_NAME = 11;
/** registry-N lives at .(10+N) of a /24. */
const MAX_REGISTRIES = 244;
/** Where registry hosts mount the lab's shared storage directory (with several registries). */
export const SHARED_STORAGE_MOUNT = '/srv/registry-shared';

export interface PlannedHost extends LabHost {
  /** Network namespace holding the host. */
  ns: string;
  /** The host's interface on the private network, its peer's name on the private bridge, its address there. */
  privIf: string;
  privPort: string;
  privAddress: string;
  /** Per-host state: overlay work dir, mount point of the host's root, init pid file, boot log. */
  dir: string;
  workDir: string;
  rootDir: string;
  pidFile: string;
  logFile: string;
  /** The controller directory mounted at SHARED_STORAGE_MOUNT inside the host, if any. */
  sharedDir: string | null;
}

/** Every name, address and path of one lab, derived from its parameters and nothing else. */
export interface LabPlan {
  name: string;
  subnet: string;
  registries: number;
  db: boolean;
  stateDir: string;
  /** Storage every registry host mounts, when there are several (they must share images); else null. */
  sharedDir: string | null;
  /** Records the parameters, so `down` and a later `up` find the same lab. */
  stateFile: string;
  keyFile: string;
  sshConfig: string;
  inventoryFile: string;
  knownHostsFile: string;
  /** The lab deployment's vault, its password file and certificates, named in its inventory (see lib/inventory/binding.ts). */
  secrets: LabSecrets;
  /** The lab's whole range: unreachable from the controller except for the public /24. */
  range: string;
  controllerAddress: string;
  /** Public bridge (root namespace, holds the controller's address) and the bastion's veth end on it. */
  pubBridge: string;
  pubVeth: string;
  /** Namespace of its own holding the private bridge, so the controller has no interface there. */
  privNs: string;
  hosts: PlannedHost[];
}

export interface LabSecrets {
  vaultFile: string;
  passwordFile: string;
  certsDir: string;
}

/**
 * The default inventory's lab keeps its secrets in the project's vault/ and certs/ (vault/lab.yaml,
 * certs/lab/); a lab with its inventory elsewhere keeps them there, beside the inventory.
 */
function labSecrets(name: string, inventoryFile: string, defaultInventory: string): LabSecrets {
  const base = inventoryFile === defaultInventory ? REPO_ROOT : dirname(inventoryFile);
  return { vaultFile: join(base, 'vault', `${name}.yaml`), passwordFile: join(base, 'vault', `${name}.password`), certsDir: join(base, 'certs', name) };
}

export interface PlanParams {
  name: string;
  subnet: string;
  registries: number;
  db?: boolean;
  stateDir?: string;
  inventoryFile?: string;
}

export function checkName(name: string): void {
  if (!/^[a-z][a-z0-9-]*$/.test(name)) {
    throw new UserError(`lab name "${name}": use lowercase letters, digits and '-', starting with a letter`);
  }
  if (name.length > MAX_NAME) {
    throw new UserError(
      `lab name "${name}" is ${name.length} characters; at most ${MAX_NAME}, so interface "${name}-pub" fits Linux's 15-character limit`,
    );
  }
}

function checkSubnet(subnet: string): void {
  const m = /^(\d{1,3})\.(\d{1,3})$/.exec(subnet);
  if (!m || Number(m[1]) > 255 || Number(m[2]) > 255) {
    throw new UserError(`--subnet "${subnet}": expected the first two octets of a /16, like ${DEFAULT_SUBNET}`);
  }
}

function checkRegistries(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > MAX_REGISTRIES) {
    throw new UserError(`--registries ${n}: expected a whole number from 1 to ${MAX_REGISTRIES}`);
  }
}

/** Paths end up in ssh options and ProxyCommand lines, where whitespace and quotes would split them. */
function checkPath(what: string, path: string): string {
  if (/[\s"'\\%]/.test(path)) throw new UserError(`${what} "${path}": use a path without spaces, quotes, '\\' or '%'`);
  return path;
}

export function defaultStateDir(name: string): string {
  return join(LAB_ROOT, name);
}

export function planLab(p: PlanParams): LabPlan {
  checkName(p.name);
  checkSubnet(p.subnet);
  checkRegistries(p.registries);
  const stateDir = checkPath('--state-dir', resolve(p.stateDir ?? defaultStateDir(p.name)));
  const defaultInventory = resolve(REPO_ROOT, `inventory/${p.name}.yaml`);
  const inventoryFile = checkPath('--inventory', resolve(REPO_ROOT, p.inventoryFile ?? defaultInventory));
  const sharedDir = p.registries > 1 ? join(stateDir, 'shared') : null;
  const host = (name: string, group: LabHost['group'], address: string, privIf: string, privPort: string, privAddress: string): PlannedHost => {
    const dir = join(stateDir, 'hosts', name);
    return {
      name, group, address, privIf, privPort, privAddress,
      sharedDir: group === 'registry' ? sharedDir : null,
      ns: `${p.name}-${name}`,
      upperDir: join(dir, 'upper'),
      dir,
      workDir: join(dir, 'work'),
      rootDir: join(dir, 'root'),
      pidFile: join(dir, 'init.pid'),
      logFile: join(dir, 'boot.log'),
    };
  };
  const s = p.subnet;
  const hosts = [host('bastion', 'bastion', `${s}.0.2`, 'eth1', 'bastion', `${s}.1.1`)];
  for (let i = 1; i <= p.registries; i++) {
    const address = `${s}.1.${10 + i}`;
    hosts.push(host(`registry-${i}`, 'registry', address, 'eth0', `r${i}`, address));
  }
  if (p.db) hosts.push(host('db-1', 'database', `${s}.1.5`, 'eth0', 'db1', `${s}.1.5`));
  return {
    name: p.name,
    subnet: s,
    registries: p.registries,
    db: p.db ?? false,
    stateDir,
    sharedDir,
    stateFile: join(stateDir, 'lab.json'),
    keyFile: join(stateDir, 'id_ed25519'),
    sshConfig: join(stateDir, 'ssh_config'),
    inventoryFile,
    knownHostsFile: knownHostsBeside(inventoryFile),
    secrets: labSecrets(p.name, inventoryFile, defaultInventory),
    range: `${s}.0.0/16`,
    controllerAddress: `${s}.0.1`,
    pubBridge: `${p.name}-pub`,
    pubVeth: `${p.name}-bas`,
    privNs: `${p.name}-priv`,
    hosts,
  };
}

/** Matches this lab's namespaces (and no other lab's, whatever its name): `<name>-bastion|priv|registry-N|db-1`. */
export function labNamespacePattern(name: string): RegExp {
  return new RegExp(`^${name}-(bastion|priv|registry-\\d+|db-1)$`);
}

export function labInfo(plan: LabPlan): LabInfo {
  return {
    name: plan.name,
    stateDir: plan.stateDir,
    inventoryFile: plan.inventoryFile,
    knownHostsFile: plan.knownHostsFile,
    secrets: plan.secrets,
    sshConfig: plan.sshConfig,
    keyFile: plan.keyFile,
    sharedDir: plan.sharedDir,
    hosts: plan.hosts.map(({ name, group, address, upperDir }) => ({ name, group, address, upperDir })),
  };
}
