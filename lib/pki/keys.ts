import { createPrivateKey, generateKeyPair, X509Certificate } from 'node:crypto';
import { promisify } from 'node:util';
import { Secret } from '../secret.ts';

const generate = promisify(generateKeyPair);

/**
 * A new RSA private key as PKCS#8 PEM. Node's native generator runs off the event loop;
 * node-forge's pure-JS one takes seconds for 4096 bits.
 */
export async function generateRsaKey(bits: number): Promise<Secret> {
  const { privateKey } = await generate('rsa', {
    modulusLength: bits,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return new Secret(privateKey);
}

/** Whether the private key belongs to the certificate's public key. */
export function keyMatchesCert(keyPem: Secret, cert: X509Certificate): boolean {
  try {
    return cert.checkPrivateKey(createPrivateKey(keyPem.reveal()));
  } catch {
    return false;
  }
}
