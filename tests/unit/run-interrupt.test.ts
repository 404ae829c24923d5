// SIGINT and SIGTERM: role.mts (a real child process, through the local connection) lets the step
// in flight finish, starts no other, says where each host stopped, prints the recap and exits
// 130; an upload interrupted in flight is rolled back (its staging file removed).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { FactsCache } from '../../lib/facts/index.ts';
import { loadInventory } from '../../lib/inventory/index.ts';
import { runRoleOnHost, type HostRun } from '../../lib/run/host-role.ts';
import { newTally } from '../../lib/run/tally.ts';
import type { Role, RunEvent } from '../../lib/run/types.ts';
import { STDIN_LIMIT } from '../../lib/steps/copy.ts';
import { copy } from '../../lib/steps/index.ts';
import { LocalConnection } from '../../lib/transport/local.ts';
import { runDefaults } from '../fixtures/engine/run.ts';

const lib = (path: string) => fileURLToPath(new URL(`../../lib/${path}`, import.meta.url));
const roleScript = fileURLToPath(new URL('../../scripts/role.mts', import.meta.url));
const tsx = import.meta.resolve('tsx');

/** A project directory with an inventory of this machine and a role: slow step, then a second. */
async function project(dir: string): Promise<void> {
  await writeFile(join(dir, 'inventory.yaml'), 'all:\n  hosts:\n    here:\n      ansible_connection: local\n');
  await mkdir(join(dir, 'roles', 'slow'), { recursive: true });
  const p = (name: string) => JSON.stringify(join(dir, name));
  await writeFile(
    join(dir, 'roles', 'slow', 'index.ts'),
    `import { command } from ${JSON.stringify(lib('steps/index.ts'))};
export default {
  name: 'slow',
  hosts: 'all',
  steps: () => [
    command({ name: 'first', cmd: 'touch ' + ${p('first-started')} + '; sleep 1; touch ' + ${p('first-done')} }),
    command({ name: 'second', cmd: 'touch ' + ${p('second-done')} }),
  ],
};
`,
  );
}

/** role.mts in `dir`; `signal` is sent once the first step has started. */
function interruptedRun(dir: string, signal: NodeJS.Signals): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', tsx, roleScript, '-i', 'inventory.yaml', 'slow'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const poll = setInterval(() => {
      if (existsSync(join(dir, 'first-started'))) {
        clearInterval(poll);
        child.kill(signal);
      }
    }, 20);
    child.on('close', (code) => {
      clearInterval(poll);
      resolve({ code, stdout, stderr });
    });
  });
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  t.test(`${signal}: the step in flight finishes, no other starts, where it stopped and the recap, exit 130`, async (t) => {
    const dir = t.testdir();
    await project(dir);
    const r = await interruptedRun(dir, signal);
    t.equal(r.code, 130, r.stderr);
    t.ok(existsSync(join(dir, 'first-done')), 'the step in flight ran to its end');
    t.notOk(existsSync(join(dir, 'second-done')), 'the next step did not start');
    t.match(r.stderr, new RegExp(`^${signal}: finishing the steps in flight, then stopping`, 'm'));
    t.match(r.stdout, /changed +here +first/);
    t.match(r.stdout, new RegExp(`INTERRUPTED here +before second \\(${signal}, role slow\\)`));
    t.match(r.stdout, new RegExp(`RECAP \\(interrupted by ${signal}\\)\\n.*\\nhere +1 +1 +0 +0 +0 `));
  });
}

t.test('an upload interrupted in flight: its staging file removed, the destination untouched', async (t) => {
  const dir = t.testdir();
  await writeFile(join(dir, 'inv.yaml'), 'all:\n  hosts:\n    here: {}\n');
  const inv = await loadInventory(join(dir, 'inv.yaml'));
  const src = join(dir, 'big.bin');
  await writeFile(src, Buffer.alloc(STDIN_LIMIT + 1, 1));
  await mkdir(join(dir, 'out'));
  await writeFile(join(dir, 'out', 'big.bin'), 'old\n');
  const controller = new AbortController();
  // The signal comes while the file is on its way.
  const conn = new (class extends LocalConnection {
    override async upload(local: string, remote: string) {
      await super.upload(local, remote);
      controller.abort('SIGINT');
    }
  })('here');
  const run: HostRun = { host: inv.hosts.get('here')!, conn, tally: newTally(), status: 'ok', started: true };
  const events: RunEvent[] = [];
  const role: Role = { name: 'up', hosts: 'all', steps: () => [copy({ dest: join(dir, 'out', 'big.bin'), src, mode: '0644' })] };
  await runRoleOnHost(role, run, { inventory: inv, facts: new FactsCache(), opts: { ...runDefaults, signal: controller.signal }, emit: (e) => events.push(e) });
  t.equal(run.status, 'interrupted');
  t.match(events.find((e) => e.type === 'interrupted'), { host: 'here', step: `copy ${join(dir, 'out', 'big.bin')}`, rolledBack: true, signal: 'SIGINT' });
  t.strictSame(await readdir(join(dir, 'out')), ['big.bin'], 'no staging file');
  t.equal(await readFile(join(dir, 'out', 'big.bin'), 'utf8'), 'old\n', 'the destination as it was');
});
