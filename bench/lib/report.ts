import type { Machine } from './machine.ts';
import { median } from './stats.ts';
import type { RoundTrips } from './tool.ts';
import type { DataPathResult } from './datapath.ts';

/** Samples of one measured figure (seconds, or MB/s for uploads). */
export interface Pair {
  hm: number[];
  other: number[];
}

/** One tool's converge samples at one host count, in seconds. */
export interface Series {
  first: number[];
  rerun: number[];
  /** The tool's own run time without process start-up (harbormaster's recap wallMs), when it reports one. */
  firstInner: number[];
  rerunInner: number[];
}

export const newSeries = (): Series => ({ first: [], rerun: [], firstInner: [], rerunInner: [] });

export interface ConvergeRow {
  hosts: number;
  hm: Series;
  ansible: Series;
}

export interface ScaleRow {
  hosts: number;
  hm: Series;
  labUpSeconds: number;
  /** Proportional set size of every process in the lab's hosts. */
  labPssMiB: number;
  /** Disk used by the hosts' overlay upper dirs after the runs. */
  labUpperMiB: number;
}

export interface RoundTripRow {
  hosts: number;
  /** Per bench host, for the no-op rerun. */
  hm: RoundTrips;
  ansible: RoundTrips;
  /** Extra cost of reaching the hosts through the bastion, whole run. */
  hmBastion?: RoundTrips;
}

/** The real job: `site` against the reference's playbook ported to the lab, on fresh lab hosts. */
export interface SiteRow {
  registries: number;
  hm: Series;
  ansible: Series;
  /** Per host (the bastion and each registry host), mean of the no-op rerun. */
  roundTrips: { hm: RoundTrips; ansible: RoundTrips };
  /** harbormaster's no-op rerun started by the README's command, `npx zx scripts/site.mts`. */
  npxRerun: number[];
}

export interface Results {
  machine: Machine;
  site: SiteRow[];
  converge: ConvergeRow[];
  scale: ScaleRow[];
  roundTrips: RoundTripRow[];
  upload?: { mib: number; mbps: Pair };
  dataPath?: DataPathResult;
  vault?: { values: number; process: Pair; library: Pair };
  /** One exec on an open connection to a bench host through the bastion, ms: without and with output. */
  execLatency?: { silent: number; output: number };
  /** Seconds from start to exit doing nothing (`role --help`), by the compiled entry point and by zx + tsx. */
  startupSeconds?: { compiled: number; zx: number };
  notes: string[];
}

interface Line {
  figure: string;
  hm: string;
  other: string;
  ratio: string;
  target: string;
}

const s = (x: number) => (x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3)) + ' s';
const n = (xs: number[]) => (xs.length > 1 ? ` (med of ${xs.length})` : '');

/** `2.12 s (med of 3) (run 1.67 s)`: wall time, and the tool's own run time when known. */
function withInner(x: Series, key: 'first' | 'rerun'): string {
  const inner = key === 'first' ? x.firstInner : x.rerunInner;
  return s(median(x[key])) + n(x[key]) + (inner.length ? ` (run ${s(median(inner))})` : '');
}

/** ratio hm/other, and whether it meets `want` (a bound on the ratio) */
function ratioCell(hm: number, other: number, want?: { max?: number; min?: number }, better = 'faster'): { ratio: string; target: string } {
  const r = hm / other;
  const speed = r < 1 ? ` (${(1 / r).toFixed(1)}× ${better})` : '';
  const ratio = `${r.toFixed(3)}${speed}`;
  if (!want) return { ratio, target: '' };
  const ok = (want.max === undefined || r <= want.max) && (want.min === undefined || r >= want.min);
  const bound = want.max !== undefined ? `≤ ${want.max}` : `≥ ${want.min}`;
  return { ratio, target: `${bound}: ${ok ? 'met' : 'MISSED'}` };
}

