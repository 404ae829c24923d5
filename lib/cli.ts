import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UserError } from './errors.ts';
import { redact } from './secret.ts';

/**
 * Runs a script's main function: a UserError becomes one line on stderr and its exit code;
 * anything else is a bug and keeps its stack (redacted of secrets).
 */
export async function runMain(name: string, main: () => Promise<number | void>): Promise<void> {
  process.exitCode = await exitCodeOf(name, main, process.stderr);
}

/** What runMain does, with the error line written to `err`: the exit code, for a caller (or a test) that runs main in-process. */
export async function exitCodeOf(name: string, main: () => Promise<number | void>, err: { write(text: string): unknown }): Promise<number> {
  try {
    return (await main()) ?? 0;
  } catch (e) {
    if (e instanceof UserError) {
      err.write(`${name}: ${redact(e.message)}\n`);
      return e.exitCode;
    }
    err.write(redact(String((e as Error)?.stack ?? e)) + '\n');
    return 70;
  }
}

/** A script's own arguments, however it was started (npx zx, node, tsx): what follows its path in argv. */
export function scriptArgs(scriptUrl: string): string[] {
  const self = fileURLToPath(scriptUrl);
  return process.argv.slice(process.argv.findIndex((a) => resolve(a) === self) + 1);
}

/** node's parseArgs, its complaints turned into one line: "Unknown option '--x'; see --help". */
export function parseFlags<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (err) {
    throw new UserError(`${(err as Error).message.split(/\.\s/)[0]}; see --help`);
  }
}
