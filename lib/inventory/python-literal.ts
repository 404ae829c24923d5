/**
 * INI inventory values as Ansible reads them: Python's ast.literal_eval when the text is a literal
 * (22, True, None, 'quoted', [1, 2], {'a': 1}), otherwise the text itself.
 * Tuples become arrays; a trailing `# comment` after a literal is ignored, as Python does.
 */
export function iniValue(text: string): unknown {
  const p = new LiteralParser(text);
  try {
    const value = p.value();
    p.skipSpace();
    if (p.rest().startsWith('#') || p.rest() === '') return value;
  } catch (err) {
    if (!(err instanceof NotALiteral)) throw err;
  }
  return text;
}

class NotALiteral extends Error {}

const NUMBER = /^(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?)(?![\w.])/;
const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '0': '\0', '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', v: '\v' };

class LiteralParser {
  #i = 0;
  constructor(readonly text: string) {}

  rest(): string {
    return this.text.slice(this.#i);
  }

  skipSpace(): void {
    while (/\s/.test(this.text[this.#i] ?? '')) this.#i++;
  }

  value(): unknown {
    this.skipSpace();
    const c = this.text[this.#i];
    if (c === '[' || c === '(') return this.sequence(c === '[' ? ']' : ')');
    if (c === '{') return this.dict();
    if (c === "'" || c === '"') return this.strings();
    for (const [word, v] of [['True', true], ['False', false], ['None', null]] as const) {
      if (new RegExp(`^${word}(?!\\w)`).test(this.rest())) {
        this.#i += word.length;
        return v;
      }
    }
    return this.number();
  }

  number(): number {
    let sign = 1;
    while (this.text[this.#i] === '-' || this.text[this.#i] === '+') {
      if (this.text[this.#i++] === '-') sign = -sign;
      this.skipSpace();
    }
    const m = NUMBER.exec(this.rest());
    if (!m) throw new NotALiteral();
    const digits = m[0].replace(/_/g, '');
    // Python rejects leading zeros in decimal integers (0644 is a SyntaxError, so Ansible keeps it a string).
    if (/^0\d*[1-9]\d*$/.test(digits)) throw new NotALiteral();
    this.#i += m[0].length;
    const n = /^0[oObB]/.test(digits) ? parseInt(digits.slice(2), digits[1]!.toLowerCase() === 'o' ? 8 : 2) : Number(digits);
    return sign * n;
  }

  /** Adjacent string literals concatenate, as in Python. */
  strings(): string {
    let out = this.string();
    for (this.skipSpace(); this.text[this.#i] === "'" || this.text[this.#i] === '"'; this.skipSpace()) out += this.string();
    return out;
  }

  string(): string {
    const quote = this.text[this.#i++]!;
    let out = '';
    for (;;) {
      const c = this.text[this.#i++];
      if (c === undefined || c === '\n') throw new NotALiteral();
      if (c === quote) return out;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = this.text[this.#i++] ?? '';
      const hex = e === 'x' ? 2 : e === 'u' ? 4 : 0;
      if (hex) {
        out += String.fromCharCode(parseInt(this.text.slice(this.#i, this.#i + hex), 16));
        this.#i += hex;
      } else out += ESCAPES[e] ?? `\\${e}`;
    }
  }

  sequence(close: string): unknown[] {
    this.#i++;
    const items: unknown[] = [];
    for (;;) {
      this.skipSpace();
      if (this.text[this.#i] === close) break;
      items.push(this.value());
      this.skipSpace();
      if (this.text[this.#i] === ',') this.#i++;
      else if (this.text[this.#i] !== close) throw new NotALiteral();
    }
    this.#i++;
    return items;
  }

  dict(): Record<string, unknown> {
    this.#i++;
    const out: Record<string, unknown> = {};
    for (;;) {
      this.skipSpace();
      if (this.text[this.#i] === '}') break;
      const key = this.value();
      this.skipSpace();
      if (this.text[this.#i++] !== ':') throw new NotALiteral();
      out[String(key)] = this.value();
      this.skipSpace();
      if (this.text[this.#i] === ',') this.#i++;
      else if (this.text[this.#i] !== '}') throw new NotALiteral();
    }
    this.#i++;
    return out;
  }
}
