import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { UserError } from '../errors.ts';
import { writeClientFiles } from './clients.ts';
import { assertRoot, ensurePackages } from './deps.ts';
import { bootHost, execInHost, hasPlannedMounts, silentSshdError } from './host.ts';
import { prepareUpper } from './hostfs.ts';
import {
  assertSubnetFree,
  createHostNets,
  ensureSharedNet,
  linkExists,
  listNamespaces,
  removeHostNets,
  removeSharedNet,
  subnetOfBridge,
} from './net.ts';
import { checkName, DEFAULT_SUBNET, defaultStateDir, labInfo, labNamespacePattern, planLab } from './plan.ts';
import type { LabPlan, PlannedHost } from './plan.ts';
import { killNetnsProcesses, livePid, netnsInode, pidsInNetns, pssKiB } from './procs.ts';
import { sshBanners } from './probe.ts';
import { assertOwnStateDir, readRecord, writeRecord } from './record.ts';
import { mapLimit, mustRun } from './run.ts';
import type { ExecResult, HostStatus, LabInfo, LabRef, LabStatus, LabUpOptions } from './types.ts';

export type { ExecResult, HostStatus, LabHost, LabInfo, LabRef, LabStatus, LabUpOptions } from './types.ts';

/** Hosts booting at once: each boot is a few short processes, and the machine may have 2 cores. */
const BOOT_CONCURRENCY = 8;
const SSHD_WAIT_SECONDS = 30;

async function loadPlan(ref: LabRef): Promise<LabPlan | null> {
  checkName(ref.name);
  const record = await readRecord(resolve(ref.stateDir ?? defaultStateDir(ref.name)));
  return record && planLab(record);
}

/** The LabInfo of a lab that was brought up (from its state dir), or null. */
export async function labInfoFor(ref: LabRef): Promise<LabInfo | null> {
  const plan = await loadPlan(ref);
  return plan && labInfo(plan);
}

/** The inventory a lab writes: the one recorded when it is up, else its default path. */
export async function labInventoryFile(ref: LabRef): Promise<string> {
  return (await labInfoFor(ref))?.inventoryFile ?? planLab({ name: ref.name, subnet: DEFAULT_SUBNET, registries: 1, stateDir: ref.stateDir }).inventoryFile;
}

