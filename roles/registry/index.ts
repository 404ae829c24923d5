import { fileURLToPath } from 'node:url';
import type { Role, RoleContext } from '../../lib/run/types.ts';
import type { Step } from '../../lib/steps/index.ts';
import { distributionHandlers, distributionSteps } from './distribution.ts';
import { harborHandlers, harborSteps } from './harbor.ts';
import { prepareDeployment } from '../shared/deployment.ts';
import { balancerHandlers, BACK, OUT } from './balancer.ts';

interface Engine {
  steps(ctx: RoleContext): Step[];
  /** The first (re)starts the registry. */
  handlers(ctx: RoleContext): Step[];
}

/**
 * `registry_engine` picks what serves the registry: the distribution registry, or Harbor (docker
 * compose services: it needs a Docker engine, which lab hosts cannot run).
 */
const ENGINES: Record<string, Engine | undefined> = {
  distribution: { steps: distributionSteps, handlers: distributionHandlers },
  harbor: { steps: harborSteps, handlers: harborHandlers },
};

function engineOf({ vars }: RoleContext): Engine {
  const name = String(vars.registry_engine);
  const engine = ENGINES[name];
  if (engine) return engine;
  throw new Error(`role registry: registry_engine must be distribution or harbor, not ${name}`);
}

/**
 * The registry host: the registry served over TLS with the deployment's certificate (which
 * carries the public name, so the proxy can verify it), users and passwords from the vault.
 * Needs the vars of deploymentVars (roles/shared/deployment.ts).
 */
const registry: Role = {
  name: 'registry',
  hosts: 'registry',
  prepare: prepareDeployment,
  templateDir: fileURLToPath(new URL('../../templates/registry', import.meta.url)),
  defaults: {
    registry_engine: 'distribution',
    registry_port: 443,
    registry_realm: 'harbormaster registry',
    /** filesystem (registry_data_dir) or s3 (registry_s3_region, _bucket, _access_key, _secret_key). */
    registry_storage: 'filesystem',
    registry_data_dir: '/var/lib/docker-registry',
    /** An S3-compatible endpoint URL instead of AWS's own (empty: AWS). */
    registry_s3_endpoint: '',
    /** Redirect pulls to presigned S3 URLs (false: blobs stream through the registry and the proxy). */
    registry_s3_redirect: false,
    /** registry_engine harbor: the release, its offline installer's sha256 (no default: see roles/registry/harbor.ts), an optional mirror URL. */
    harbor_version: '2.15.2',
    harbor_installer_sha256: '',
    harbor_installer_url: '',
    harbor_install_dir: '/opt/harbor',
    harbor_data_volume: '/data',
    /** Harbor system configuration keys to set over its API (swagger's Configurations), beside project_creation_restriction: adminonly and self_registration: false. */
    harbor_config: {},
    /** Install Harbor with Trivy, the vulnerability scanner (install.sh --with-trivy). */
    harbor_trivy: false,
  },
  // Behind a balancer, one host at a time: each restarts out of the pool (roles/registry/balancer.ts).
  serial: 1,
  steps: (ctx) => aroundRestarts(ctx, engineOf(ctx).steps(ctx), engineOf(ctx).handlers(ctx)),
  handlers: (ctx) => {
    const { out, back } = balancerHandlers(ctx);
    return [...out, ...engineOf(ctx).handlers(ctx), ...back];
  },
};

/** Every step that restarts the registry also takes the host out of the balancer first and puts it back after (when there is one). */
function aroundRestarts(ctx: RoleContext, steps: Step[], handlers: Step[]): Step[] {
  const restart = handlers[0]!.name;
  if (balancerHandlers(ctx).out.length === 0) return steps;
  return steps.map((s) => (s.notify.includes(restart) ? { ...s, notify: [OUT, ...s.notify, BACK] } : s));
}

export default registry;
