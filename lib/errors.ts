/**
 * A mistake the user can fix (bad input, missing file, wrong password).
 * Entry points print its message as one line, without a stack trace, and exit 1.
 * Messages name the file/host/key at fault and say what to do.
 */
export class UserError extends Error {
  override name = 'UserError';
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

/** `file:line: what` — the shape of every input error. */
export function inputError(file: string, line: number | undefined, what: string): UserError {
  return new UserError(line ? `${file}:${line}: ${what}` : `${file}: ${what}`);
}
