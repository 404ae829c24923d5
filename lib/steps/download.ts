import { common, requireAbsolute, StepError } from './base.ts';
import { attrsOf, attrChanges, attrScript, downloadAction, fileState, type FileAttrs } from './fileops.ts';
import { q } from '../transport/shell.ts';
import type { Step, StepOptions } from './types.ts';

export interface DownloadOptions extends StepOptions, FileAttrs {
  /** Fetched by the host itself (curl or wget); http(s), or file:// with curl. */
  url: string;
  dest: string;
  /** Hex sha256 the file must have; a file already there with this sum is not fetched again. */
  sha256: string;
}

/** A file fetched on the host from a URL, verified by sha256, installed atomically. */
export function download(opts: DownloadOptions): Step {
  const dest = requireAbsolute(opts.dest, 'download');
  const sum = opts.sha256.toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(sum)) throw new StepError(`download ${dest}: sha256 must be 64 hex digits`);
  const attrs = attrsOf(opts);
  return {
    ...common('download', opts, `download ${dest}`),
    reads: [dest],
    writes: [dest],
    probe: () => ({ files: [{ path: dest, hash: true }] }),
    async plan(state) {
      const current = fileState(state, dest);
      if (current.type === 'directory' || current.type === 'other') throw new StepError(`${dest} is a ${current.type}, not a file`);
      const attrDiffs = current.type === 'file' ? attrChanges(current, attrs) : [];
      if (current.type === 'file' && current.sha256 === sum) {
        if (attrDiffs.length === 0) return null;
        return { summary: attrDiffs.join(', '), action: { script: ['set -e', ...attrScript(q(dest), attrs)].join('\n') } };
      }
      return {
        summary: current.type === 'absent' ? 'fetch' : 'fetch (checksum differs)',
        action: downloadAction(dest, opts.url, sum, attrs),
      };
    },
  };
}
