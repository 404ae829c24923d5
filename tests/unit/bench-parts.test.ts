// Pieces of the bench that can be checked without a lab: the image it pushes (read back by
// skopeo), the picture it draws, and the ported reference playbook (Ansible's own syntax check).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { writeImage } from '../../bench/lib/datapath.ts';
import { newSeries, type Results } from '../../bench/lib/report.ts';
import { scalingSvg } from '../../bench/lib/svg.ts';

const have = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

t.test('the data-path image is an OCI layout skopeo copies with every digest checked', { skip: !have('skopeo') && 'skopeo is not installed' }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hm-bench-image-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const bytes = await writeImage(join(dir, 'img'), 3, 3);
  t.ok(bytes > 3 * 1024 * 1024 && bytes < 3 * 1024 * 1024 + 3 * 4096, `${bytes} bytes of layers`);
  const raw = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', `oci:${join(dir, 'img')}`], { encoding: 'utf8' }));
  t.equal(raw.layers.length, 3);
  // dir: verifies each blob against its digest as it copies
  execFileSync('skopeo', ['copy', '-q', `oci:${join(dir, 'img')}`, `dir:${join(dir, 'out')}`]);
  const copied = await readdir(join(dir, 'out'));
  for (const l of raw.layers) t.ok(copied.includes(l.digest.slice('sha256:'.length)), `layer ${l.digest.slice(0, 19)} copied`);
  const again = await writeImage(join(dir, 'img2'), 3, 3);
  const raw2 = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', `oci:${join(dir, 'img2')}`], { encoding: 'utf8' }));
  t.equal(again, bytes);
  t.not(raw2.layers[0].digest, raw.layers[0].digest, 'fresh random data each time: no blob can be reused');
  const tar = execFileSync('tar', ['-tvf', join(dir, 'img/blobs/sha256', raw.layers[0].digest.slice(7))], { encoding: 'utf8' });
  t.match(tar, /data-0\.bin/, 'a layer is a tar that tar reads');
});

t.test('scaling.svg has a line per tool and run kind, on log axes, from the numbers given', async (t) => {
  const series = (first: number[], rerun: number[]) => ({ ...newSeries(), first, rerun });
  const r = {
    machine: { date: '2026-12-03' },
    site: [],
    converge: [1, 5, 20].map((hosts) => ({ hosts, hm: series([0.5 * hosts], [0.3 * hosts]), ansible: series([8 * hosts], [7 * hosts]) })),
    scale: [{ hosts: 50, hm: series([20], [9]), labUpSeconds: 1, labPssMiB: 1, labUpperMiB: 1 }],
    roundTrips: [],
    notes: [],
  } as unknown as Results;
  const svg = scalingSvg(r)!;
  t.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  t.equal(svg.match(/<path /g)?.length, 4, 'four lines');
  t.equal(svg.match(/<circle /g)?.length, 4 + 4 + 3 + 3, 'harbormaster at 1/5/20/50, Ansible at 1/5/20');
  t.match(svg, /<title>Ansible, first converge: 20 hosts, 160\.00 s<\/title>/);
  t.match(svg, />0\.1 s</, 'the y axis starts at the power of ten below the fastest run');
  t.match(svg, />1000 s</, 'and ends at the one above the slowest');
  t.equal(scalingSvg({ ...r, converge: [], scale: [] }), undefined, 'nothing to draw: no picture');
});

t.test('the ported reference playbook passes ansible-playbook --syntax-check', { skip: !have('ansible-playbook') && 'ansible-core is not installed' }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hm-bench-site-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const inv = join(dir, 'hosts.ini');
  await writeFile(inv, '[bastion]\nb\n[registry]\nr\n');
  const r = spawnSync('ansible-playbook', ['--syntax-check', '-i', inv, 'bench/ansible/site/site.yml'], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr + r.stdout);
  const playbook = await readFile('bench/ansible/site/site.yml', 'utf8');
  t.match(playbook, /meta: flush_handlers/, 'the health check runs after the restarts');
});
