import type { Facts } from '../facts/index.ts';
import type { Host, Vars } from '../inventory/types.ts';

/** What a step may know about the host it is planned for. */
export interface StepEnv {
  host: Host;
  /** Role defaults < inventory vars; values from the vault are Secrets. */
  vars: Vars;
  facts: Facts;
  role: string;
  /** templates/<role>/ */
  templateDir: string;
  /** Commands run through sudo: uploads must go through /tmp. */
  become: boolean;
  /** --diff: probes also fetch current content of files that differ (not for sensitive steps). */
  wantDiff: boolean;
}

/** A path a step wants probed: type, mode, owner, size always; sha256 and content on request. */
export interface FileQuery {
  path: string;
  hash?: boolean;
  /** Content of a regular file up to FETCH_LIMIT (for --diff and edits computed here). */
  fetch?: boolean;
}

/** What a step wants to know about the host: files (probed together for all steps) and/or a shell snippet. */
export interface ProbeSpec {
  files?: FileQuery[];
  /** sh snippet printing what `plan` reads: stdin is /dev/null, ends with `return` (never `exit`), changes nothing. */
  shell?: string;
}

/** One path on the host as probed. */
export interface FileState {
  type: 'absent' | 'file' | 'directory' | 'link' | 'other';
  mode?: string;
  uid?: string;
  user?: string;
  gid?: string;
  group?: string;
  size?: number;
  sha256?: string;
  /** Current content, when asked for and not larger than FETCH_LIMIT. */
  content?: Buffer;
}

/** What the probe found: the shell snippet's output and the state of the files asked about. */
export interface ProbeState {
  output: string;
  files: Map<string, FileState>;
}

/** A shell script run on the host to make a change, plus what it needs. */
export interface Action {
  script: string;
  /** Bytes on the script's stdin: file content and secrets travel here, never in argv. */
  stdin?: Buffer | string;
  /**
   * A local file sent first over SFTP (large files); the script finds it at $HM_UPLOAD.
   * `remote` is where it lands: beside the destination, or in /tmp for become users.
   */
  upload?: { local: string; remote: string };
  timeoutMs?: number;
}

/** A file's content before and after, for --diff. Sensitive content is never fetched nor kept. */
export interface ContentDiff {
  path: string;
  /** The file exists on the host (before may still be null: not fetched, too large or binary). */
  exists: boolean;
  before: string | null;
  after: string | null;
  sensitive: boolean;
}

/** What differs between the host and the step's desired state, and how to fix it. */
export interface Change {
  /** Short human summary: `create`, `mode 0644 -> 0600`, `install nginx`, `run`, ... */
  summary: string;
  content?: ContentDiff;
  action: Action;
}

export type StepKind =
  | 'file'
  | 'copy'
  | 'template'
  | 'line'
  | 'pkg'
  | 'service'
  | 'command'
  | 'download'
  | 'unarchive';

/** Options every step accepts. */
export interface StepOptions {
  name?: string;
  tags?: string[];
  /** Handler names to run at the end of the role when this step changed something. */
  notify?: string[];
  /** false skips the step; a string is a shell test run on the host (exit 0 = run the step). */
  when?: boolean | string;
  /** Never show content (diffs, logs). Templates holding a secret are sensitive automatically. */
  sensitive?: boolean;
  timeoutMs?: number;
  /**
   * Run the handlers notified so far first (Ansible's `meta: flush_handlers` before this step):
   * for checks that verify a service, so they see it restarted with what the run changed.
   */
  afterHandlers?: boolean;
}

/**
 * A step is data: a shell probe of the host's current state (batched with other steps'
 * probes into one exec), and a comparison of that state with the desired one that yields
 * the change to apply, or null when the host already complies.
 */
export interface Step {
  kind: StepKind;
  name: string;
  tags: string[];
  notify: string[];
  when: boolean | string;
  sensitive: boolean;
  /**
   * Paths the probe looks at, and paths a change may write. After a change, later steps are
   * probed again only when what it wrote overlaps what they read. undefined means anything
   * (a command can change any state; an `unless` test can read any).
   */
  reads?: string[];
  writes?: string[];
  /** Limit for this step's change script (default: the transport's command timeout). */
  timeoutMs?: number;
  /** Pending handlers run before this step (see StepOptions). */
  afterHandlers?: boolean;
  probe(env: StepEnv): ProbeSpec | Promise<ProbeSpec>;
  plan(state: ProbeState, env: StepEnv): Promise<Change | null>;
}
