import { UserError } from '../errors.ts';
import type { LabPlan, PlannedHost } from './plan.ts';
import { mapLimit, mustRun, run } from './run.ts';

/**
 * The lab network. Root namespace: the public bridge with the controller's address, the
 * bastion's veth end, and an unreachable route for the lab's whole range. The private bridge
 * lives in a namespace of its own, so the controller has no interface on the private network.
 * Every host namespace has no default route: nothing leaves the lab.
 */

interface RouteEntry {
  type?: string;
  dst: string;
  dev?: string;
}

/**
 * A MAC address derived from the interface's IPv4 address (locally administered, 02:4d:a:b:c:d).
 * A rebuilt host then keeps its MAC, so its neighbours' ARP entries stay right.
 */
function macFor(ip: string): string {
  return ['02', '4d', ...ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0'))].join(':');
}

/** Runs `ip` commands as one batch, in namespace `ns` or the root namespace. */
async function ipBatch(ns: string | null, lines: string[]): Promise<void> {
  if (lines.length === 0) return;
  await mustRun('ip', [...(ns ? ['-n', ns] : []), '-batch', '-'], { input: lines.join('\n') + '\n' });
}

export async function listNamespaces(): Promise<Set<string>> {
  const out = await mustRun('ip', ['-j', 'netns', 'list']);
  return new Set(((out.trim() ? JSON.parse(out) : []) as Array<{ name: string }>).map((n) => n.name));
}

export async function linkExists(ns: string | null, name: string): Promise<boolean> {
  const r = await run('ip', [...(ns ? ['-n', ns] : []), 'link', 'show', 'dev', name]);
  return r.code === 0;
}

async function routes(): Promise<RouteEntry[]> {
  return JSON.parse(await mustRun('ip', ['-j', '-4', 'route', 'show', 'table', 'all'])) as RouteEntry[];
}

function ipRange(cidr: string): [number, number] {
  const [addr, bits = '32'] = cidr.split('/');
  const n = addr!.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const size = 2 ** (32 - Number(bits));
  const start = n - (n % size);
  return [start, start + size - 1];
}

function overlaps(a: string, b: string): boolean {
  const [a0, a1] = ipRange(a);
  const [b0, b1] = ipRange(b);
  return a0 <= b1 && b0 <= a1;
}

function isOwnRoute(plan: LabPlan, r: RouteEntry): boolean {
  return r.dev === plan.pubBridge || (r.type === 'unreachable' && r.dst === plan.range);
}

async function ownUnreachableRoute(plan: LabPlan): Promise<boolean> {
  return (await routes()).some((r) => r.type === 'unreachable' && r.dst === plan.range);
}

/** Refuses a subnet that anything else on this machine (another lab, a real network) already routes. */
export async function assertSubnetFree(plan: LabPlan): Promise<void> {
  const clash = (await routes()).find((r) => r.dst !== 'default' && overlaps(r.dst, plan.range) && !isOwnRoute(plan, r));
  if (clash) {
    const what = [clash.type, clash.dst, clash.dev && `dev ${clash.dev}`].filter(Boolean).join(' ');
    throw new UserError(`--subnet ${plan.subnet}: ${plan.range} overlaps route "${what}" on this machine; pick another --subnet`);
  }
}

/** Creates whatever is missing of the bridges and the route that all hosts share. */
export async function ensureSharedNet(plan: LabPlan): Promise<void> {
  if (!(await listNamespaces()).has(plan.privNs)) await ipBatch(null, [`netns add ${plan.privNs}`]);
  if (!(await linkExists(plan.privNs, 'br0'))) await ipBatch(plan.privNs, ['link add br0 type bridge', 'link set br0 up']);
  const root: string[] = [];
  if (!(await linkExists(null, plan.pubBridge))) {
    root.push(
      `link add ${plan.pubBridge} address ${macFor(plan.controllerAddress)} type bridge`,
      `addr add ${plan.controllerAddress}/24 dev ${plan.pubBridge}`,
      `link set ${plan.pubBridge} up`,
    );
  }
  if (!(await ownUnreachableRoute(plan))) root.push(`route add unreachable ${plan.range}`);
  await ipBatch(null, root);
}

/** Creates the namespaces and wires up the given hosts (none of which may exist yet). */
export async function createHostNets(plan: LabPlan, hosts: PlannedHost[]): Promise<void> {
  const root: string[] = [];
  for (const h of hosts) {
    root.push(`netns add ${h.ns}`);
    if (h.group === 'bastion') {
      root.push(
        `link add ${plan.pubVeth} type veth peer name eth0 netns ${h.ns} address ${macFor(h.address)}`,
        `link set ${plan.pubVeth} master ${plan.pubBridge} up`,
      );
    }
    root.push(`link add ${h.privIf} netns ${h.ns} address ${macFor(h.privAddress)} type veth peer name ${h.privPort} netns ${plan.privNs}`);
  }
  await ipBatch(null, root);
  await ipBatch(plan.privNs, hosts.map((h) => `link set ${h.privPort} master br0 up`));
  await mapLimit(hosts, 8, (h) => {
    const lines = ['link set lo up', `addr add ${h.privAddress}/24 dev ${h.privIf}`, `link set ${h.privIf} up`];
    if (h.group === 'bastion') lines.push(`addr add ${h.address}/24 dev eth0`, 'link set eth0 up');
    return ipBatch(h.ns, lines);
  });
}

async function linkNames(ns: string | null): Promise<Set<string>> {
  const r = await run('ip', [...(ns ? ['-n', ns] : []), '-j', 'link', 'show']);
  return new Set(r.code === 0 ? (JSON.parse(r.stdout) as Array<{ ifname: string }>).map((l) => l.ifname) : []);
}

/**
 * Removes hosts' namespaces and their veth pairs. The veths go explicitly: a namespace still
 * pinned by some other process would otherwise keep them, and their peers, alive.
 */
export async function removeHostNets(plan: LabPlan, hosts: PlannedHost[]): Promise<void> {
  const namespaces = await listNamespaces();
  const privPorts = namespaces.has(plan.privNs) ? await linkNames(plan.privNs) : new Set<string>();
  const root = hosts.some((h) => h.group === 'bastion') && (await linkNames(null)).has(plan.pubVeth) ? [`link del ${plan.pubVeth}`] : [];
  await ipBatch(plan.privNs, hosts.filter((h) => privPorts.has(h.privPort)).map((h) => `link del ${h.privPort}`));
  await ipBatch(null, [...root, ...hosts.filter((h) => namespaces.has(h.ns)).map((h) => `netns del ${h.ns}`)]);
}

/** Removes the shared pieces: the private bridge's namespace, the public bridge and, if asked, the route. */
export async function removeSharedNet(plan: LabPlan, withRoute: boolean): Promise<void> {
  const lines: string[] = [];
  if ((await listNamespaces()).has(plan.privNs)) lines.push(`netns del ${plan.privNs}`);
  if (await linkExists(null, plan.pubBridge)) lines.push(`link del ${plan.pubBridge}`);
  if (withRoute && (await ownUnreachableRoute(plan))) lines.push(`route del unreachable ${plan.range}`);
  await ipBatch(null, lines);
}

/** The subnet a lab's public bridge carries (`A.B`), for tearing down a lab whose record is gone. */
export async function subnetOfBridge(bridge: string): Promise<string | null> {
  const r = await run('ip', ['-j', '-4', 'addr', 'show', 'dev', bridge]);
  if (r.code !== 0) return null;
  const local = (JSON.parse(r.stdout) as Array<{ addr_info: Array<{ local: string }> }>)[0]?.addr_info[0]?.local;
  return local ? local.split('.').slice(0, 2).join('.') : null;
}
