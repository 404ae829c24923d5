import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { renderTemplate } from '../render/index.ts';
import { isSecret, type Secret } from '../secret.ts';
import { common, requireAbsolute, StepError } from './base.ts';
import {
  attrChanges,
  attrsOf,
  attrScript,
  fileState,
  writeFileAction,
  type Content,
  type FileAttrs,
} from './fileops.ts';
import { q } from '../transport/shell.ts';
import { FETCH_LIMIT } from './batch.ts';
import type { Change, Step, StepEnv, StepKind, StepOptions } from './types.ts';

/** Local files above this size travel over SFTP; smaller content rides on the exec's stdin. */
export const STDIN_LIMIT = 1024 * 1024;

interface Desired {
  content: Content;
  sha256: string;
  sensitive: boolean;
  /** The text for --diff (absent for large or binary content). */
  text?: string;
}

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

function textOf(bytes: Buffer): string | undefined {
  return bytes.length <= FETCH_LIMIT && !bytes.includes(0) ? bytes.toString('utf8') : undefined;
}

function fromBytes(bytes: Buffer, sensitive: boolean): Desired {
  return { content: { bytes }, sha256: sha256(bytes), sensitive, text: textOf(bytes) };
}

async function fromLocalFile(path: string, sensitive: boolean): Promise<Desired> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch {
    throw new StepError(`local file ${path} cannot be read`);
  }
  if (size <= STDIN_LIMIT) return fromBytes(await readFile(path), sensitive);
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return { content: { localFile: path, size }, sha256: hash.digest('hex'), sensitive };
}

/**
 * A file whose content is decided locally (copy, template): probed by sha256, written
 * atomically with its attributes when content differs, or only re-moded when just those differ.
 */
function contentStep(
  kind: StepKind,
  opts: StepOptions & FileAttrs & { dest: string },
  defaultName: string,
  desired: (env: StepEnv) => Promise<Desired>,
): Step {
  const dest = requireAbsolute(opts.dest, kind);
  const attrs = attrsOf(opts);
  let cached: Promise<Desired> | undefined;
  const want = (env: StepEnv): Promise<Desired> => (cached ??= desired(env));
  const base = common(kind, opts, defaultName);
  return {
    ...base,
    reads: [dest],
    writes: [dest],
    async probe(env) {
      const d = await want(env);
      const showDiff = env.wantDiff && !d.sensitive && !base.sensitive && d.text !== undefined;
      return { files: [{ path: dest, hash: true, fetch: showDiff }] };
    },
    async plan(state, env): Promise<Change | null> {
      const d = await want(env);
      const current = fileState(state, dest);
      if (current.type === 'directory' || current.type === 'other') {
        throw new StepError(`${dest} is a ${current.type}, not a file`);
      }
      const sameContent = current.type === 'file' && current.sha256 === d.sha256;
      const attrDiffs = current.type === 'file' ? attrChanges(current, attrs) : [];
      if (sameContent && attrDiffs.length === 0) return null;
      if (sameContent) {
        return { summary: attrDiffs.join(', '), action: { script: ['set -e', ...attrScript(q(dest), attrs)].join('\n') } };
      }
      const sensitive = d.sensitive || base.sensitive;
      const before = current.content && !sensitive ? textOf(current.content) : undefined;
      return {
        summary: [current.type === 'absent' ? 'create' : 'update content', ...attrDiffs].join(', '),
        content: {
          path: dest,
          exists: current.type !== 'absent',
          before: sensitive ? null : (before ?? null),
          after: sensitive ? null : (d.text ?? null),
          sensitive,
        },
        action: writeFileAction(dest, d.content, attrs, env.become),
      };
    },
  };
}

export interface CopyOptions extends StepOptions, FileAttrs {
  dest: string;
  /** The file's content; a Secret makes the step sensitive. */
  content?: string | Buffer | Secret;
  /** A local file to send instead of `content`. */
  src?: string;
}

/** A file with the given content or a local file's content. */
export function copy(opts: CopyOptions): Step {
  if ((opts.content === undefined) === (opts.src === undefined)) {
    throw new StepError(`copy ${opts.dest}: give exactly one of content or src`);
  }
  return contentStep('copy', opts, `copy ${opts.dest}`, async () => {
    const { content, src } = opts;
    if (src !== undefined) return fromLocalFile(src, false);
    if (isSecret(content)) return fromBytes(Buffer.from(content.reveal()), true);
    return fromBytes(Buffer.isBuffer(content) ? content : Buffer.from(content ?? ''), false);
  });
}

export interface TemplateOptions extends StepOptions, FileAttrs {
  /** File name under templates/<role>/. */
  src: string;
  dest: string;
  /** Extra variables for this template (over the host's vars). */
  vars?: Record<string, unknown>;
}

/**
 * A file rendered from templates/<role>/<src> with the host's vars, `facts` and
 * `inventory_hostname`. Undefined variables are errors; output holding a secret is sensitive.
 */
export function template(opts: TemplateOptions): Step {
  return contentStep('template', opts, `template ${opts.dest}`, async (env) => {
    const context = { ...env.vars, ...opts.vars, facts: env.facts, inventory_hostname: env.host.name };
    const rendered = renderTemplate(env.templateDir, opts.src, context);
    return fromBytes(Buffer.from(rendered.text), rendered.sensitive);
  });
}
