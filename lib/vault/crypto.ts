import { createCipheriv, createHash, createHmac, pbkdf2, pbkdf2Sync, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import type { Secret } from '../secret.ts';

/** AES-256 key, HMAC-SHA256 key and CTR initial counter, all from one PBKDF2 run. */
export interface Keys {
  cipherKey: Buffer;
  hmacKey: Buffer;
  counter: Buffer;
}

const ITERATIONS = 10000;
const DERIVED_BYTES = 32 + 32 + 16;
const BLOCK = 16;
const pbkdf2Async = promisify(pbkdf2);

/**
 * Keys already derived in this process, by sha256(password) and salt: Ansible re-derives for
 * every value, which dominates loading an inventory that is read more than once.
 */
const derived = new Map<string, Keys>();
const MAX_DERIVED = 4096;
let derivations = 0;

/** How many PBKDF2 runs this process made (shows the cache at work, in tests and benchmarks). */
export const keyDerivations = () => derivations;

const cacheId = (password: Secret, salt: Buffer) =>
  createHash('sha256').update(password.reveal(), 'utf8').digest('hex') + ':' + salt.toString('hex');

function keep(id: string, bytes: Buffer): Keys {
  derivations++;
  const keys = { cipherKey: bytes.subarray(0, 32), hmacKey: bytes.subarray(32, 64), counter: bytes.subarray(64, 80) };
  if (derived.size >= MAX_DERIVED) derived.delete(derived.keys().next().value!);
  derived.set(id, keys);
  return keys;
}

export async function deriveKeys(password: Secret, salt: Buffer): Promise<Keys> {
  const id = cacheId(password, salt);
  return derived.get(id) ?? keep(id, await pbkdf2Async(password.reveal(), salt, ITERATIONS, DERIVED_BYTES, 'sha256'));
}

/** For loaders that must stay synchronous (the inventory's `!vault` values). */
export function deriveKeysSync(password: Secret, salt: Buffer): Keys {
  const id = cacheId(password, salt);
  return derived.get(id) ?? keep(id, pbkdf2Sync(password.reveal(), salt, ITERATIONS, DERIVED_BYTES, 'sha256'));
}

const ctr = (keys: Keys, data: Buffer) => {
  const cipher = createCipheriv('aes-256-ctr', keys.cipherKey, keys.counter);
  return Buffer.concat([cipher.update(data), cipher.final()]);
};
const mac = (keys: Keys, ciphertext: Buffer) => createHmac('sha256', keys.hmacKey).update(ciphertext).digest();

/** PKCS7-pads to whole AES blocks, encrypts with AES-256-CTR and MACs the ciphertext. */
export function seal(plaintext: Buffer, keys: Keys): { hmac: Buffer; ciphertext: Buffer } {
  const pad = BLOCK - (plaintext.length % BLOCK);
  const ciphertext = ctr(keys, Buffer.concat([plaintext, Buffer.alloc(pad, pad)]));
  return { hmac: mac(keys, ciphertext), ciphertext };
}

/** The plaintext, or undefined when the HMAC or padding does not check out. */
export function unseal(sealed: { hmac: Buffer; ciphertext: Buffer }, keys: Keys): Buffer | undefined {
  const expected = mac(keys, sealed.ciphertext);
  if (sealed.hmac.length !== expected.length || !timingSafeEqual(sealed.hmac, expected)) return undefined;
  const padded = ctr(keys, sealed.ciphertext);
  const pad = padded[padded.length - 1] ?? 0;
  if (pad < 1 || pad > BLOCK || pad > padded.length) return undefined;
  for (let i = padded.length - pad; i < padded.length; i++) if (padded[i] !== pad) return undefined;
  return padded.subarray(0, padded.length - pad);
}
