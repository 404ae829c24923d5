/**
 * `npm run bench [-- --quick]`: harbormaster against Ansible (and OpenSSH scp, ansible-vault) on
 * the same lab hosts. Prints a table of every figure with the ratio harbormaster/Ansible and writes
 * bench/RESULTS.md (not with --quick). Needs root (the lab), ansible-core and OpenSSH.
 *
 *   --quick            1 host, 1 sample, a 64 MiB upload; prints only (a smoke run)
 *   --sizes 1,5,20,50  host counts compared with Ansible
 *   --scale N,...      extra host counts run with harbormaster alone
 *   --samples 3        samples per figure below 20 hosts (one at 20 and above)
 *   --upload-mib 512   size of the upload
 *   --site-sizes 1,5   registry hosts behind the bastion for the site comparison
 *   --image-mib 1024   size of the image pushed and pulled through the proxy and straight
 *   --only LIST        any of site,datapath,converge,scale,upload,vault
 *   --keep-lab         leave the last lab up
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runMain } from '../lib/cli.ts';
import { UserError } from '../lib/errors.ts';
import { buildHarbormaster, harbormasterStartup, harbormasterTool } from './lib/harbormaster.ts';
import { ansibleTool } from './lib/ansible.ts';
import { downLab, freshLab, labCost, wipe, type BenchLab } from './lib/lab.ts';
import { describeMachine } from './lib/machine.ts';
import { BENCH_DIR, REPO_DIR } from './lib/paths.ts';
import { newSeries, renderResults, type ConvergeRow, type Results, type Series, type SiteRow } from './lib/report.ts';
import { scalingSvg } from './lib/svg.ts';
import { benchDataPath, type DataPathResult } from './lib/datapath.ts';
import { ansibleSite, checkSite, downSiteLab, freshSiteLab, harbormasterSite, siteFilesFrom } from './lib/site.ts';
import { checkRecap, type RoundTrips, type Tool } from './lib/tool.ts';
import { benchUpload, execLatency } from './lib/upload.ts';
import { benchVault } from './lib/vault.ts';

const started = performance.now();
function progress(message: string): void {
  const s = Math.round((performance.now() - started) / 1000);
  process.stderr.write(`[${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}] ${message}\n`);
}

const list = (s: string) => s.split(',').filter(Boolean).map(Number);

function options() {
  // under zx, argv also holds the script path: positionals are allowed and ignored
  const { values } = parseArgs({
    allowPositionals: true,
    options: {
      quick: { type: 'boolean', default: false },
      sizes: { type: 'string', default: '1,5,20,50' },
      scale: { type: 'string', default: '' },
      samples: { type: 'string', default: '3' },
      'upload-mib': { type: 'string', default: '512' },
      'site-sizes': { type: 'string', default: '1,5' },
      'image-mib': { type: 'string', default: '1024' },
      only: { type: 'string', default: 'site,datapath,converge,scale,upload,vault' },
      'keep-lab': { type: 'boolean', default: false },
    },
  });
  const quick = values.quick!;
  const o = {
    quick,
    sizes: quick ? [1] : list(values.sizes!),
    siteSizes: quick ? [1] : list(values['site-sizes']!),
    scale: quick ? [] : list(values.scale!),
    samples: quick ? 1 : Number(values.samples),
    uploadMiB: quick ? 64 : Number(values['upload-mib']),
    imageMiB: quick ? 64 : Number(values['image-mib']),
    only: new Set(values.only!.split(',')),
    keepLab: values['keep-lab']!,
  };
  if ([...o.sizes, ...o.siteSizes, ...o.scale, o.samples, o.uploadMiB, o.imageMiB].some((n) => !Number.isInteger(n) || n < 1)) {
    throw new UserError('--sizes, --site-sizes, --scale, --samples, --upload-mib and --image-mib take positive whole numbers');
  }
  return o;
}

/** Samples at a host count: medians of `samples` below 20 hosts, one run at 20 and above (Ansible needs minutes there). */
const samplesAt = (hosts: number, samples: number) => (hosts >= 20 ? 1 : samples);

