import { randomBytes } from 'node:crypto';
import { StepError } from './base.ts';
import { q, remoteBase, remoteDir } from '../transport/shell.ts';
import type { Action, FileState, ProbeState } from './types.ts';

/** Mode, owner and group a file step asks for; unset ones are left as they are. */
export interface FileAttrs {
  /** Octal, as a string: `'0644'` or `'644'` (a number would invite decimal 644 by mistake). */
  mode?: string;
  owner?: string | number;
  group?: string | number;
}

/** The attributes asked for, checked now (a bad mode is a mistake in the role, not on the host). */
export function attrsOf(opts: FileAttrs): FileAttrs {
  if (opts.mode !== undefined) normalizeMode(opts.mode);
  return { mode: opts.mode, owner: opts.owner, group: opts.group };
}

/** `644` for `'0644'` — as `stat -c %a` prints it. */
export function normalizeMode(mode: string): string {
  const text = String(mode).trim();
  if (!/^[0-7]{1,4}$/.test(text)) throw new StepError(`mode "${mode}" is not an octal mode like '0644'`);
  return text.replace(/^0+(?=.)/, '');
}

/** `key=value` lines as printed by probes. */
export function fields(output: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of output.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out.set(line.slice(0, i), line.slice(i + 1));
  }
  return out;
}

/** A path's probed state (every path a step asks about is in the map). */
export function fileState(state: ProbeState, path: string): FileState {
  return state.files.get(path) ?? { type: 'absent' };
}

const sameOwner = (want: string | number, name?: string, id?: string): boolean =>
  String(want) === name || String(want) === id;

/** Attribute differences, as `mode 644 -> 600`, `owner root -> www-data`. */
export function attrChanges(state: FileState, want: FileAttrs): string[] {
  const out: string[] = [];
  if (want.mode !== undefined && normalizeMode(want.mode) !== state.mode) {
    out.push(`mode ${state.mode} -> ${normalizeMode(want.mode)}`);
  }
  if (want.owner !== undefined && !sameOwner(want.owner, state.user, state.uid)) {
    out.push(`owner ${state.user} -> ${want.owner}`);
  }
  if (want.group !== undefined && !sameOwner(want.group, state.group, state.gid)) {
    out.push(`group ${state.group} -> ${want.group}`);
  }
  return out;
}

/** chmod/chown lines for the variable `var` (a path), only for the attributes asked for. */
export function attrScript(target: string, want: FileAttrs): string[] {
  const lines: string[] = [];
  if (want.mode !== undefined) lines.push(`chmod ${normalizeMode(want.mode)} ${target}`);
  if (want.owner !== undefined || want.group !== undefined) {
    const spec = `${want.owner ?? ''}${want.group !== undefined ? `:${want.group}` : ''}`;
    lines.push(`chown ${q(spec)} ${target}`);
  }
  return lines;
}

/**
 * Where an SFTP upload lands before being renamed into place: beside the target (a fixed name, so
 * an upload cut short is overwritten by the next one), or for become users, who cannot write
 * there, a fresh name in /tmp.
 */
export function uploadPath(dest: string, become: boolean): string {
  if (become) return `/tmp/.hm-upload-${randomBytes(8).toString('hex')}`;
  return `${remoteDir(dest)}/.${remoteBase(dest)}.hm-upload`;
}

export type Content = { bytes: Buffer } | { localFile: string; size: number };

/**
 * The shape of every file replacement: `fill` puts the new content into "$t", a temp file in the
 * target directory (mktemp there first when it needs one), `check` vets it, then it gets the
 * existing file's (else 0644) or the asked mode/owner and is renamed over the target. Whatever
 * stops the script midway (error, signal, lost connection) leaves the target as it was.
 */
export function replaceFileScript(dest: string, fill: string[], check: string[], attrs: FileAttrs, cleanup = '"$t"'): string {
  return [
    'set -e',
    `f=${q(dest)}; d=${q(remoteDir(dest))}; b=${q(remoteBase(dest))}`,
    '[ -d "$d" ] || { echo "directory $d does not exist" >&2; exit 1; }',
    "trap 'exit 129' HUP INT TERM PIPE",
    `trap 'rm -f ${cleanup}' EXIT`,
    ...fill,
    ...check,
    'if [ -e "$f" ]; then chmod --reference="$f" "$t"; chown --reference="$f" "$t"; else chmod 644 "$t"; fi',
    ...attrScript('"$t"', attrs),
    'mv -f "$t" "$f"',
    'trap - EXIT',
  ].join('\n');
}

const NEW_TEMP = 't=$(mktemp "$d/.$b.hm-XXXXXX")';

/**
 * Writes a file atomically, its content from stdin or from an SFTP upload, checked complete
 * (a cut connection gives a short file) before it replaces the target.
 */
export function writeFileAction(dest: string, content: Content, attrs: FileAttrs, become: boolean): Action {
  const size = 'bytes' in content ? content.bytes.length : content.size;
  const complete = `[ "$(stat -c %s "$t")" -eq ${size} ] || { echo "incomplete content (connection lost?)" >&2; exit 1; }`;
  if ('bytes' in content) {
    return { script: replaceFileScript(dest, [NEW_TEMP, 'cat > "$t"'], [complete], attrs), stdin: content.bytes };
  }
  const staging = uploadPath(dest, become);
  const script = staging.startsWith(`${remoteDir(dest)}/`)
    ? replaceFileScript(dest, ['t="$HM_UPLOAD"'], [complete], attrs)
    : replaceFileScript(dest, [NEW_TEMP, 'cat "$HM_UPLOAD" > "$t"', 'rm -f "$HM_UPLOAD"'], [complete], attrs, '"$t" "$HM_UPLOAD"');
  return { script, upload: { local: content.localFile, remote: staging } };
}

/**
 * Fetches a URL on the host (curl, else wget) and installs the file only if its sha256 matches.
 * The URL may carry a token, so it arrives on stdin and reaches curl/wget through a pipe from
 * the shell's builtin printf, never through argv.
 */
export function downloadAction(dest: string, url: string, sha256: string, attrs: FileAttrs): Action {
  if (/["\\\s]/.test(url)) throw new StepError(`download: URL must not contain quotes, backslashes or spaces (percent-encode them)`);
  const fetch = [
    NEW_TEMP,
    'IFS= read -r url',
    'if command -v curl >/dev/null 2>&1; then printf \'url = "%s"\\n\' "$url" | curl -fsSL --retry 2 -o "$t" -K -',
    'elif command -v wget >/dev/null 2>&1; then printf \'%s\\n\' "$url" | wget -q -O "$t" -i -',
    'else echo "neither curl nor wget is installed" >&2; exit 1; fi',
  ];
  const check = [
    'h=$(sha256sum < "$t" | cut -c1-64)',
    `[ "$h" = ${sha256} ] || { echo "checksum mismatch: got $h, expected ${sha256}" >&2; exit 1; }`,
  ];
  return { script: replaceFileScript(dest, fetch, check, attrs), stdin: `${url}\n` };
}