function lines(r: Results): Line[] {
  const out: Line[] = [];
  for (const x of r.site) {
    const where = `site, bastion + ${x.registries} registr${x.registries > 1 ? 'ies' : 'y'}`;
    for (const [what, key] of [
      ['first converge', 'first'],
      ['no-op rerun', 'rerun'],
    ] as const) {
      const hm = median(x.hm[key]);
      const an = median(x.ansible[key]);
      out.push({ figure: `${where}: ${what}`, hm: s(hm) + n(x.hm[key]), other: s(an) + n(x.ansible[key]), ...ratioCell(hm, an) });
    }
    const hm = x.roundTrips.hm.exec + x.roundTrips.hm.sftp;
    const an = x.roundTrips.ansible.exec + x.roundTrips.ansible.sftp;
    out.push({ figure: `${where}: round trips per host, no-op rerun`, hm: String(hm), other: String(an), ...ratioCell(hm, an, undefined, 'fewer') });
    if (x.npxRerun.length) {
      const npx = median(x.npxRerun);
      const ok = npx < 1;
      out.push({ figure: `${where}: no-op rerun by \`npx zx scripts/site.mts\``, hm: s(npx) + n(x.npxRerun), other: '', ratio: '', target: `< 1.0 s: ${ok ? 'met' : 'MISSED'}` });
    }
  }
  for (const c of r.converge) {
    for (const [what, key, max] of [
      ['first converge', 'first', 0.1],
      ['no-op rerun', 'rerun', 0.05],
    ] as const) {
      const hm = median(c.hm[key]);
      const an = median(c.ansible[key]);
      out.push({
        figure: `${what}, ${c.hosts} host${c.hosts > 1 ? 's' : ''}`,
        hm: withInner(c.hm, key),
        other: s(an) + n(c.ansible[key]),
        ...ratioCell(hm, an, { max }),
      });
    }
  }
  for (const t of r.roundTrips) {
    const hm = t.hm.exec + t.hm.sftp;
    const an = t.ansible.exec + t.ansible.sftp;
    out.push({
      figure: `round trips per host, no-op rerun (${t.hosts} host${t.hosts > 1 ? 's' : ''})`,
      hm: `${hm} (${t.hm.exec} exec + ${t.hm.sftp} sftp)`,
      other: `${an} (${t.ansible.exec} exec + ${t.ansible.sftp} sftp)`,
      ...ratioCell(hm, an, undefined, 'fewer'),
    });
  }
  if (r.upload) {
    const hm = median(r.upload.mbps.hm);
    const sc = median(r.upload.mbps.other);
    out.push({ figure: `upload ${r.upload.mib} MiB via bastion (MB/s) vs scp`, hm: `${hm.toFixed(1)} MB/s${n(r.upload.mbps.hm)}`, other: `${sc.toFixed(1)} MB/s${n(r.upload.mbps.other)}`, ratio: (hm / sc).toFixed(3), target: `≥ 0.8: ${hm / sc >= 0.8 ? 'met' : 'MISSED'}` });
  }
  if (r.dataPath) {
    for (const dir of ['push', 'pull'] as const) {
      const proxy = median(r.dataPath[dir].proxy);
      const direct = median(r.dataPath[dir].direct);
      const mbs = (x: number, xs: number[]) => `${x.toFixed(0)} MB/s${n(xs)}`;
      out.push({
        figure: `skopeo ${dir} ${r.dataPath.mib} MiB: through the proxy vs straight to the registry`,
        hm: mbs(proxy, r.dataPath[dir].proxy),
        other: `direct ${mbs(direct, r.dataPath[dir].direct)}`,
        ratio: (proxy / direct).toFixed(3),
        target: `≥ 0.9: ${proxy / direct >= 0.9 ? 'met' : 'MISSED'}`,
      });
    }
  }
  if (r.vault) {
    for (const [what, p] of [
      ['process', r.vault.process],
      ['library, in-process', r.vault.library],
    ] as const) {
      const hm = median(p.hm);
      const an = median(p.other);
      out.push({ figure: `decrypt ${r.vault.values} vault values (${what})`, hm: s(hm) + n(p.hm), other: s(an) + n(p.other), ...ratioCell(hm, an, { max: 1 }) });
    }
  }
  return out;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => '| ' + r.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  return [fmt(rows[0]!), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...rows.slice(1).map(fmt)].join('\n');
}

export function comparisonTable(r: Results): string {
  const head = ['figure', 'harbormaster', 'Ansible / OpenSSH', 'ratio hm/Ansible', 'target'];
  return table([head, ...lines(r).map((l) => [l.figure, l.hm, l.other, l.ratio, l.target])]);
}

export function scaleTable(r: Results): string {
  const head = ['hosts', 'first converge', 'no-op rerun', 'rerun per host', 'lab up', 'lab memory (PSS)', 'overlay upper dirs'];
  return table([
    head,
    ...r.scale.map((x) => [
      String(x.hosts),
      withInner(x.hm, 'first'),
      withInner(x.hm, 'rerun'),
      s(median(x.hm.rerun) / x.hosts),
      s(x.labUpSeconds),
      `${x.labPssMiB.toFixed(0)} MiB (${(x.labPssMiB / (x.hosts + 1)).toFixed(1)} MiB/host)`,
      `${x.labUpperMiB.toFixed(1)} MiB`,
    ]),
  ]);
}

export function machineLines(m: Machine): string[] {
  return [
    `- date: ${m.date}`,
    `- machine: ${m.cores} cores (${m.cpu}), ${m.memoryGiB} GiB memory, ${m.kernel}`,
    `- versions: node ${m.node}, ${m.ansible} (python ${m.python}), ${m.openssh}, harbormaster ${m.gitSha}`,
    `- 1-minute load average: ${m.load.start.toFixed(1)} at the start, ${m.load.end?.toFixed(1) ?? '?'} at the end (other work on the machine shows here)`,
  ];
}

export function renderResults(r: Results): string {
  const latency = r.execLatency
    ? [`One exec on an open connection to a bench host through the bastion: ${r.execLatency.silent.toFixed(1)} ms for a command without output, ${r.execLatency.output.toFixed(1)} ms for one that prints a line.`]
    : [];
  const startup = r.startupSeconds
    ? [
        `harbormaster start-up (\`role --help\`, every module loaded): ${s(r.startupSeconds.compiled)} by \`bin/harbormaster.mjs\` (compiled, what the runs above use), ` +
          `${s(r.startupSeconds.zx)} by \`npx zx scripts/role.mts\` (zx + tsx, not counting npx).`,
      ]
    : [];
  const notes = [...startup, ...latency, ...r.notes];
  return [
    '# harbormaster vs Ansible — benchmark results',
    '',
    'Written by `npm run bench` (bench/run.mts); methods and fairness notes in bench/README.md.',
    'harbormaster times are whole-process wall times; "run" is its own recap time (without node/tsx start-up).',
    '',
    ...machineLines(r.machine),
    '',
    '## Side by side',
    '',
    comparisonTable(r),
    '',
    ...(r.converge.length > 1 ? ['![wall time against hosts, both tools, log scale](scaling.svg)', ''] : []),
    ...(r.scale.length ? ['## harbormaster alone, growing the lab', '', scaleTable(r), ''] : []),
    ...(notes.length ? ['## Notes', '', ...notes.map((n) => `- ${n}`), ''] : []),
  ].join('\n');
}
