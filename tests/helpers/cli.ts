import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repo = new URL('../..', import.meta.url).pathname;

/** Runs `npx zx scripts/NAME.mts ARGS` from the repository root, as a user would; never throws. */
export async function runScript(name: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('npx', ['zx', `scripts/${name}.mts`, ...args], { cwd: repo, maxBuffer: 1 << 24 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
