// The layers under HTTP, one at a time, so a failure says which: the name resolves, the port
// accepts a connection, and the certificate chains to the deployment's CA and names the host.
import { lookup } from 'node:dns/promises';
import { connect as tcpConnect } from 'node:net';
import { checkServerIdentity, connect as tlsConnect, type PeerCertificate } from 'node:tls';
import { SmokeFailure } from './failure.ts';

const CONNECT_TIMEOUT_MS = 5000;

export interface Endpoint {
  /** The registry's public name: SNI, Host header and the name its certificate must carry. */
  name: string;
  port: number;
  /** Where to connect instead of resolving the name (curl's --resolve). */
  address?: string;
}

export async function resolveName(ep: Endpoint): Promise<string> {
  if (ep.address) return ep.address;
  try {
    return (await lookup(ep.name)).address;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTFOUND') throw new SmokeFailure('DNS', `${ep.name} does not resolve (${code}): add its DNS record, map it in /etc/hosts, or pass --resolve ADDRESS`);
    throw new SmokeFailure('DNS', `cannot resolve ${ep.name}: ${code ?? (err as Error).message} (is a resolver reachable?)`);
  }
}

export function tcpCheck(address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = tcpConnect({ host: address, port });
    const fail = (why: string) => {
      sock.destroy();
      reject(new SmokeFailure('TCP', `${address}:${port}: ${why}`));
    };
    sock.setTimeout(CONNECT_TIMEOUT_MS, () => fail(`no answer within ${CONNECT_TIMEOUT_MS / 1000} s (a firewall or security group dropping it?)`));
    sock.once('connect', () => (sock.destroy(), resolve()));
    sock.once('error', (err: NodeJS.ErrnoException) =>
      fail(err.code === 'ECONNREFUSED' ? 'connection refused: nothing listens there' : `${err.code ?? err.message}`),
    );
  });
}

/** `CN=registry.lab.test (DNS:a, IP:b), issued by CN=… CA, valid until …`: which certificate it was. */
export function describeCert(cert: PeerCertificate): string {
  const cn = (x: unknown) => (x && typeof x === 'object' && 'CN' in x ? `CN=${String((x as { CN: unknown }).CN)}` : 'no CN');
  const sans = cert.subjectaltname ? ` (${cert.subjectaltname.replace(/IP Address:/g, 'IP:')})` : '';
  return `${cn(cert.subject)}${sans}, issued by ${cn(cert.issuer)}, valid until ${cert.valid_to}`;
}

const UNTRUSTED = new Set(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT', 'CERT_SIGNATURE_FAILURE']);

/**
 * A handshake that accepts anything, then judges the certificate itself: node's own check
 * would fail without saying which certificate it was given.
 */
export function tlsCheck(ep: Endpoint, address: string, caPem: string, caFile: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = tlsConnect({ host: address, port: ep.port, servername: ep.name, ca: caPem, rejectUnauthorized: false });
    const fail = (why: string) => {
      sock.destroy();
      reject(new SmokeFailure('TLS', why));
    };
    sock.setTimeout(CONNECT_TIMEOUT_MS, () => fail(`${address}:${ep.port}: no TLS handshake within ${CONNECT_TIMEOUT_MS / 1000} s`));
    sock.once('error', (err: NodeJS.ErrnoException) => fail(`${address}:${ep.port}: handshake failed: ${err.code ?? err.message}`));
    sock.once('secureConnect', () => {
      const cert = sock.getPeerCertificate();
      const which = `the certificate of ${ep.name}:${ep.port} [${describeCert(cert)}]`;
      const problem = sock.authorizationError as unknown as string | null;
      if (problem && UNTRUSTED.has(String(problem))) return fail(`${which} is not signed by the CA in ${caFile}`);
      if (problem === 'CERT_HAS_EXPIRED') return fail(`${which} has expired`);
      if (problem === 'CERT_NOT_YET_VALID') return fail(`${which} is not valid yet (is the clock right?)`);
      if (problem === 'ERR_TLS_CERT_ALTNAME_INVALID' || (!problem && checkServerIdentity(ep.name, cert))) return fail(`${which} does not name ${ep.name}`);
      if (problem) return fail(`${which} is refused: ${String(problem)}`);
      sock.end();
      resolve(describeCert(cert));
    });
  });
}
