import { randomBytes } from 'node:crypto';
import { Secret } from '../secret.ts';

const UPPER = 'ABCDEFGHJKLMNPQRSTUVWXYZ';
const LOWER = 'abcdefghijkmnopqrstuvwxyz';
const DIGIT = '23456789';
const ALPHABET = UPPER + LOWER + DIGIT;

/** Harbor's rule for local users: 8 to 128 characters, at least one upper-case letter, one lower-case letter and one digit. */
export function meetsHarborPolicy(password: string): boolean {
  return password.length >= 8 && password.length <= 128 && /[A-Z]/.test(password) && /[a-z]/.test(password) && /\d/.test(password);
}

/**
 * A random password for a new Harbor user: `length` characters from letters and digits
 * (look-alikes left out, so it can be read aloud), drawn again until Harbor's rule holds.
 * Rejection sampling keeps every character uniform (no modulo bias).
 */
export function newUserPassword(length = 24): Secret {
  for (;;) {
    let out = '';
    while (out.length < length) {
      for (const byte of randomBytes(length * 2)) {
        if (byte < 256 - (256 % ALPHABET.length)) out += ALPHABET[byte % ALPHABET.length];
        if (out.length === length) break;
      }
    }
    if (meetsHarborPolicy(out)) return new Secret(out);
  }
}
