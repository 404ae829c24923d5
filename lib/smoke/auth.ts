// How a registry asks for credentials (RFC 7235's WWW-Authenticate, Docker's token scheme):
// Basic for the distribution registry's htpasswd, Bearer with a token service for Harbor.
import type { Secret } from '../secret.ts';

export interface Challenge {
  scheme: 'basic' | 'bearer';
  params: Record<string, string>;
}

/** `Bearer realm="…",service="…",scope="repository:a/b:pull,push"` (quoted values may hold commas). */
export function parseChallenge(value: string | undefined): Challenge | undefined {
  const m = /^\s*(basic|bearer)\b(.*)$/is.exec(value ?? '');
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (const p of m[2]!.matchAll(/([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) params[p[1]!.toLowerCase()] = (p[2] ?? p[3] ?? '').replace(/\\(.)/g, '$1');
  return { scheme: m[1]!.toLowerCase() as Challenge['scheme'], params };
}

export interface Credentials {
  user: string;
  password: Secret;
  /** Where the password came from, for messages (a vault key). */
  source: string;
}

export const basicHeader = (c: Credentials): string => `Basic ${Buffer.from(`${c.user}:${c.password.reveal()}`).toString('base64')}`;
