import { inputError, UserError } from '../errors.ts';

/**
 * The Ansible Vault envelope (formats 1.1 and 1.2, cipher AES256):
 *
 *   $ANSIBLE_VAULT;1.1;AES256            or  $ANSIBLE_VAULT;1.2;AES256;VAULT_ID
 *   hex(hex(salt) "\n" hex(hmac) "\n" hex(ciphertext)), wrapped at 80 columns
 */

export const VAULT_HEADER = '$ANSIBLE_VAULT';
const LINE_WIDTH = 80;
const HEX_LINE = /^[0-9a-fA-F]*$/;
const CONFLICT_MARKER = /^(<{7}|={7}|>{7}|\|{7})( |$)/;

export interface Sealed {
  salt: Buffer;
  hmac: Buffer;
  ciphertext: Buffer;
  /** Present only in format 1.2. */
  vaultId?: string;
}

/**
 * Where a vault text came from: a whole file (its header is line 1), or `FILE:LINE` for a
 * `!vault |` value whose tag is on LINE, so that the vault text starts on the next line.
 */
export interface Origin {
  file: string;
  line?: number;
}

export function parseWhere(where: string): Origin {
  const m = /^(.*):(\d+)$/.exec(where);
  return m ? { file: m[1]!, line: Number(m[2]) } : { file: where };
}

/** `FILE` or `FILE:LINE`, as the user should see it in messages. */
export const showWhere = (o: Origin): string => (o.line ? `${o.file}:${o.line}` : o.file);

export const isVaultText = (text: string): boolean => text.trimStart().startsWith(VAULT_HEADER);

/** A vault text at any indentation, as in `!vault |` values, with its hex lines. */
const EMBEDDED_VAULT = /^([ \t]*)\$ANSIBLE_VAULT;.*\r?\n(?:\1[ \t]*[0-9a-fA-F]+[ \t]*(?:\r?\n|$))+/gm;

/** Every vault text in a file (a whole vault file or YAML with `!vault |` values), dedented. */
export function findVaultTexts(text: string): string[] {
  return [...text.matchAll(EMBEDDED_VAULT)].map((m) => m[0].split('\n').map((l) => l.trim()).join('\n'));
}

export function checkVaultId(vaultId: string): void {
  if (!/^[^\s;@]+$/.test(vaultId)) {
    throw new UserError(`bad vault id '${vaultId}': spaces, ';' and '@' are not allowed`);
  }
}

export function formatVaultText(sealed: Sealed): string {
  // Ansible writes 1.1 for the default id, 1.2 for any other.
  const id = sealed.vaultId && sealed.vaultId !== 'default' ? sealed.vaultId : undefined;
  if (id) checkVaultId(id);
  const header = id ? `${VAULT_HEADER};1.2;AES256;${id}` : `${VAULT_HEADER};1.1;AES256`;
  const inner = [sealed.salt, sealed.hmac, sealed.ciphertext].map((b) => b.toString('hex')).join('\n');
  const body = Buffer.from(inner, 'ascii').toString('hex');
  const lines = [header];
  for (let i = 0; i < body.length; i += LINE_WIDTH) lines.push(body.slice(i, i + LINE_WIDTH));
  return lines.join('\n') + '\n';
}

/** Splits a vault text into salt, HMAC and ciphertext; every format error names the file and line. */
export function parseVaultText(text: string, origin: Origin): Sealed {
  const lines = text.split(/\r?\n/);
  const firstLine = origin.line ? origin.line + 1 : 1;
  const at = (index: number, what: string) => inputError(origin.file, firstLine + index, what);

  const conflict = lines.findIndex((l) => CONFLICT_MARKER.test(l));
  if (conflict >= 0) {
    throw at(
      conflict,
      'git merge conflict marker in a vault: take one side (git checkout --ours or --theirs), ' +
        'then re-apply the other side with npx zx scripts/vault.mts edit',
    );
  }

  let headerIndex = 0;
  while (headerIndex < lines.length - 1 && lines[headerIndex]!.trim() === '') headerIndex++;
  const header = (lines[headerIndex] ?? '').trim().split(';').map((p) => p.trim());
  if (header[0] !== VAULT_HEADER) {
    throw at(headerIndex, `not an Ansible vault (expected a ${VAULT_HEADER};1.1;AES256 header)`);
  }
  const [, version, cipher, vaultId] = header;
  if (!(version === '1.1' || version === '1.2') || cipher !== 'AES256' || header.length > 4) {
    throw at(headerIndex, `unsupported vault format '${header.join(';')}' (expected 1.1 or 1.2 with AES256)`);
  }

  // Body lines are joined as Ansible does; remember where each starts to point at errors.
  const starts: { index: number; offset: number }[] = [];
  let body = '';
  for (let i = headerIndex + 1; i < lines.length; i++) {
    const line = lines[i]!.trimEnd();
    if (!HEX_LINE.test(line)) {
      const column = [...line].findIndex((c) => !/[0-9a-fA-F]/.test(c)) + 1;
      throw at(i, `bad hex in vault data at column ${column}`);
    }
    if (line) {
      starts.push({ index: i, offset: body.length });
      body += line;
    }
  }
  const lastIndex = starts.length ? starts[starts.length - 1]!.index : headerIndex;
  const lineOf = (offset: number) => [...starts].reverse().find((s) => s.offset <= offset)?.index ?? lastIndex;
  const truncated = (offset: number, what: string) => at(lineOf(offset), `truncated vault data (${what})`);

  if (!body) throw truncated(0, 'nothing after the header');
  if (body.length % 2) throw truncated(body.length, 'odd number of hex digits');
  const inner = Buffer.from(body, 'hex').toString('latin1');
  const first = inner.indexOf('\n');
  const second = first < 0 ? -1 : inner.indexOf('\n', first + 1);
  if (second < 0) throw truncated(body.length, 'salt, HMAC and ciphertext not all present');

  const field = (from: number, to: number, name: string): Buffer => {
    const hex = inner.slice(from, to);
    if (!hex || hex.length % 2 || !HEX_LINE.test(hex)) {
      // Offsets in `inner` are bytes; in `body` each byte is two hex digits.
      throw at(lineOf(from * 2), `bad ${name} in vault data`);
    }
    return Buffer.from(hex, 'hex');
  };
  const sealed: Sealed = {
    salt: field(0, first, 'salt'),
    hmac: field(first + 1, second, 'HMAC'),
    ciphertext: field(second + 1, inner.length, 'ciphertext'),
  };
  if (sealed.ciphertext.length % 16) throw truncated(body.length, 'ciphertext is not whole AES blocks');
  if (version === '1.2' && vaultId) sealed.vaultId = vaultId;
  return sealed;
}
