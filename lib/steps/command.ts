import { holdsSecret, redact, type Secret } from '../secret.ts';
import { q } from '../transport/shell.ts';
import { common, StepError } from './base.ts';
import { fields } from './fileops.ts';
import type { Step, StepOptions } from './types.ts';

export interface CommandOptions extends StepOptions {
  /** A sh command line. It must not contain secrets: pass those through `env`. */
  cmd: string;
  /** Skip when this path exists. */
  creates?: string;
  /** Skip when this sh test succeeds (it runs with every probe: keep it read-only). */
  unless?: string;
  cwd?: string;
  /** Environment for the command; values travel on stdin (never argv), so Secrets are fine here. */
  env?: Record<string, string | Secret>;
  /**
   * The paths `unless` looks at, when known (else: anything). Check mode then predicts the
   * command runs after an earlier step would write one of them.
   */
  reads?: string[];
  /** The paths the command may change, when known (else: anything). */
  writes?: string[];
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Lines that read each variable from stdin (base64, one per line) and export it. `read` takes
 * one byte at a time from a pipe, so the command's own stdin is left untouched.
 */
export function envFromStdin(env: Record<string, string | Secret>): { script: string; stdin: string } {
  const names = Object.keys(env);
  const script = names
    .map((n) => `IFS= read -r ${n}; ${n}=$(printf %s "$${n}" | base64 -d); export ${n}`)
    .join('\n');
  const stdin = names
    .map((n) => {
      const v = env[n]!;
      return Buffer.from(typeof v === 'string' ? v : v.reveal()).toString('base64') + '\n';
    })
    .join('');
  return { script, stdin };
}

/** Runs a command unless its guards say the work is done; changed only when it ran. */
export function command(opts: CommandOptions): Step {
  for (const [field, text] of Object.entries({ cmd: opts.cmd, unless: opts.unless, creates: opts.creates, cwd: opts.cwd })) {
    if (text !== undefined && holdsSecret(text)) {
      throw new StepError(
        `command "${redact(opts.name ?? opts.cmd)}": its ${field} holds a secret (a vault value interpolated into the command string); pass it on stdin (the env option) or in a 0600 file`,
      );
    }
  }
  const bad = Object.keys(opts.env ?? {}).find((n) => !ENV_NAME.test(n));
  if (bad !== undefined) throw new StepError(`command env: "${bad}" is not a variable name`);
  const guards = [
    opts.creates !== undefined ? `[ -e ${q(opts.creates)} ] && echo creates=yes` : '',
    opts.unless !== undefined ? `( ${opts.unless}\n) >/dev/null 2>&1 && echo unless=yes` : '',
  ].filter(Boolean);
  return {
    ...common('command', opts, `command ${opts.cmd}`),
    ...(opts.unless === undefined ? { reads: opts.creates !== undefined ? [opts.creates] : [] } : {}),
    ...(opts.reads ? { reads: opts.reads } : {}),
    ...(opts.writes ? { writes: opts.writes } : {}),
    probe: () => ({ shell: [...guards, 'return 0'].join('\n') }),
    async plan({ output }) {
      const f = fields(output);
      if (f.get('creates') === 'yes' || f.get('unless') === 'yes') return null;
      const env = opts.env ? envFromStdin(opts.env) : undefined;
      const script = [env?.script, opts.cwd !== undefined ? `cd ${q(opts.cwd)} || exit 1` : '', opts.cmd]
        .filter(Boolean)
        .join('\n');
      return { summary: 'run', action: env ? { script, stdin: env.stdin } : { script } };
    },
  };
}
