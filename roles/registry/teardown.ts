// `harbor.mts uninstall | purge`: the lifecycle to its end, as one role over the engine's SSH
// connections, so what is removed is reported step by step (and `ok` when already gone).
// uninstall: the registry stops and is no longer started at boot; data and config stay (Harbor:
// `docker compose down -v`, the reference's clean-up; its data lives in bind mounts, not volumes).
// purge: also the image data and (Harbor) the database and cache, for a clean install.
import type { Role, RoleContext } from '../../lib/run/types.ts';
import { command, file, service, type Step } from '../../lib/steps/index.ts';
import { q } from '../../lib/transport/shell.ts';
import { need } from '../shared/deployment.ts';
import { SERVICE } from './distribution.ts';
import { COMPOSE, harborPaths, INSTALLED } from './harbor.ts';
import registry from './index.ts';

export const TEARDOWN_VERBS = ['uninstall', 'purge'] as const;
export type TeardownVerb = (typeof TEARDOWN_VERBS)[number];

/** Harbor's data under its data volume that a clean install must not find (the reference's wipe). */
const HARBOR_DATA = ['database', 'registry', 'redis'];

function distribution(verb: TeardownVerb, { vars }: RoleContext): Step[] {
  const steps: Step[] = [service({ name: `stop and disable ${SERVICE}`, service: SERVICE, state: 'stopped', enabled: false })];
  if (verb === 'purge' && vars.registry_storage !== 's3') steps.push(file({ name: 'remove the image data', path: need<string>(vars, 'registry_data_dir', 'registry'), state: 'absent' }));
  return steps;
}

function harbor(verb: TeardownVerb, { vars }: RoleContext): Step[] {
  const p = harborPaths(vars);
  const compose = `${p.installDir}/docker-compose.yml`;
  const steps: Step[] = [
    command({
      name: 'harbor containers down',
      // install.sh (or ./prepare) wrote the compose file; without it no container was made.
      when: `[ -e ${q(compose)} ]`,
      unless: `! command -v docker >/dev/null 2>&1 || [ -z "$(docker ps -aq --filter label=com.docker.compose.project=harbor)" ]`,
      cmd: ['set -e', `cd ${q(p.installDir)}`, COMPOSE, '$dc down -v'].join('\n'),
      timeoutMs: 10 * 60_000,
    }),
    // The next site run installs again instead of reconfiguring containers that are gone.
    file({ name: 'forget the install', path: INSTALLED, state: 'absent' }),
  ];
  if (verb === 'purge') for (const d of HARBOR_DATA) steps.push(file({ name: `remove Harbor's ${d}`, path: `${p.dataVolume}/${d}`, state: 'absent' }));
  return steps;
}

export function teardownRole(verb: TeardownVerb): Role {
  return {
    name: `registry-${verb}`,
    hosts: 'registry',
    defaults: registry.defaults,
    steps: (ctx) => (String(ctx.vars.registry_engine) === 'harbor' ? harbor(verb, ctx) : distribution(verb, ctx)),
  };
}
