import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../errors.ts';
import type { LabPlan, PlanParams } from './plan.ts';
import { writePublicFile } from '../fs.ts';

const RECORD = 'lab.json';

/** The parameters a lab was brought up with, from its state dir; null when there is no lab there. */
export async function readRecord(stateDir: string): Promise<PlanParams | null> {
  const text = await readFile(join(stateDir, RECORD), 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (text === null) return null;
  const r = JSON.parse(text) as PlanParams;
  return { name: r.name, subnet: r.subnet, registries: r.registries, db: r.db ?? false, stateDir, inventoryFile: r.inventoryFile };
}

export async function writeRecord(plan: LabPlan): Promise<void> {
  const { name, subnet, registries, db, inventoryFile } = plan;
  await writePublicFile(plan.stateFile, JSON.stringify({ name, subnet, registries, db, inventoryFile }, null, 2) + '\n', 0o600, 0o700);
}

/** A state dir that exists but was not made by the lab is never written to or removed. */
export async function assertOwnStateDir(stateDir: string): Promise<void> {
  const entries: string[] = await readdir(stateDir).catch(() => []);
  if (entries.length > 0 && !entries.includes(RECORD)) {
    throw new UserError(`state dir ${stateDir} is not empty and holds no ${RECORD}; pick another --state-dir`);
  }
}
