// bench/scaling.svg: wall time against the number of hosts for both tools, first converge and
// no-op rerun, both axes logarithmic — drawn from the bench's own numbers (no plotting library).
import type { Results } from './report.ts';
import { median } from './stats.ts';

interface Line {
  label: string;
  color: string;
  dash: boolean;
  points: { hosts: number; seconds: number }[];
}

const W = 720;
const H = 440;
const M = { left: 70, right: 190, top: 40, bottom: 50 };

/** The four series, from the side-by-side rows (and harbormaster-only rows where Ansible did not run). */
function series(r: Results): Line[] {
  const hmRows = new Map<number, Results['converge'][number]['hm']>();
  for (const c of r.converge) hmRows.set(c.hosts, c.hm);
  for (const x of r.scale) if (!hmRows.has(x.hosts)) hmRows.set(x.hosts, x.hm);
  const hm = [...hmRows].sort((a, b) => a[0] - b[0]);
  const an = [...r.converge].sort((a, b) => a.hosts - b.hosts);
  return [
    { label: 'harbormaster, first converge', color: '#1f6feb', dash: false, points: hm.map(([hosts, s]) => ({ hosts, seconds: median(s.first) })) },
    { label: 'harbormaster, no-op rerun', color: '#1f6feb', dash: true, points: hm.map(([hosts, s]) => ({ hosts, seconds: median(s.rerun) })) },
    { label: 'Ansible, first converge', color: '#d1242f', dash: false, points: an.map((c) => ({ hosts: c.hosts, seconds: median(c.ansible.first) })) },
    { label: 'Ansible, no-op rerun', color: '#d1242f', dash: true, points: an.map((c) => ({ hosts: c.hosts, seconds: median(c.ansible.rerun) })) },
  ].filter((l) => l.points.length > 0);
}

/** Powers of ten (and 2×, 5×) spanning [lo, hi]. */
function ticks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v);
    }
  }
  return out;
}

const fmt = (v: number) => String(Number(v.toPrecision(3)));
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

export function scalingSvg(r: Results): string | undefined {
  const lines = series(r);
  const all = lines.flatMap((l) => l.points);
  if (all.length < 2) return undefined;
  const hosts = [...new Set(all.map((p) => p.hosts))].sort((a, b) => a - b);
  const [xlo, xhi] = [hosts[0]!, Math.max(hosts.at(-1)!, hosts[0]! * 2)];
  const ylo = 10 ** Math.floor(Math.log10(Math.min(...all.map((p) => p.seconds))));
  const yhi = 10 ** Math.ceil(Math.log10(Math.max(...all.map((p) => p.seconds))));
  const x = (v: number) => M.left + ((Math.log(v) - Math.log(xlo)) / (Math.log(xhi) - Math.log(xlo))) * (W - M.left - M.right);
  const y = (v: number) => H - M.bottom - ((Math.log(v) - Math.log(ylo)) / (Math.log(yhi) - Math.log(ylo))) * (H - M.top - M.bottom);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${M.left}" y="22" font-size="15" font-weight="bold">Wall time against hosts (log–log), ${esc(r.machine.date)}</text>`,
  ];
  for (const v of ticks(ylo, yhi)) {
    out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
    out.push(`<text x="${M.left - 6}" y="${y(v) + 4}" text-anchor="end">${fmt(v)} s</text>`);
  }
  for (const h of hosts) {
    out.push(`<line x1="${x(h)}" x2="${x(h)}" y1="${M.top}" y2="${H - M.bottom}" stroke="#eee"/>`);
    out.push(`<text x="${x(h)}" y="${H - M.bottom + 16}" text-anchor="middle">${h}</text>`);
  }
  out.push(`<text x="${(M.left + W - M.right) / 2}" y="${H - 12}" text-anchor="middle">hosts</text>`);
  lines.forEach((l, i) => {
    const d = l.points.map((p, j) => `${j ? 'L' : 'M'}${x(p.hosts).toFixed(1)},${y(p.seconds).toFixed(1)}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${l.color}" stroke-width="2"${l.dash ? ' stroke-dasharray="6 4"' : ''}/>`);
    for (const p of l.points) out.push(`<circle cx="${x(p.hosts).toFixed(1)}" cy="${y(p.seconds).toFixed(1)}" r="3" fill="${l.color}"><title>${esc(l.label)}: ${p.hosts} hosts, ${p.seconds.toFixed(2)} s</title></circle>`);
    const ly = M.top + 10 + i * 20;
    out.push(`<line x1="${W - M.right + 12}" x2="${W - M.right + 40}" y1="${ly}" y2="${ly}" stroke="${l.color}" stroke-width="2"${l.dash ? ' stroke-dasharray="6 4"' : ''}/>`);
    out.push(`<text x="${W - M.right + 46}" y="${ly + 4}">${esc(l.label)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
