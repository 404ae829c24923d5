import { inspect } from 'node:util';

const MASK = '********';

/** Every secret value loaded in this process; redact() masks the longest first. */
const known = new Set<string>();
let ordered: string[] | undefined;

/**
 * A secret value (from the vault or a password source). Printing, logging, string
 * interpolation or JSON-serialising it gives `********`; only reveal() gives the value.
 */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
    remember(value);
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return MASK;
  }
  toJSON(): string {
    return MASK;
  }
  [inspect.custom](): string {
    return MASK;
  }
}

/** Registers a value that must never be printed (also used for values that are not wrapped). */
export function remember(value: string): void {
  add(value);
  // Key material (a PEM body, a token in a file) also shows up line by line, in diffs and
  // logs; lines with spaces ("key: value" in a decrypted vars file) are ordinary text.
  if (value.includes('\n')) {
    for (const line of value.split('\n').map((l) => l.trim())) if (line.length >= 16 && !/\s/.test(line)) add(line);
  }
}

/** Very short values would mask ordinary words in output; they are still wrapped as Secret. */
function add(value: string): void {
  if (value.length < 4 || known.has(value)) return;
  known.add(value);
  ordered = undefined;
}

/** Replaces every known secret value in text with `********`. */
export function redact(text: string): string {
  if (known.size === 0 || !text) return text;
  ordered ??= [...known].sort((a, b) => b.length - a.length);
  let out = text;
  for (const v of ordered) if (out.includes(v)) out = out.split(v).join(MASK);
  return out;
}

export const isSecret = (v: unknown): v is Secret => v instanceof Secret;

/**
 * Whether text holds a secret: a known value, or the mask a Secret turns into when it is
 * interpolated into a string (`${secret}`), which would otherwise run as the literal ********.
 */
export const holdsSecret = (text: string): boolean => text.includes(MASK) || redact(text) !== text;

/** Deep copy with Secrets replaced by their values, for template rendering. Records whether any was used. */
export function revealDeep(value: unknown, used: { secret: boolean } = { secret: false }): unknown {
  if (value instanceof Secret) {
    used.secret = true;
    return value.reveal();
  }
  if (Array.isArray(value)) return value.map((v) => revealDeep(v, used));
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, revealDeep(v, used)]));
  }
  return value;
}