/** First converge on fresh trees, then the no-op rerun, for one tool; both are checked, not just timed. */
async function convergeOnce(tool: Tool, lab: BenchLab, into: Series): Promise<void> {
  await wipe(lab, tool.root);
  const first = await tool.run(lab);
  checkRecap(tool.name, 'first converge', first, lab.hosts.length, tool.firstChanged);
  const rerun = await tool.run(lab);
  checkRecap(tool.name, 'no-op rerun', rerun, lab.hosts.length, 0);
  await tool.endSample();
  into.first.push(first.seconds);
  into.rerun.push(rerun.seconds);
  if (first.innerSeconds !== undefined) into.firstInner.push(first.innerSeconds);
  if (rerun.innerSeconds !== undefined) into.rerunInner.push(rerun.innerSeconds);
  progress(`  ${tool.name}: first converge ${first.seconds.toFixed(2)} s, rerun ${rerun.seconds.toFixed(2)} s`);
}

/** Both tools at one host count, alternating which goes first so neither always meets the colder machine. */
async function compare(tools: { hm: Tool; ansible: Tool }, lab: BenchLab, samples: number): Promise<ConvergeRow> {
  const row: ConvergeRow = { hosts: lab.hosts.length, hm: newSeries(), ansible: newSeries() };
  for (let s = 0; s < samples; s++) {
    progress(`${row.hosts} host(s), sample ${s + 1}/${samples}`);
    for (const key of s % 2 ? (['hm', 'ansible'] as const) : (['ansible', 'hm'] as const)) {
      await convergeOnce(tools[key], lab, row[key]);
    }
  }
  return row;
}

/**
 * The real job on fresh lab hosts, both sides: first converge and no-op rerun (both checked), medians
 * of `samples`; every first converge gets a new lab. Ansible deploys the secrets harbormaster made.
 */
async function compareSite(work: string, registries: number, samples: number): Promise<SiteRow> {
  const hm = harbormasterSite(work);
  const row: SiteRow = { registries, hm: newSeries(), ansible: newSeries(), roundTrips: { hm: { exec: 0, sftp: 0 }, ansible: { exec: 0, sftp: 0 } }, npxRerun: [] };
  // Converged once, untimed, so that Ansible deploys the same certificate, users and secret.
  const prep = await freshSiteLab(work, registries, progress);
  await hm.run(prep);
  const ansible = ansibleSite(work, await siteFilesFrom(prep, work));
  const hosts = registries + 1;
  for (let i = 0; i < samples; i++) {
    progress(`site, ${registries} registr${registries > 1 ? 'ies' : 'y'}: sample ${i + 1}/${samples}`);
    const order = i % 2 ? ['ansible', 'hm'] : ['hm', 'ansible'];
    for (const key of order) {
      const lab = await freshSiteLab(work, registries, progress);
      const side = key === 'hm' ? hm : ansible;
      const first = await side.run(lab);
      checkSite(side.name, 'first converge', first, hosts);
      const rerun = await side.run(lab, { count: i === 0 });
      checkSite(side.name, 'no-op rerun', rerun, hosts);
      await side.endSample();
      const series = key === 'hm' ? row.hm : row.ansible;
      series.first.push(first.seconds);
      series.rerun.push(rerun.seconds);
      if (i === 0) row.roundTrips[key === 'hm' ? 'hm' : 'ansible'] = mean([...rerun.roundTrips.values()]);
      if (key === 'hm') {
        const npx = await hm.run(lab, { npx: true });
        checkSite('npx zx scripts/site.mts', 'no-op rerun', npx, hosts);
        row.npxRerun.push(npx.seconds);
      }
      progress(`  ${side.name}: first converge ${first.seconds.toFixed(2)} s, rerun ${rerun.seconds.toFixed(2)} s`);
    }
  }
  return row;
}

/** skopeo push and pull of a fresh image, through the proxy and straight to the registry host. */
async function dataPath(work: string, mib: number, samples: number): Promise<DataPathResult> {
  progress(`data path: ${mib} MiB image, through the proxy and straight to registry-1`);
  const lab = await freshSiteLab(work, 1, progress);
  const hm = harbormasterSite(work);
  await hm.run(lab);
  const files = await siteFilesFrom(lab, work);
  return benchDataPath(lab, { publicName: files.vars.registry_public_name!, ...(await hm.registryUser()), mib, layers: 4, samples }, progress);
}