async function ensureControllerKey(plan: LabPlan): Promise<string> {
  if (!existsSync(plan.keyFile)) {
    await mustRun('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `harbormaster-lab-${plan.name}`, '-f', plan.keyFile]);
  }
  return readFile(`${plan.keyFile}.pub`, 'utf8');
}

/** Kills whatever runs in the hosts' namespaces and removes their network; their files stay. */
async function stopHosts(plan: LabPlan, hosts: PlannedHost[]): Promise<void> {
  const inodes = await Promise.all(hosts.map((h) => netnsInode(h.ns)));
  const inits = await Promise.all(hosts.map((h) => livePid(h.pidFile, h.ns)));
  await killNetnsProcesses(new Set(inodes.filter((i) => i !== null)), inits.filter((p) => p !== null));
  await removeHostNets(plan, hosts);
}

/** (Re)creates hosts from scratch but for their upper dirs, so they keep their host keys. */
async function rebuildHosts(plan: LabPlan, hosts: PlannedHost[], publicKey: string, progress: (m: string) => void): Promise<void> {
  if (hosts.length === 0) return;
  await stopHosts(plan, hosts);
  await createHostNets(plan, hosts);
  await mapLimit(hosts, BOOT_CONCURRENCY, async (h) => {
    await prepareUpper(plan, h, publicKey);
    await bootHost(h);
    progress(`${h.name} booted (${h.address})`);
  });
}

/** Private hosts whose sshd does not answer from the bastion, after waiting up to `waitSeconds`. */
async function silentPrivate(plan: LabPlan, hosts: PlannedHost[], waitSeconds: number): Promise<PlannedHost[]> {
  const banners = await sshBanners(plan.hosts[0]!.ns, hosts.map((h) => h.address), waitSeconds);
  return hosts.filter((h) => !banners.get(h.address));
}

/**
 * Brings every host to "running, sshd answering over the lab network". Healthy hosts are left
 * alone; dead or silent ones, and those lacking a mount the plan now gives them, are rebuilt.
 * The bastion comes first: the private hosts (registries, db) are checked through it.
 */
async function ensureHosts(plan: LabPlan, publicKey: string, progress: (m: string) => void): Promise<void> {
  const [bastion, ...others] = plan.hosts as [PlannedHost, ...PlannedHost[]];
  const alive = await Promise.all(plan.hosts.map((h) => livePid(h.pidFile, h.ns)));
  const mounted = await Promise.all(others.map((h, i) => alive[i + 1] !== null && hasPlannedMounts(h, alive[i + 1]!)));
  const running = others.filter((_, i) => mounted[i]);
  const dead = others.filter((h) => !running.includes(h));
  // Running private hosts are checked through the bastion, so only once the bastion answers.
  const bastionOk = alive[0] !== null && (await sshBanners(null, [bastion.address])).get(bastion.address);
  if (plan.sharedDir) await mkdir(plan.sharedDir, { recursive: true, mode: 0o755 });
  await rebuildHosts(plan, [...(bastionOk ? [] : [bastion]), ...dead], publicKey, progress);
  if (!(await sshBanners(null, [bastion.address], SSHD_WAIT_SECONDS)).get(bastion.address)) {
    throw await silentSshdError([bastion]);
  }
  await rebuildHosts(plan, await silentPrivate(plan, running, 0), publicKey, progress);
  progress(`checking sshd on ${others.length} private host${others.length === 1 ? '' : 's'} through the bastion`);
  const silent = await silentPrivate(plan, others, SSHD_WAIT_SECONDS);
  if (silent.length > 0) throw await silentSshdError(silent);
}

/**
 * Brings a lab up, or completes a partly-up one. Re-running on a running lab changes nothing;
 * `registries` may grow or shrink a running lab and `db` add or remove its db host; its subnet
 * may not change.
 */
export async function labUp(opts: LabUpOptions): Promise<LabInfo> {
  const progress = opts.onProgress ?? (() => {});
  assertRoot();
  checkName(opts.name);
  await ensurePackages(progress, opts.packages);
  const stateDir = resolve(opts.stateDir ?? defaultStateDir(opts.name));
  await assertOwnStateDir(stateDir);
  const recorded = await readRecord(stateDir);
  if (recorded && recorded.name !== opts.name) {
    throw new UserError(`state dir ${stateDir} belongs to lab "${recorded.name}", not "${opts.name}"`);
  }
  if (recorded && opts.subnet && opts.subnet !== recorded.subnet) {
    throw new UserError(`lab ${opts.name} is up with --subnet ${recorded.subnet}; run down first to change it`);
  }
  const plan = planLab({
    name: opts.name,
    subnet: opts.subnet ?? recorded?.subnet ?? DEFAULT_SUBNET,
    registries: opts.registries ?? recorded?.registries ?? 1,
    db: opts.db ?? recorded?.db ?? false,
    stateDir,
    inventoryFile: opts.inventoryFile ?? recorded?.inventoryFile,
  });
  if (!recorded) await assertNameFree(plan);
  await assertSubnetFree(plan);
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  if (recorded) await dropOutgrown(planLab(recorded), plan);
  await writeRecord(plan);
  const publicKey = await ensureControllerKey(plan);
  await ensureSharedNet(plan);
  await ensureHosts(plan, publicKey, progress);
  await writeClientFiles(plan);
  return labInfo(plan);
}

/** Namespaces and links are named after the lab: a lab of this name with another state dir would collide. */
async function assertNameFree(plan: LabPlan): Promise<void> {
  const pattern = labNamespacePattern(plan.name);
  const taken = [...(await listNamespaces())].find((ns) => pattern.test(ns)) ?? ((await linkExists(null, plan.pubBridge)) && plan.pubBridge);
  if (taken) {
    throw new UserError(
      `"${taken}" exists but ${plan.stateDir} records no lab ${plan.name}: another state dir or a leftover; run down --name ${plan.name} (with its --state-dir) or pick another --name`,
    );
  }
}

/** Removes what the recorded lab had and the new plan does not: extra hosts, shared storage, files at an old inventory path. */
async function dropOutgrown(old: LabPlan, plan: LabPlan): Promise<void> {
  const names = new Set(plan.hosts.map((h) => h.name));
  const outgrown = old.hosts.filter((h) => !names.has(h.name));
  await stopHosts(old, outgrown);
  await Promise.all(outgrown.map((h) => rm(h.dir, { recursive: true, force: true })));
  // Images in the shared storage stay with the lab while it has several registries.
  if (old.sharedDir && !plan.sharedDir) await rm(old.sharedDir, { recursive: true, force: true });
  if (old.inventoryFile !== plan.inventoryFile) {
    await Promise.all([rm(old.inventoryFile, { force: true }), rm(old.knownHostsFile, { force: true })]);
  }
}

/**
 * Removes every process, namespace, link and route of the lab, its state dir and the inventory
 * files it wrote. Works from the record in the state dir, and from the lab's names if that is
 * gone; a lab that does not exist is a no-op. Never touches another lab's pieces.
 */
export async function labDown(ref: LabRef): Promise<void> {
  assertRoot();
  checkName(ref.name);
  const stateDir = resolve(ref.stateDir ?? defaultStateDir(ref.name));
  const recorded = await readRecord(stateDir);
  const pattern = labNamespacePattern(ref.name);
  const namespaces = [...(await listNamespaces())].filter((ns) => pattern.test(ns));
  const found = Math.max(0, ...namespaces.map((ns) => Number(/-registry-(\d+)$/.exec(ns)?.[1] ?? 0)));
  const subnet = recorded?.subnet ?? (await subnetOfBridge(`${ref.name}-pub`));
  const plan = planLab({
    name: ref.name,
    subnet: subnet ?? DEFAULT_SUBNET,
    registries: Math.max(1, recorded?.registries ?? 1, found),
    db: recorded?.db || namespaces.includes(`${ref.name}-db-1`),
    stateDir,
    inventoryFile: recorded?.inventoryFile,
  });
  // The private bridge's namespace runs nothing of the lab's own, but a test may have entered it.
  const priv = await netnsInode(plan.privNs);
  if (priv !== null) await killNetnsProcesses(new Set([priv]), []);
  await stopHosts(plan, plan.hosts);
  // Without a record or bridge the subnet is unknown: leave routes alone rather than guess.
  await removeSharedNet(plan, subnet !== null);
  if (recorded) {
    await Promise.all([rm(plan.inventoryFile, { force: true }), rm(plan.knownHostsFile, { force: true })]);
    await rm(stateDir, { recursive: true, force: true });
  }
}

/** Hosts, addresses and whether each is running and its sshd answers; null when the lab is not up. */
export async function labStatus(ref: LabRef): Promise<LabStatus | null> {
  const plan = await loadPlan(ref);
  if (!plan) return null;
  const [bastion, ...others] = plan.hosts as [PlannedHost, ...PlannedHost[]];
  const viaBastion = (await netnsInode(bastion.ns)) !== null;
  const banners = new Map([
    ...(await sshBanners(null, [bastion.address])),
    ...(viaBastion ? await sshBanners(bastion.ns, others.map((h) => h.address)) : []),
  ]);
  const hosts: HostStatus[] = await Promise.all(
    labInfo(plan).hosts.map(async (h, i) => ({
      ...h,
      running: (await livePid(plan.hosts[i]!.pidFile, plan.hosts[i]!.ns)) !== null,
      sshBanner: banners.get(h.address) ?? null,
    })),
  );
  return { info: labInfo(plan), hosts };
}

/** Runs `bash -c cmd` as root inside a lab host's namespaces and root filesystem (no SSH involved). */
export async function labExec(info: LabInfo, host: string, cmd: string): Promise<ExecResult> {
  const plan = await loadPlan(info);
  const h = plan?.hosts.find((x) => x.name === host);
  if (!h) throw new UserError(`lab ${info.name} has no running host "${host}"`);
  return execInHost(h, cmd);
}

/** Memory of all the lab's processes (proportional set size, KiB). */
export async function labMemoryKiB(info: LabInfo): Promise<number> {
  const plan = await loadPlan(info);
  if (!plan) return 0;
  const inodes = await Promise.all([...plan.hosts.map((h) => h.ns), plan.privNs].map(netnsInode));
  const pids = await pidsInNetns(new Set(inodes.filter((i): i is number => i !== null)));
  return pssKiB([...pids.values()].flat());
}
