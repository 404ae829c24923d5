import { join } from 'node:path';
import { UserError } from '../errors.ts';
import { q } from '../transport/shell.ts';
import { writePublicFile } from '../fs.ts';

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

/** What trustCaOnHost needs of a host connection (lib/transport's HostConnection). */
export interface RemoteShell {
  exec(script: string, opts: { stdin?: string }): Promise<{ code: number; stdout: string; stderr: string }>;
}

/**
 * The same on a remote host in one round trip: the CA arrives on stdin into a temp file beside
 * the target, which replaces it only when content or mode differ. Returns whether it changed.
 */
export async function trustCaOnHost(host: RemoteShell, caPem: string, registryName: string, base = DOCKER_CERTS_DIR): Promise<boolean> {
  const path = dockerCaPath(registryName, base);
  const script = [
    'set -e',
    `f=${q(path)}; d=$(dirname "$f")`,
    'mkdir -p "$d"; chmod 0755 "$d"',
    't=$(mktemp "$d/.ca.crt.XXXXXX"); trap \'rm -f "$t"\' EXIT',
    'cat > "$t"',
    'if [ -f "$f" ] && cmp -s "$t" "$f" && [ "$(stat -c %a "$f")" = 644 ]; then echo unchanged; exit 0; fi',
    'chmod 0644 "$t"; mv -f "$t" "$f"; echo changed',
  ].join('\n');
  const r = await host.exec(script, { stdin: caPem });
  if (r.code !== 0 || !/^(un)?changed$/.test(r.stdout.trim())) {
    throw new Error(`cannot install ${path}: ${(r.stderr || r.stdout).trim() || `exit status ${r.code}`}`);
  }
  return r.stdout.trim() === 'changed';
}
