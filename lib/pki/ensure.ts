import type { X509Certificate } from 'node:crypto';
import { UserError } from '../errors.ts';
import type { Secret } from '../secret.ts';
import { chainsTo, daysLeft, readCert, validityProblem } from './inspect.ts';
import { CA_DAYS, createCa, issueServerCert, MAX_SERVER_DAYS, type KeyPair } from './issue.ts';
import { keyMatchesCert } from './keys.ts';
import { sanChanges, sansOf, type San } from './sans.ts';

export const RENEW_BEFORE_DAYS = 30;

/** What we hold now: either part may be missing (first run, deleted file, key not in the vault). */
export interface Current {
  certPem?: string;
  keyPem?: Secret;
}

export interface Ensured extends KeyPair {
  changed: boolean;
  /** Why it was (re)issued ("missing", "SANs changed: +DNS:x -IP:y", "expires in 12 days"), or that it is valid. */
  reason: string;
}

interface Common {
  current?: Current;
  days?: number;
  renewBefore?: number;
  now?: Date;
}

function checkDays(what: string, days: number, renewBefore: number, max?: number): void {
  if (!Number.isInteger(days) || days < 1 || (max !== undefined && days > max)) {
    throw new UserError(`${what} validity must be a whole number of days${max ? ` from 1 to ${max}` : ''}, got ${days}`);
  }
  if (!Number.isInteger(renewBefore) || renewBefore < 0 || renewBefore >= days) {
    throw new UserError(`renew-before must be 0..${days - 1} days (less than the ${days}-day validity), got ${renewBefore}`);
  }
}

/** Why what we hold cannot be used at all, before looking at its contents. */
function unusable(current: Current | undefined, cert: X509Certificate | undefined): string | undefined {
  if (!current?.certPem) return 'missing';
  if (!cert) return 'certificate unreadable';
  if (!current.keyPem) return 'private key missing from the vault';
  if (!keyMatchesCert(current.keyPem, cert)) return 'private key does not match the certificate';
  return undefined;
}

/** Keeps `current` when it is usable and `problemsOf` finds nothing; otherwise makes a new pair. */
async function ensure(
  current: Current | undefined,
  now: Date,
  problemsOf: (cert: X509Certificate) => string[],
  make: () => Promise<KeyPair>,
): Promise<Ensured> {
  const cert = current?.certPem ? readCert(current.certPem) : undefined;
  const fatal = unusable(current, cert);
  const problems = fatal ? [fatal] : problemsOf(cert!);
  if (problems.length === 0) {
    return { certPem: current!.certPem!, keyPem: current!.keyPem!, changed: false, reason: `valid, expires in ${daysLeft(cert!, now)} days` };
  }
  return { ...(await make()), changed: true, reason: problems.join('; ') };
}

export interface EnsureCaOptions extends Common {
  commonName: string;
}

/** Keeps the CA while its key matches, it is a CA and it does not expire within `renewBefore` days. */
export async function ensureCa(opts: EnsureCaOptions): Promise<Ensured> {
  const now = opts.now ?? new Date();
  const days = opts.days ?? CA_DAYS;
  const renewBefore = opts.renewBefore ?? RENEW_BEFORE_DAYS;
  checkDays('CA', days, renewBefore);
  return ensure(
    opts.current,
    now,
    (cert) => [cert.ca ? undefined : 'not a CA certificate', validityProblem(cert, now, renewBefore)].filter((p) => p !== undefined),
    () => createCa({ commonName: opts.commonName, days, now }),
  );
}

export interface EnsureServerOptions extends Common {
  ca: KeyPair;
  sans: San[];
}

/**
 * Keeps the server certificate while it chains to `ca`, carries exactly `sans` (any order) and
 * does not expire within `renewBefore` days; otherwise issues a new key and certificate.
 */
export async function ensureServerCert(opts: EnsureServerOptions): Promise<Ensured> {
  const now = opts.now ?? new Date();
  const days = opts.days ?? MAX_SERVER_DAYS;
  const renewBefore = opts.renewBefore ?? RENEW_BEFORE_DAYS;
  checkDays('server certificate', days, renewBefore, MAX_SERVER_DAYS);
  const caCert = readCert(opts.ca.certPem);
  return ensure(
    opts.current,
    now,
    (cert) => {
      const changes = sanChanges(sansOf(cert), opts.sans);
      return [
        caCert && chainsTo(cert, caCert) ? undefined : 'not signed by the current CA',
        changes ? `SANs changed: ${changes}` : undefined,
        validityProblem(cert, now, renewBefore),
      ].filter((p) => p !== undefined);
    },
    () => issueServerCert({ ca: opts.ca, sans: opts.sans, days, now }),
  );
}
