import { X509Certificate } from 'node:crypto';
import { formatSan, sansOf } from './sans.ts';

const DAY_MS = 86_400_000;

/** The certificate in `pem`, or undefined when it is not one. */
export function readCert(pem: string): X509Certificate | undefined {
  try {
    return new X509Certificate(pem);
  } catch {
    return undefined;
  }
}

/** `sha256:<hex of the DER>`: how hosts record the CA they were given, and how messages name one. */
export function certFingerprint(pem: string): string | undefined {
  const cert = readCert(pem);
  return cert && `sha256:${cert.fingerprint256.replace(/:/g, '').toLowerCase()}`;
}

/** Whole days until the certificate expires (negative once it has). */
export function daysLeft(cert: X509Certificate, now: Date): number {
  return Math.floor((Date.parse(cert.validTo) - now.getTime()) / DAY_MS);
}

/** Why the certificate should be replaced on account of its dates, or undefined if it need not. */
export function validityProblem(cert: X509Certificate, now: Date, renewBeforeDays: number): string | undefined {
  if (Date.parse(cert.validFrom) > now.getTime()) return `not valid before ${new Date(cert.validFrom).toISOString()}`;
  const left = daysLeft(cert, now);
  if (left < 0) return `expired ${-left} days ago`;
  if (left < renewBeforeDays) return `expires in ${left} days`;
  return undefined;
}

/** Whether `ca` issued `cert`: issuer name and key identifiers match and the signature verifies. */
export function chainsTo(cert: X509Certificate, ca: X509Certificate): boolean {
  return cert.checkIssued(ca) && cert.verify(ca.publicKey);
}

export interface CertSummary {
  subject: string;
  issuer: string;
  serial: string;
  sans: string[];
  notBefore: Date;
  notAfter: Date;
  daysLeft: number;
  sha256: string;
  isCa: boolean;
}

export function summarize(cert: X509Certificate, now: Date): CertSummary {
  return {
    subject: cert.subject.replace(/\n/g, ', '),
    issuer: cert.issuer.replace(/\n/g, ', '),
    serial: cert.serialNumber,
    sans: sansOf(cert).map(formatSan),
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    daysLeft: daysLeft(cert, now),
    sha256: cert.fingerprint256,
    isCa: cert.ca,
  };
}
