// The deployment's TLS files on a host: the same layout on the bastion (Apache) and the registry.
import type { Vars } from '../../lib/inventory/types.ts';
import { copy, directory, type Step } from '../../lib/steps/index.ts';
import { q } from '../../lib/transport/shell.ts';
import { UserError } from '../../lib/errors.ts';
import { certFingerprint } from '../../lib/pki/index.ts';
import { need, needSecret } from './deployment.ts';

export const TLS_DIR = '/etc/harbormaster/tls';
export const TLS_CA = `${TLS_DIR}/ca.crt`;
/** Where each host records the CA it was given, world-readable (only a fingerprint): what the next run compares with. */
export const CA_RECORD = '/etc/harbormaster/ca.sha256';

export const tlsPaths = (dir = TLS_DIR) => ({
  dir,
  ca: dir === TLS_DIR ? TLS_CA : `${dir}/ca.crt`,
  cert: `${dir}/server.crt`,
  key: `${dir}/server.key`,
});

export interface TlsOptions {
  role: string;
  vars: Vars;
  /**
   * A group that must read the key (a daemon running as its own user): the directory becomes
   * 0750 and the key 0640 for that group. Without it, root only: 0700 and 0600.
   */
  readerGroup?: string;
  /** Another directory and certificate for another service on the host (default: the registry's, TLS_DIR). */
  dir?: string;
  /** The vars holding that certificate and its key (default tls_cert_pem, tls_key_pem). */
  pemVars?: { cert: string; key: string };
}

function caFingerprint(pem: string, role: string): string {
  const fingerprint = certFingerprint(pem);
  if (!fingerprint) throw new UserError(`role ${role}: variable tls_ca_pem is not a PEM certificate`);
  return fingerprint;
}

/**
 * /etc/harbormaster (0755), its tls directory, the CA and server certificate (0644), the key
 * (sensitive), and the record of the CA this host now holds (what the next run compares with).
 */
export function tlsSteps({ role, vars, readerGroup, dir, pemVars = { cert: 'tls_cert_pem', key: 'tls_key_pem' } }: TlsOptions): Step[] {
  const p = tlsPaths(dir);
  const group = readerGroup ?? 'root';
  const tags = ['tls'];
  return [
    directory({ path: '/etc/harbormaster', mode: '0755', owner: 'root', group: 'root', tags }),
    directory({ path: p.dir, mode: readerGroup ? '0750' : '0700', owner: 'root', group, tags }),
    copy({ dest: p.ca, content: need<string>(vars, 'tls_ca_pem', role), mode: '0644', owner: 'root', group: 'root', tags }),
    copy({ dest: p.cert, content: need<string>(vars, pemVars.cert, role), mode: '0644', owner: 'root', group: 'root', tags }),
    copy({ dest: p.key, content: needSecret(vars, pemVars.key, role), mode: readerGroup ? '0640' : '0600', owner: 'root', group, tags }),
    copy({ dest: CA_RECORD, content: `${caFingerprint(need<string>(vars, 'tls_ca_pem', role), role)}\n`, mode: '0644', owner: 'root', group: 'root', tags }),
  ];
}

/**
 * sh test: what answers TLS on this host's `port` presents the certificate on disk, verified
 * for `name` against the CA on disk. A daemon still holding an older certificate fails it, and
 * one that accepts but never answers fails it within 5 s.
 */
export function servesCurrentCert(name: string, port: number): string {
  const p = tlsPaths();
  const fingerprint = 'openssl x509 -noout -fingerprint -sha256';
  const served =
    `timeout 5 openssl s_client -connect 127.0.0.1:${port} -servername ${q(name)} -verify_hostname ${q(name)} -CAfile ${q(p.ca)} -verify_return_error </dev/null 2>/dev/null | ${fingerprint} 2>/dev/null`;
  return `{ got=$(${served}) && [ -n "$got" ] && [ "$got" = "$(${fingerprint} -in ${q(p.cert)})" ]; }`;
}
