// `harbor.mts status|stop|start|restart|reconfigure`: the reference README's docker-compose
// chores on the registry hosts, as one-step roles run over the engine's SSH connections.
import type { Role } from '../../lib/run/types.ts';
import { command } from '../../lib/steps/index.ts';
import { harborControl, type HarborAction } from './harbor.ts';
import registry from './index.ts';

export function harborLifecycleRole(action: HarborAction): Role {
  return {
    name: `harbor-${action}`,
    hosts: 'registry',
    // The registry role's defaults: the same install directory and names as the role used.
    defaults: registry.defaults,
    steps: ({ vars }) => [command({ name: `harbor ${action}`, ...harborControl(action, vars) })],
  };
}
