import { randomBytes } from 'node:crypto';
import forge from 'node-forge';
import type { Secret } from '../secret.ts';
import { generateRsaKey } from './keys.ts';
import type { San } from './sans.ts';

/** A certificate with its private key. */
export interface KeyPair {
  certPem: string;
  keyPem: Secret;
}

/*
 * Key choice: RSA. node-forge builds and signs X.509 only with RSA keys, so ECDSA would mean
 * hand-written ASN.1 for key info and signatures; and RSA is accepted by every client on the
 * path (Apache mod_ssl's proxy, docker/Go, skopeo, Harbor's nginx). The CA gets 4096 bits: it
 * lives five years and signs rarely, so its size costs nothing at handshake time. Leaves get
 * 3072 bits (NIST's 128-bit level, fine past 2030); they sign in every handshake, where 4096
 * would cost ~3x for no gain on a certificate that lives at most 397 days.
 */
export const CA_KEY_BITS = 4096;
export const SERVER_KEY_BITS = 3072;
export const CA_DAYS = 5 * 365 + 1;
/** CA/Browser Forum limit, also enforced by Apple clients. */
export const MAX_SERVER_DAYS = 397;
const DAY_MS = 86_400_000;
/** Back-dating absorbs clock skew between the controller and the hosts. */
const BACKDATE_MS = 3_600_000;

/** 16 random bytes, first bit clear so the DER INTEGER is positive, second set so it stays 16 bytes. */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x40;
  return bytes.toString('hex');
}

interface Draft {
  cert: forge.pki.Certificate;
  keyPem: Secret;
}

async function draft(bits: number, now: Date, days: number, notAfterCap?: Date): Promise<Draft> {
  const keyPem = await generateRsaKey(bits);
  const cert = forge.pki.createCertificate();
  const { n, e } = forge.pki.privateKeyFromPem(keyPem.reveal()) as forge.pki.rsa.PrivateKey;
  cert.publicKey = forge.pki.setRsaPublicKey(n, e);
  cert.serialNumber = randomSerial();
  const notBefore = new Date(now.getTime() - BACKDATE_MS);
  // RFC 5280 validity is inclusive at both ends, hence the second off.
  let notAfter = new Date(notBefore.getTime() + days * DAY_MS - 1000);
  if (notAfterCap && notAfter > notAfterCap) notAfter = notAfterCap;
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
  return { cert, keyPem };
}

function sign(cert: forge.pki.Certificate, signerKeyPem: Secret): string {
  cert.sign(forge.pki.privateKeyFromPem(signerKeyPem.reveal()), forge.md.sha256.create());
  return forge.pki.certificateToPem(cert).replace(/\r\n/g, '\n'); // forge writes CRLF
}

export interface CaOptions {
  commonName: string;
  days?: number;
  now?: Date;
}

/** A self-signed CA: basicConstraints CA:TRUE and keyUsage keyCertSign+cRLSign, both critical. */
export async function createCa(opts: CaOptions): Promise<KeyPair> {
  const { cert, keyPem } = await draft(CA_KEY_BITS, opts.now ?? new Date(), opts.days ?? CA_DAYS);
  const subject = [
    { name: 'organizationName', value: 'harbormaster' },
    { name: 'commonName', value: opts.commonName },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  return { certPem: sign(cert, keyPem), keyPem };
}

export interface ServerCertOptions {
  ca: KeyPair;
  /** The first DNS entry becomes the subject CN. */
  sans: San[];
  days?: number;
  now?: Date;
}

/**
 * A TLS server certificate signed by the CA: SANs, keyUsage digitalSignature+keyEncipherment
 * (RSA key), extendedKeyUsage serverAuth, AKI = the CA's SKI. It never outlives the CA.
 */
export async function issueServerCert(opts: ServerCertOptions): Promise<KeyPair> {
  const caCert = forge.pki.certificateFromPem(opts.ca.certPem);
  const { cert, keyPem } = await draft(SERVER_KEY_BITS, opts.now ?? new Date(), opts.days ?? MAX_SERVER_DAYS, caCert.validity.notAfter);
  const cn = opts.sans.find((s) => s.type === 'DNS') ?? opts.sans[0];
  if (!cn) throw new Error('issueServerCert: no SANs given');
  cert.setSubject([{ name: 'commonName', value: cn.value }]);
  cert.setIssuer(caCert.subject.attributes);
  const caSki = caCert.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier?: string } | undefined;
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: opts.sans.map((s) => (s.type === 'DNS' ? { type: 2, value: s.value } : { type: 7, ip: s.value })),
    },
    { name: 'subjectKeyIdentifier' },
    {
      name: 'authorityKeyIdentifier',
      keyIdentifier: caSki?.subjectKeyIdentifier
        ? forge.util.hexToBytes(caSki.subjectKeyIdentifier)
        : caCert.generateSubjectKeyIdentifier().getBytes(),
    },
  ]);
  return { certPem: sign(cert, opts.ca.keyPem), keyPem };
}
