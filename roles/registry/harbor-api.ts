// Harbor's API as the registry role reaches it: from the registry host itself, with curl to
// Harbor on 127.0.0.1 under its public name (the certificate verified against the deployment's
// CA), as admin with the password in a root-only netrc file: never in argv.
import { q } from '../../lib/transport/shell.ts';
import { tlsPaths } from '../shared/tls.ts';

/**
 * curl's credentials for Harbor's admin (root only, 0600): `machine NAME login admin password P`.
 * It holds the password Harbor was last seen to accept (harbor-admin.ts keeps it so).
 */
export const ADMIN_NETRC = '/etc/harbormaster/harbor-admin.netrc';

export interface HarborApi {
  /** The name Harbor's certificate carries; resolved to 127.0.0.1. */
  publicName: string;
  port: number;
  /** The CA that signed Harbor's certificate, on the host. */
  caPath: string;
  netrc: string;
}

export const localHarborApi = (publicName: string): HarborApi => ({ publicName, port: 443, caPath: tlsPaths().ca, netrc: ADMIN_NETRC });

/**
 * curl to Harbor's API on this host; `args` go before the URL. `path` (after /api/v2.0/) and
 * `netrc` are shell text: literal, or holding "$variables" the calling script sets.
 */
export function curlApi(api: HarborApi, path: string, args: string, netrc = q(api.netrc)): string {
  return (
    `curl -sS --max-time 10 --cacert ${q(api.caPath)} --netrc-file ${netrc} ` +
    `--resolve ${q(`${api.publicName}:${api.port}:127.0.0.1`)} ${args} ${q(`https://${api.publicName}:${api.port}/api/v2.0/`)}${path}`
  );
}
