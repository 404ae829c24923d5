// `harbor.mts uninstall | purge` on the registry hosts: purge destroys data, so it runs only after
// the deployment's name is typed, or given to --yes-destroy-data in scripts.
import { existsSync } from 'node:fs';
import { UserError } from '../errors.ts';
import { selectHosts } from '../inventory/limit.ts';
import { loadRunInventory, type PasswordSource } from '../inventory/vaulted.ts';
import { registryPublicName } from '../pki/index.ts';
import { askLine } from '../prompt.ts';
import { runRoles } from '../run/runner.ts';
import type { EventSink } from '../run/types.ts';
import { teardownRole, type TeardownVerb } from '../../roles/registry/teardown.ts';

export interface TeardownOptions {
  inventoryFile: string;
  password: PasswordSource;
  check: boolean;
  /** purge in scripts: must be the deployment's name (its registry_public_name). */
  yesDestroyData?: string;
  /** The engine's reporter: each removal is a step line, --json events, a recap. */
  sink: EventSink;
  /** How to ask for the name (default: on the terminal); undefined means no terminal. */
  ask?: (question: string) => Promise<string | undefined>;
}

/** Purge goes ahead only for the exact name; anything else (a typo, an empty flag) removes nothing. */
async function confirmPurge(name: string, hosts: string[], o: TeardownOptions): Promise<void> {
  if (o.yesDestroyData !== undefined) {
    if (o.yesDestroyData !== name) throw new UserError(`--yes-destroy-data "${o.yesDestroyData}" does not name this deployment (${name}): nothing removed`);
    return;
  }
  if (o.check) return;
  const answer = await (o.ask ?? askLine)(`purge removes the registry's image data (and Harbor's database) on ${hosts.join(', ')}.\nType the deployment's name (${name}) to go on: `);
  if (answer === undefined) throw new UserError(`purge destroys data: run it on a terminal to confirm, or pass --yes-destroy-data ${name}`);
  if (answer.trim() !== name) throw new UserError(`"${answer.trim()}" is not ${name}: nothing removed`);
}

export async function teardown(verb: TeardownVerb, o: TeardownOptions): Promise<number> {
  if (!existsSync(o.inventoryFile)) throw new UserError(`${o.inventoryFile}: inventory not found: pass -i FILE`);
  const inv = await loadRunInventory(o.inventoryFile, o.password);
  const hosts = selectHosts(inv, 'registry');
  if (verb === 'purge') {
    const s3 = hosts.filter((h) => h.vars.registry_storage === 's3');
    if (s3.length) {
      throw new UserError(
        `${s3.map((h) => h.name).join(', ')}: registry_storage is s3, whose bucket purge does not empty yet: nothing removed; empty it with npx zx scripts/aws.mts destroy --only storage --empty-bucket, then purge`,
      );
    }
    await confirmPurge(registryPublicName(hosts, inv.file), hosts.map((h) => h.name), o);
  }
  const result = await runRoles(inv, [teardownRole(verb)], { check: o.check, diff: false, forks: 10, hostKeyChecking: 'strict', verbose: false }, o.sink);
  return result.exitCode;
}
