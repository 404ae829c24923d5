import { q, remoteBase } from '../transport/shell.ts';
import { common, requireAbsolute } from './base.ts';
import { fileState } from './fileops.ts';
import type { Step, StepOptions } from './types.ts';

export interface UnarchiveOptions extends StepOptions {
  /** A .tar.gz already on the host (e.g. put there by a copy or download step). */
  src: string;
  /** Directory to unpack into (created if missing). */
  dest: string;
  /**
   * Skip when this path exists. Without it, a marker in dest records the archive's sha256, so
   * the archive is unpacked again only when it changes.
   */
  creates?: string;
}

/** Where the marker for an archive lives: hidden in dest, named after the archive. */
export const markerPath = (src: string, dest: string): string =>
  `${dest.replace(/\/+$/, '')}/.hm-unarchived-${remoteBase(src)}`;

/** A tar.gz unpacked on the host, once (per archive content). */
export function unarchive(opts: UnarchiveOptions): Step {
  const src = requireAbsolute(opts.src, 'unarchive');
  const dest = requireAbsolute(opts.dest, 'unarchive');
  const marker = markerPath(src, dest);
  
  return {
    ...common('unarchive', opts, `unarchive ${src} -> ${dest}`),
    reads: [src, dest, ...(opts.creates !== undefined ? [opts.creates] : [])],
    writes: [dest],
    probe: () =>
      opts.creates !== undefined
        ? { files: [{ path: opts.creates }] }
        : { files: [{ path: src, hash: true }, { path: marker, fetch: true }] },
    async plan(state) {
      if (opts.creates !== undefined) {
        if (fileState(state, opts.creates).type !== 'absent') return null;
      } else {
        const archive = fileState(state, src).sha256;
        if (archive && archive === fileState(state, marker).content?.toString('latin1').slice(0, 64)) return null;
      }
      const record =
        opts.creates !== undefined
          ? []
          : [`sha256sum < ${q(src)} > ${q(`${marker}.tmp`)}`, `mv -f ${q(`${marker}.tmp`)} ${q(marker)}`];
      const script = [
        'set -e',
        `[ -f ${q(src)} ] || { echo ${q(`archive ${src} is not on the host`)} >&2; exit 1; }`,
        `mkdir -p ${q(dest)}`,
        `tar -xzf ${q(src)} -C ${q(dest)}`,
        ...record,
      ].join('\n');
      return { summary: 'unpack', action: { script } };
    },
  };
}
