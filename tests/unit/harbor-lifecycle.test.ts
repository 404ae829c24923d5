// `harbor.mts status|stop|start|restart|reconfigure`: one-step roles whose script is the one the
// registry role's own reconfigure handler runs, guarded so a host without Harbor says so.
import t from 'tap';
import type { Vars } from '../../lib/inventory/types.ts';
import { HARBOR_ACTIONS } from '../../roles/registry/harbor.ts';
import registry from '../../roles/registry/index.ts';
import { harborLifecycleRole } from '../../roles/registry/lifecycle.ts';
import { debianFacts, localEnv, sh } from '../fixtures/engine/local-shell.ts';

const vars: Vars = { ...registry.defaults, registry_engine: 'harbor', registry_public_name: 'registry.example.com' };
const host = { name: 'registry-1', vars: {}, groups: ['registry'] };
const inventory = { file: '/x/inventory.yaml', hosts: new Map(), groups: new Map() };
const env = localEnv({ vars, role: 'harbor', templateDir: '/nonexistent' });

async function scriptOf(action: (typeof HARBOR_ACTIONS)[number]): Promise<string> {
  const role = harborLifecycleRole(action);
  const steps = await role.steps({ host, vars, facts: debianFacts, inventory });
  t.equal(steps.length, 1);
  t.equal(steps[0]!.name, `harbor ${action}`);
  return (await steps[0]!.plan({ output: '', files: new Map() }, env))!.action.script!;
}

const inOrder = (script: string, parts: string[]) => {
  const at = parts.map((p) => script.indexOf(p));
  return at.every((i, n) => i >= 0 && (n === 0 || i > at[n - 1]!));
};

t.test('each action: the install guard, the install directory, compose, then its commands', async (t) => {
  const role = harborLifecycleRole('stop');
  t.match(role, { name: 'harbor-stop', hosts: 'registry' });
  t.equal(role.defaults, registry.defaults, "the registry role's defaults: the same install directory");
  const head = ["[ -e '/etc/harbormaster/harbor.installed' ]", "cd '/opt/harbor'", 'docker compose version'];
  const bodies = {
    status: ['$dc ps'],
    stop: ['$dc stop'],
    start: ['$dc start', '/api/v2.0/health'],
    restart: ['$dc stop', '$dc start', '/api/v2.0/health'],
    reconfigure: ['$dc down', 'TERM=dumb ./prepare', '$dc up -d', '/api/v2.0/health'],
  };
  for (const action of HARBOR_ACTIONS) {
    const script = await scriptOf(action);
    t.ok(inOrder(script, [...head, ...bodies[action]]), `${action}: ${bodies[action].join(', ')}`);
    if (action === 'stop' || action === 'status') t.notMatch(script, /health/, `${action} waits for nothing`);
  }
});

t.test("reconfigure is exactly what the registry role's handler runs", async (t) => {
  const handler = (await registry.handlers!({ host, vars: { ...vars, harbor_installer_sha256: 'a'.repeat(64) }, facts: debianFacts, inventory }))[0]!;
  const fromRole = (await handler.plan({ output: '', files: new Map() }, env))!.action.script;
  t.equal(fromRole, await scriptOf('reconfigure'));
});

t.test('on a host without Harbor the script stops at once, saying so', async (t) => {
  const r = await sh(await scriptOf('stop'));
  t.equal(r.code, 1);
  t.equal(r.stderr.trim(), 'Harbor is not installed on this host (converge it with registry_engine: harbor first)');
});
