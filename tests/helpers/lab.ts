import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labDown, labUp } from '../../lib/lab/index.ts';
import type { LabInfo } from '../../lib/lab/index.ts';

export interface LabFixtureOptions {
  /** Unique per test file (at most 11 characters), like its subnet: test files run in parallel. */
  name: string;
  /** First two octets, e.g. `10.203`. */
  subnet: string;
  registries?: number;
  /** A db-1 host (group database). */
  db?: boolean;
}

/**
 * Brings up a fresh lab for one test file, with its inventory and known_hosts in a temp dir,
 * and tears it down (namespaces, processes, state) when the test ends.
 */
export async function withLab(t: { teardown(fn: () => unknown): void }, opts: LabFixtureOptions): Promise<LabInfo> {
  // A run that crashed may have left this lab up; start from nothing.
  await labDown({ name: opts.name });
  const dir = await mkdtemp(join(tmpdir(), `hm-lab-${opts.name}-`));
  t.teardown(async () => {
    await labDown({ name: opts.name });
    await rm(dir, { recursive: true, force: true });
  });
  return labUp({ ...opts, inventoryFile: join(dir, `${opts.name}.yaml`) });
}
