import path from 'node:path';
import { BENCH_DIR, REPO_DIR } from './paths.ts';
import { mustRun } from './proc.ts';
import { median } from './stats.ts';
import type { Recap, RoundTrips, Tool, ToolRun } from './tool.ts';

const ZX = path.join(REPO_DIR, 'node_modules', '.bin', 'zx');
const ROLE_SCRIPT = path.join(REPO_DIR, 'scripts', 'role.mts');
const LAUNCHER = path.join(REPO_DIR, 'bin', 'harbormaster.mjs');
const TSX = { ...process.env, NODE_OPTIONS: '--import=tsx' };
// As a user's shell starts bin/harbormaster.mjs: `npm run bench` put tsx in NODE_OPTIONS.
const { NODE_OPTIONS: _npm, ...PLAIN } = process.env;

interface RecapEvent {
  type: 'recap';
  hosts: Record<string, Recap & { roundTrips: RoundTrips }>;
  wallMs: number;
}

/**
 * bin/harbormaster.mjs role (the compiled entry point) running bench/roles/bench with --json,
 * from bench/ (so roles/ and templates/ resolve there).
 */
export async function runHarbormaster(inventoryFile: string, hosts: number): Promise<ToolRun & { roundTrips: Map<string, RoundTrips> }> {
  const args = ['-i', inventoryFile, '--limit', 'registry', '--forks', String(hosts), '--json', 'bench'];
  const r = await mustRun('bin/harbormaster.mjs role', process.execPath, [LAUNCHER, 'role', ...args], { cwd: BENCH_DIR, env: PLAIN });
  const recap = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { type: string })
    .find((e): e is RecapEvent => e.type === 'recap');
  if (!recap) throw new Error(`bin/harbormaster.mjs role printed no recap:\n${r.stdout.slice(-2000)}${r.stderr.slice(-2000)}`);
  const entries = Object.entries(recap.hosts);
  return {
    seconds: r.seconds,
    innerSeconds: recap.wallMs / 1000,
    recap: new Map(entries.map(([h, x]) => [h, { ok: x.ok, changed: x.changed, unreachable: x.unreachable, failed: x.failed }])),
    roundTrips: new Map(entries.map(([h, x]) => [h, x.roundTrips])),
  };
}

/** Compiles the entry point before any sample, so no sample pays for it. */
export async function buildHarbormaster(): Promise<void> {
  await mustRun('bin/build.mjs', process.execPath, [path.join(REPO_DIR, 'bin', 'build.mjs')], { cwd: REPO_DIR });
}

/** Start-up alone: `role --help` loads the same modules as a run and exits (median of 5), by both entry points. */
export async function harbormasterStartup(): Promise<{ compiled: number; zx: number }> {
  const time = async (label: string, cmd: string, args: string[], env = process.env) => {
    const xs: number[] = [];
    for (let i = 0; i < 5; i++) xs.push((await mustRun(label, cmd, args, { cwd: BENCH_DIR, env })).seconds);
    return median(xs);
  };
  return {
    compiled: await time('bin/harbormaster.mjs role --help', process.execPath, [LAUNCHER, 'role', '--help'], PLAIN),
    zx: await time('scripts/role.mts --help', ZX, [ROLE_SCRIPT, '--help'], TSX),
  };
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
