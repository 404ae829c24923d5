// The registry's data path: skopeo pushes and pulls a large image of incompressible layers through
// the proxy (Apache on the bastion, TLS both ways) and straight to the registry host, from the
// same place (inside the bastion host, which sits on both networks), so the difference is the proxy.
import { createHash, randomFillSync } from 'node:crypto';
import { chmod, copyFile, mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { labExec, type LabInfo } from '../../lib/lab/index.ts';
import { median } from './stats.ts';

export interface DataPathResult {
  mib: number;
  layers: number;
  /** MB/s per sample. */
  push: { proxy: number[]; direct: number[] };
  pull: { proxy: number[]; direct: number[] };
}

/** Where on the bastion the bench keeps its files (inside the host: /root/hm-datapath). */
const HOST_DIR = '/root/hm-datapath';

/** A ustar header for one regular file. */
function tarHeader(name: string, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 'utf8');
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(size.toString(8).padStart(11, '0') + '\0', 124);
  h.write('00000000000\0', 136);
  h.write('        ', 148); // checksum field counts as spaces
  h.write('0', 156);
  h.write('ustar\0' + '00', 257);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return h;
}

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/**
 * An OCI image layout of `layers` uncompressed tar layers of random bytes, `mib` MiB in all,
 * written to `dir`. Random data each time: no blob can be skipped or mounted from an earlier push.
 */
export async function writeImage(dir: string, mib: number, layers: number): Promise<number> {
  await rm(dir, { recursive: true, force: true });
  const blobs = path.join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const per = Math.floor((mib * 1024 * 1024) / layers);
  const chunk = Buffer.alloc(1 << 20);
  const descriptors: { mediaType: string; digest: string; size: number }[] = [];
  let total = 0;
  for (let l = 0; l < layers; l++) {
    const tmp = path.join(blobs, `layer-${l}`);
    const f = await open(tmp, 'w');
    const hash = createHash('sha256');
    const put = async (b: Buffer) => {
      hash.update(b);
      await f.write(b);
    };
    await put(tarHeader(`data-${l}.bin`, per));
    for (let left = per; left > 0; left -= chunk.length) await put(randomFillSync(chunk).subarray(0, Math.min(left, chunk.length)));
    await put(Buffer.alloc((512 - (per % 512)) % 512 + 1024));
    await f.close();
    const digest = hash.digest('hex');
    const size = 512 + per + ((512 - (per % 512)) % 512) + 1024;
    await rename(tmp, path.join(blobs, digest));
    descriptors.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${digest}`, size });
    total += size;
  }
  const config = JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: descriptors.map((d) => d.digest) },
    config: {},
  });
  await writeFile(path.join(blobs, sha(config)), config);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${sha(config)}`, size: Buffer.byteLength(config) },
    layers: descriptors,
  });
  await writeFile(path.join(blobs, sha(manifest)), manifest);
  await writeFile(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(
    path.join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${sha(manifest)}`, size: Buffer.byteLength(manifest) }] }),
  );
  return total;
}

/** Runs a command inside the bastion host; its wall time in seconds. */
async function timedInBastion(lab: LabInfo, cmd: string): Promise<number> {
  const t0 = performance.now();
  const r = await labExec(lab, 'bastion', cmd);
  if (r.code !== 0) throw new Error(`bastion: ${cmd.split(' ').slice(0, 3).join(' ')}… failed: ${(r.stderr || r.stdout).trim().slice(-800)}`);
  return (performance.now() - t0) / 1000;
}

/**
 * Push then pull a fresh `mib` MiB image through the proxy and straight to registry-1, `samples`
 * times each, alternating which path goes first. `lab` is a converged site with one registry;
 * `user`/`password` a registry user (kept in a 0600 auth file inside the host, never in argv).
 */
export async function benchDataPath(
  lab: LabInfo,
  opts: { publicName: string; user: string; password: string; mib: number; layers: number; samples: number },
  progress: (m: string) => void,
): Promise<DataPathResult> {
  const bastion = lab.hosts.find((h) => h.name === 'bastion')!;
  const registry = lab.hosts.find((h) => h.group === 'registry')!;
  const local = path.join(bastion.upperDir, HOST_DIR.slice(1));
  await mkdir(local, { recursive: true, mode: 0o700 });
  await chmod(local, 0o700);
  const auth = Buffer.from(`${opts.user}:${opts.password}`).toString('base64');
  const hosts = { proxy: opts.publicName, direct: registry.address };
  await writeFile(path.join(local, 'auth.json'), JSON.stringify({ auths: { [hosts.proxy]: { auth }, [hosts.direct]: { auth } } }), { mode: 0o600 });
  await mkdir(path.join(local, 'certs'), { recursive: true });
  await copyFile(path.join(registry.upperDir, 'etc/harbormaster/tls/ca.crt'), path.join(local, 'certs', 'ca.crt'));
  // The public name reaches this host's own Apache, as it does for clients from outside.
  await timedInBastion(lab, `grep -q ' ${opts.publicName}$' /etc/hosts || echo '127.0.0.1 ${opts.publicName}' >> /etc/hosts`);
  const flags = `--authfile ${HOST_DIR}/auth.json`;
  const result: DataPathResult = { mib: opts.mib, layers: opts.layers, push: { proxy: [], direct: [] }, pull: { proxy: [], direct: [] } };
  for (let i = 0; i < opts.samples; i++) {
    const order: ('proxy' | 'direct')[] = i % 2 ? ['direct', 'proxy'] : ['proxy', 'direct'];
    for (const via of order) {
      const bytes = await writeImage(path.join(local, 'image'), opts.mib, opts.layers);
      const ref = `docker://${hosts[via]}/bench/data:${via}-${i}`;
      const push = await timedInBastion(lab, `skopeo copy -q ${flags} --dest-cert-dir ${HOST_DIR}/certs oci:${HOST_DIR}/image ${ref}`);
      const pull = await timedInBastion(lab, `rm -rf /tmp/pulled && skopeo copy -q ${flags} --src-cert-dir ${HOST_DIR}/certs ${ref} dir:/tmp/pulled && rm -rf /tmp/pulled`);
      result.push[via].push(bytes / 1e6 / push);
      result.pull[via].push(bytes / 1e6 / pull);
      progress(`  ${via}: push ${(bytes / 1e6 / push).toFixed(0)} MB/s, pull ${(bytes / 1e6 / pull).toFixed(0)} MB/s`);
    }
  }
  await rm(local, { recursive: true, force: true });
  return result;
}

/** The proxy's cost: 1 − proxy/direct throughput (medians). */
export const proxyCost = (r: DataPathResult, dir: 'push' | 'pull'): number => 1 - median(r[dir].proxy) / median(r[dir].direct);
