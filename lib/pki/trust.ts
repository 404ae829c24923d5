import { join } from 'node:path';
import { UserError } from '../errors.ts';
import { writePublicFile } from './files.ts';

/** Where docker (and skopeo/podman via certs.d) looks for a registry's CA. */
export const DOCKER_CERTS_DIR = '/etc/docker/certs.d';

const REGISTRY_NAME = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?$/i;

/** `<base>/<registry name>/ca.crt`; the name (optionally `host:port`) must not escape the base. */
export function dockerCaPath(registryName: string, base = DOCKER_CERTS_DIR): string {
  if (!REGISTRY_NAME.test(registryName) || registryName.includes('..')) {
    throw new UserError(`registry name "${registryName}" is not a host name (optionally host:port)`);
  }
  return join(base, registryName, 'ca.crt');
}

/**
 * Makes docker clients on this machine trust the CA for `registryName` (dir 0755, file 0644,
 * atomic). Returns false when the same CA is already installed.
 */
export function trustCaLocally(caPem: string, registryName: string, base = DOCKER_CERTS_DIR): Promise<boolean> {
  return writePublicFile(dockerCaPath(registryName, base), caPem);
}
