// The smoke test's image, built in code: one gzipped tar layer holding one small file, an OCI
// image config and an OCI manifest. No docker client, no network. Deterministic: the same bytes
// every run, so a registry whose stored blob went bad is caught by the next run's pull.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';

export const MEDIA = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

export interface Blob {
  mediaType: string;
  digest: string;
  size: number;
  data: Buffer;
}

export interface SmokeImage {
  config: Blob;
  layer: Blob;
  manifest: Blob;
}

export const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

const blob = (mediaType: string, data: Buffer): Blob => ({ mediaType, digest: sha256(data), size: data.length, data });

/** A ustar header field: octal digits, NUL-terminated, in `width` bytes. */
const octal = (n: number, width: number): string => n.toString(8).padStart(width - 1, '0') + '\0';

/** A POSIX tar archive (ustar) of regular files, mode 0644, owned by root, mtime 0. */
export function tarOf(files: Array<{ name: string; content: Buffer }>): Buffer {
  const parts: Buffer[] = [];
  for (const f of files) {
    const header = Buffer.alloc(512);
    header.write(f.name, 0, 100, 'utf8');
    header.write(octal(0o644, 8), 100, 'ascii');
    header.write(octal(0, 8), 108, 'ascii');
    header.write(octal(0, 8), 116, 'ascii');
    header.write(octal(f.content.length, 12), 124, 'ascii');
    header.write(octal(0, 12), 136, 'ascii');
    header.write('        ', 148, 'ascii'); // checksum field counts as spaces while summing
    header.write('0', 156, 'ascii');
    header.write('ustar\x0000', 257, 'ascii');
    header.write('root', 265, 'ascii');
    header.write('root', 297, 'ascii');
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(octal(sum, 7) + ' ', 148, 'ascii');
    parts.push(header, f.content, Buffer.alloc((512 - (f.content.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024)); // two zero blocks end the archive
  return Buffer.concat(parts);
}

export function smokeImage(): SmokeImage {
  const tar = tarOf([{ name: 'harbormaster-smoke.txt', content: Buffer.from('pushed and pulled back by harbormaster smoke\n') }]);
  const layer = blob(MEDIA.layer, gzipSync(tar, { level: 9 }));
  const config = blob(
    MEDIA.config,
    Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [sha256(tar)] } })),
  );
  const ref = (b: Blob) => ({ mediaType: b.mediaType, digest: b.digest, size: b.size });
  const manifest = blob(MEDIA.manifest, Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.manifest, config: ref(config), layers: [ref(layer)] })));
  return { config, layer, manifest };
}
