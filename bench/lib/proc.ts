import { spawn } from 'node:child_process';

export interface Timed {
  seconds: number;
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program (no shell) and measures its wall time from spawn to exit. */
export function timed(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string } = {}): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const input = opts.input === undefined ? 'ignore' : 'pipe';
    const child = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: [input, 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({
        seconds: (performance.now() - started) / 1000,
        code: code ?? -1,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
      }),
    );
    if (child.stdin) {
      child.stdin.on('error', () => undefined); // a child may exit without reading; its exit code tells
      child.stdin.end(opts.input);
    }
  });
}

/** Like timed(), but a non-zero exit is a failed benchmark: throws with the tail of the output. */
export async function mustRun(what: string, cmd: string, args: string[], opts: Parameters<typeof timed>[2] = {}): Promise<Timed> {
  const r = await timed(cmd, args, opts);
  if (r.code !== 0) {
    const tail = (r.stdout + r.stderr).trim().split('\n').slice(-25).join('\n');
    throw new Error(`${what} failed (exit ${r.code}):\n${tail}`);
  }
  return r;
}
