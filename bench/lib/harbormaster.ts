import path from 'node:path';
import { BENCH_DIR, REPO_DIR } from './paths.ts';
import { mustRun } from './proc.ts';
import { median } from './stats.ts';
import type { Recap, RoundTrips, Tool, ToolRun } from './tool.ts';

const ZX = path.join(REPO_DIR, 'node_modules', '.bin', 'zx');
const ROLE_SCRIPT = path.join(REPO_DIR, 'scripts', 'role.mts');

interface RecapEvent {
  type: 'recap';
  hosts: Record<string, Recap & { roundTrips: RoundTrips }>;
  wallMs: number;
}

/**
 * scripts/role.mts running bench/roles/bench with --json, from bench/ (so roles/ and templates/
 * resolve there). Started as `npx zx` would start it, minus npx's own start-up.
 */
export async function runHarbormaster(inventoryFile: string, hosts: number): Promise<ToolRun & { roundTrips: Map<string, RoundTrips> }> {
  const args = [ROLE_SCRIPT, '-i', inventoryFile, '--limit', 'registry', '--forks', String(hosts), '--json', 'bench'];
  const r = await mustRun('scripts/role.mts', ZX, args, { cwd: BENCH_DIR, env: { ...process.env, NODE_OPTIONS: '--import=tsx' } });
  const recap = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { type: string })
    .find((e): e is RecapEvent => e.type === 'recap');
  if (!recap) throw new Error(`scripts/role.mts printed no recap:\n${r.stdout.slice(-2000)}${r.stderr.slice(-2000)}`);
  const entries = Object.entries(recap.hosts);
  return {
    seconds: r.seconds,
    innerSeconds: recap.wallMs / 1000,
    recap: new Map(entries.map(([h, x]) => [h, { ok: x.ok, changed: x.changed, unreachable: x.unreachable, failed: x.failed }])),
    roundTrips: new Map(entries.map(([h, x]) => [h, x.roundTrips])),
  };
}

/** Start-up alone: `scripts/role.mts --help` loads the same modules as a run and exits (median of 5). */
export async function harbormasterStartup(): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < 5; i++) {
    xs.push((await mustRun('scripts/role.mts --help', ZX, [ROLE_SCRIPT, '--help'], { cwd: BENCH_DIR, env: { ...process.env, NODE_OPTIONS: '--import=tsx' } })).seconds);
  }
  return median(xs);
}

export function harbormasterTool(): Tool {
  return {
    name: 'harbormaster',
    root: '/srv/bench-hm',
    // 24 steps (stat + conditional are one step with a `when` test) + the handler
    firstChanged: 25,
    run: (lab) => runHarbormaster(lab.info.inventoryFile, lab.hosts.length),
    endSample: async () => {},
    async countRerun(lab) {
      return (await runHarbormaster(lab.info.inventoryFile, lab.hosts.length)).roundTrips;
    },
  };
}
