// What an instance's console output says about it: cloud-init prints the host's SSH public
// keys between two marker lines, which is how a new instance's keys are pinned before first
// contact (no trust on first use).
import { keyTypeOf } from '../../transport/knownhosts.ts';

const BEGIN = '-----BEGIN SSH HOST KEY KEYS-----';
const END = '-----END SSH HOST KEY KEYS-----';

/** An OpenSSH public key line's `type base64` (comment dropped), or undefined when it is not one. */
export function publicKeyOf(line: string): string | undefined {
  const m = /^\s*([a-z0-9@.-]+)\s+([A-Za-z0-9+/]+={0,2})(?:\s|$)/.exec(line);
  if (!m) return undefined;
  const blob = Buffer.from(m[2]!, 'base64');
  // The blob names its own type; a line whose two do not agree is noise, not a key.
  return blob.length > 4 && blob.readUInt32BE(0) < blob.length && keyTypeOf(blob) === m[1] ? `${m[1]} ${m[2]}` : undefined;
}

/** The host keys in console output (the last boot's block when there are several). */
export function hostKeysFromConsole(text: string): string[] {
  const lines = text.split(/\r?\n/);
  const begin = lines.findLastIndex((l) => l.endsWith(BEGIN));
  if (begin < 0) return [];
  // Some images prefix every line cloud-init prints ("ec2: "); the keys carry the same prefix.
  const prefix = lines[begin]!.slice(0, -BEGIN.length);
  const end = lines.findIndex((l, n) => n > begin && l === `${prefix}${END}`);
  if (end < 0) return [];
  return lines.slice(begin + 1, end).map((l) => publicKeyOf(l.startsWith(prefix) ? l.slice(prefix.length) : l)).filter((k): k is string => k !== undefined);
}
