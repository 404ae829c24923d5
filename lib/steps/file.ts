import { q } from '../transport/shell.ts';
import { common, requireAbsolute, StepError } from './base.ts';
import { attrsOf, attrChanges, attrScript, fileState, writeFileAction, type FileAttrs } from './fileops.ts';
import type { Step, StepOptions } from './types.ts';

export interface FileOptions extends StepOptions, FileAttrs {
  path: string;
  /** `file` creates an empty file if missing; `absent` removes a file or a whole directory. */
  state?: 'file' | 'directory' | 'absent';
}

/** A file, directory or absence, with mode/owner/group. */
export function file(opts: FileOptions): Step {
  const path = requireAbsolute(opts.path, 'file');
  const state = opts.state ?? 'file';
  const attrs = attrsOf(opts);
  const label = state === 'absent' ? 'absent' : state;
  return {
    ...common('file', opts, `${label} ${path}`),
    reads: [path],
    writes: [path],
    probe: () => ({ files: [{ path }] }),
    async plan(probed, env) {
      const current = fileState(probed, path);
      if (state === 'absent') {
        if (current.type === 'absent') return null;
        return { summary: `remove ${current.type}`, action: { script: `rm -rf -- ${q(path)}` } };
      }
      if (current.type === 'absent') {
        const action =
          state === 'directory'
            ? { script: ['set -e', `mkdir -p -- ${q(path)}`, ...attrScript(q(path), attrs)].join('\n') }
            : writeFileAction(path, { bytes: Buffer.alloc(0) }, attrs, env.become);
        return { summary: 'create', action };
      }
      if (current.type !== state) throw new StepError(`${path} is a ${current.type}, not a ${state}`);
      const changes = attrChanges(current, attrs);
      if (changes.length === 0) return null;
      return { summary: changes.join(', '), action: { script: ['set -e', ...attrScript(q(path), attrs)].join('\n') } };
    },
  };
}

export function directory(opts: Omit<FileOptions, 'state'>): Step {
  return file({ ...opts, state: 'directory' });
}