const mean = (xs: RoundTrips[]): RoundTrips => ({
  exec: Math.round(xs.reduce((n, x) => n + x.exec, 0) / xs.length),
  sftp: Math.round(xs.reduce((n, x) => n + x.sftp, 0) / xs.length),
});

async function main(): Promise<void> {
  const o = options();
  const work = path.join(tmpdir(), 'harbormaster-bench');
  await mkdir(work, { recursive: true, mode: 0o700 });
  await chmod(work, 0o700); // holds the vault password file and lab inventories
  const results: Results = { machine: await describeMachine(REPO_DIR), site: [], converge: [], scale: [], roundTrips: [], notes: [] };
  const hm = harbormasterTool();
  await buildHarbormaster();
  const ansible = ansibleTool(work);
  progress(`harbormaster ${results.machine.gitSha}, ${results.machine.ansible}, ${results.machine.cores} cores`);

  if (o.only.has('converge')) results.startupSeconds = await harbormasterStartup();
  if (o.only.has('vault')) results.vault = await benchVault(work, o.samples, progress);

  if (o.only.has('site') || o.only.has('datapath')) {
    try {
      if (o.only.has('site')) for (const n of o.siteSizes) results.site.push(await compareSite(work, n, o.samples));
      if (o.only.has('datapath')) results.dataPath = await dataPath(work, o.imageMiB, o.samples);
    } finally {
      if (!o.keepLab) await downSiteLab();
    }
  }

  const compareAt = o.only.has('converge') ? o.sizes : [];
  const scaleAt = o.only.has('scale') ? [...new Set([...compareAt, ...o.scale])].sort((a, b) => a - b) : [];
  const labSizes = [...new Set([...compareAt, ...scaleAt, ...(o.only.has('upload') ? [1] : [])])].sort((a, b) => a - b);
  try {
    for (const n of labSizes) {
      progress(`lab with ${n} bench host${n > 1 ? 's' : ''}`);
      const lab = await freshLab(work, n, progress);
      progress(`lab up in ${lab.upSeconds.toFixed(1)} s`);
      const samples = samplesAt(n, o.samples);
      let hmSeries: Series | undefined;
      if (compareAt.includes(n)) {
        const row = await compare({ hm, ansible }, lab, samples);
        results.converge.push(row);
        hmSeries = row.hm;
        progress(`${n} host(s): counting round trips of a no-op rerun`);
        const [hmTrips, anTrips] = [await hm.countRerun(lab), await ansible.countRerun(lab)];
        results.roundTrips.push({ hosts: n, hm: mean([...hmTrips.values()]), ansible: mean([...anTrips.values()]) });
      } else if (scaleAt.includes(n)) {
        hmSeries = newSeries();
        for (let s = 0; s < samples; s++) await convergeOnce(hm, lab, hmSeries);
      }
      if (hmSeries && scaleAt.includes(n)) {
        const cost = await labCost(lab);
        results.scale.push({ hosts: n, hm: hmSeries, labUpSeconds: lab.upSeconds, labPssMiB: cost.pssMiB, labUpperMiB: cost.upperMiB });
        progress(`lab memory ${cost.pssMiB.toFixed(0)} MiB PSS, upper dirs ${cost.upperMiB.toFixed(1)} MiB`);
      }
      if (n === 1 && o.only.has('upload')) {
        results.upload = await benchUpload(lab, work, o.uploadMiB, o.samples, progress);
        results.execLatency = await execLatency(lab);
        progress(`one exec through the bastion: ${results.execLatency.silent.toFixed(1)} ms silent, ${results.execLatency.output.toFixed(1)} ms with output`);
      }
    }
  } finally {
    if (!o.keepLab) await downLab();
  }

  results.machine.load.end = loadavg()[0];
  const report = renderResults(results);
  process.stdout.write('\n' + report + '\n');
  if (!o.quick) {
    await writeFile(path.join(BENCH_DIR, 'RESULTS.md'), report + '\n');
    const svg = scalingSvg(results);
    if (svg) await writeFile(path.join(BENCH_DIR, 'scaling.svg'), svg);
    progress(`wrote bench/RESULTS.md${svg ? ' and bench/scaling.svg' : ''}`);
  }
}

await runMain('bench', main);
