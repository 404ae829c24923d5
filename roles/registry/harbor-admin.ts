// Harbor's admin password after the install. Harbor reads harbor_admin_password from harbor.yml
// only when its database is first made; a later change of the vault's value must go through its
// API (PUT /users/{id}/password with the current one), else Harbor and the vault disagree and
// everything using the vault's value (this role's settings step, harbor.mts, the smoke test) is
// refused.
//
// Who knows the current password: the registry host. Its root-only netrc (harbor-api.ts) holds
// the password Harbor was last seen to accept, and this step replaces it only once Harbor accepts
// the vault's. An operator changes the password with `vault.mts set … harbor_admin_password NEW`,
// which keeps no old value; so the vault holds the wanted password and the host the confirmed one.
// At every moment one of the two opens Harbor, so a change cut short (a lost connection, Harbor
// refusing the new one) never locks the operator out, and the next run finishes it: it first
// tries the vault's password (already changed, another registry host did it, a first install) and
// only then changes it with the host's.
import { createHash } from 'node:crypto';
import { UserError } from '../../lib/errors.ts';
import { meetsHarborPolicy } from '../../lib/harbor/password.ts';
import type { Secret } from '../../lib/secret.ts';
import type { Step } from '../../lib/steps/index.ts';
import { common } from '../../lib/steps/base.ts';
import { fileState } from '../../lib/steps/fileops.ts';
import { q } from '../../lib/transport/shell.ts';
import { curlApi, type HarborApi } from './harbor-api.ts';

/** What the netrc holds for this password (the step's script writes the same text). */
const netrcText = (publicName: string, password: Secret): string => `machine ${publicName} login admin password ${password.reveal()}\n`;

/**
 * The vault's admin password, refused when Harbor or the files carrying it cannot hold it:
 * Harbor's rule, and netrc (split on blanks, reads quotes) and the JSON body the script writes
 * (no escaping in sh) take no blanks, quotes, backslashes or control characters.
 */
export function checkAdminPassword(password: Secret): void {
  const text = password.reveal();
  if (!meetsHarborPolicy(text)) {
    throw new UserError(`role registry: vault harbor_admin_password must have 8 to 128 characters with an upper-case letter, a lower-case letter and a digit (Harbor's rule)`);
  }
  if (/[\s"'\\\x00-\x1f\x7f]/.test(text)) {
    throw new UserError("role registry: vault harbor_admin_password holds blanks, quotes, backslashes or control characters, which curl's netrc file cannot carry: set one without them");
  }
}

/** sh: the change, run as root with the vault's password on stdin; says on stderr why it stops. */
function changeScript(api: HarborApi): string {
  const url = `https://${api.publicName}`;
  const status = (netrc: string) => `"$(${curlApi(api, 'users/current', `-o /dev/null -w '%{http_code}'`, netrc)} 2>/dev/null)"`;
  // Messages in double quotes, so that $s expands.
  const fail = (why: string) => `{ echo "${why.replace(/["\\`]/g, '\\$&')}" >&2; exit 1; }`;
  return [
    'set -u',
    'IFS= read -r new || [ -n "$new" ]',
    `netrc=${q(api.netrc)}; next="$netrc.new"`,
    'umask 077',
    `trap 'rm -f "$next"' EXIT`,
    // printf is a shell builtin: the passwords reach files and curl's stdin, never an argv.
    `printf 'machine %s login admin password %s\\n' ${q(api.publicName)} "$new" > "$next"`,
    `s=${status('"$next"')}`,
    `if [ "$s" = 200 ]; then mv -f "$next" "$netrc"; echo 'Harbor already accepts it: recorded'; exit 0; fi`,
    `[ "$s" = 401 ] || ${fail(`Harbor at ${url} did not answer as admin (HTTP $s; 000: no answer)`)}`,
    `[ -f "$netrc" ] || ${fail(`Harbor at ${url} refuses the vault's harbor_admin_password and this host holds no record of the one it has (${api.netrc}): write it there as 'machine ${api.publicName} login admin password PASSWORD' (root, 0600) and run again`)}`,
    `[ ${status('"$netrc"')} = 200 ] || ${fail(`Harbor at ${url} accepts neither the vault's harbor_admin_password nor the one this host last confirmed (${api.netrc}): put the one Harbor has in the vault as harbor_admin_password and run again`)}`,
    `id=$(${curlApi(api, 'users/current', '', '"$netrc"')} | sed -n 's/.*"user_id": *\\([0-9][0-9]*\\).*/\\1/p')`,
    `old=$(sed -n 's/^machine [^ ]* login admin password //p' "$netrc")`,
    `printf '{"old_password":"%s","new_password":"%s"}' "$old" "$new" | ` +
      `${curlApi(api, 'users/"$id"/password', `--fail-with-body -w '\\n' -X PUT -H 'Content-Type: application/json' --data-binary @-`, '"$netrc"')}` +
      ` >&2 || ${fail(`Harbor at ${url} refused to change admin's password to the vault's harbor_admin_password; it still has the one in ${api.netrc}`)}`,
    `[ ${status('"$next"')} = 200 ] || ${fail(`Harbor at ${url} took the vault's harbor_admin_password but does not accept it yet: run again (it then records it)`)}`,
    'mv -f "$next" "$netrc"',
    "echo 'changed and confirmed'",
  ].join('\n');
}

/**
 * Harbor's admin password is the vault's: ok when the host's record of it is the vault's
 * (Harbor's acceptance is then what the following steps check); else records it after Harbor
 * accepts it, changing it first if Harbor still has the old one. After the pending handlers (an
 * install or reconfigure) and before anything that logs in as admin.
 */
export function harborAdminPasswordStep(api: HarborApi, password: Secret): Step {
  checkAdminPassword(password);
  const wanted = createHash('sha256').update(netrcText(api.publicName, password)).digest('hex');
  return {
    ...common('command', { tags: ['harbor', 'config'], sensitive: true, afterHandlers: true }, 'harbor admin password'),
    reads: [api.netrc],
    writes: [api.netrc],
    probe: () => ({ files: [{ path: api.netrc, hash: true }] }),
    async plan(state) {
      const held = fileState(state, api.netrc);
      if (held.type === 'file' && held.sha256 === wanted && held.mode === '600') return null;
      return {
        summary: held.type === 'absent' ? "record the vault's harbor_admin_password once Harbor accepts it" : "change to the vault's harbor_admin_password",
        action: { script: changeScript(api), stdin: `${password.reveal()}\n` },
      };
    },
  };
}
