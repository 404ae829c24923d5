// "Does the running daemon have the files on disk?" — answered by a fingerprint the handlers
// record once the daemon has (re)loaded them. A run that dies between writing a file and
// reloading (a failed check, a lost connection) leaves the fingerprint stale, so the next run
// checks and reloads again instead of reporting "ok" for a daemon still on the old files.
import { command, type Step } from '../../lib/steps/index.ts';
import { q } from '../../lib/transport/shell.ts';

export interface LoadedFilesOptions {
  /** What the daemon loads: files (content) and directories (entry names, e.g. sites-enabled). */
  paths: string[];
  /** Where the fingerprint is kept (root only: it hashes the private key among others). */
  marker: string;
  /** Step name: what it makes sure of. */
  name: string;
  /** Run when the files differ from the loaded ones, before the handlers (e.g. a config test). */
  check?: string;
  /** Handlers that (re)load the daemon; the `record` step must be the last of them. */
  notify: string[];
  /** Handler name of the record step. */
  recordName: string;
  /** Lines (an extended regex) the daemon reads but does not act on once running: left out of the fingerprint. */
  ignoreLines?: string;
}

function fingerprint(paths: string[], ignoreLines?: string): string {
  const list = paths.map(q).join(' ');
  const filter = ignoreLines ? ` | grep -v -E ${q(ignoreLines)}` : '';
  return `for p in ${list}; do if [ -d "$p" ]; then ls -1 -- "$p"; else cat -- "$p"; fi; done 2>/dev/null${filter} | sha256sum | cut -c1-64`;
}

/** The step (placed after every step writing `paths`) and the handler that records the fingerprint. */
export function loadedFiles(opts: LoadedFilesOptions): { step: Step; record: Step } {
  const marker = q(opts.marker);
  const step = command({
    name: opts.name,
    cmd: opts.check ?? 'true',
    unless: `[ "$(${fingerprint(opts.paths, opts.ignoreLines)})" = "$(cat ${marker} 2>/dev/null)" ]`,
    reads: [...opts.paths, opts.marker],
    writes: [],
    notify: [...opts.notify, opts.recordName],
    tags: ['service'],
  });
  const record = command({
    name: opts.recordName,
    cmd: `umask 077; ${fingerprint(opts.paths, opts.ignoreLines)} > ${marker}.new && mv -f ${marker}.new ${marker}`,
  });
  return { step, record };
}
