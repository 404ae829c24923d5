// An OpenSSH client config for an inventory: every host by its inventory name, the jump host as
// ProxyJump, the inventory's key and pinned known_hosts, StrictHostKeyChecking yes. Plain ssh,
// scp and rsync then reach any host as harbormaster's own connections do.
import { sshTargetOf, type TargetOptions } from '../inventory/target.ts';
import type { Inventory, SshTarget } from '../inventory/types.ts';

/** A config value: quoted when it holds spaces (ssh_config's own quoting). */
const value = (v: string | number): string => (/[\s"]/.test(String(v)) ? `"${String(v).replace(/"/g, '')}"` : String(v));

/** An ad-hoc jump (`user@host:port`, not an inventory host) gets an alias: `@` would read as a user in ProxyJump. */
const aliasOf = (inv: Inventory, t: SshTarget): string => (inv.hosts.has(t.name) ? t.name : `jump-${t.name.replace(/[^A-Za-z0-9._-]+/g, '-')}`);

function block(alias: string, t: SshTarget, jump: string | undefined): string {
  return [
    `Host ${alias}`,
    `  HostName ${value(t.address)}`,
    ...(t.port === 22 ? [] : [`  Port ${t.port}`]),
    `  User ${value(t.user)}`,
    ...(t.keyFile ? [`  IdentityFile ${value(t.keyFile)}`, '  IdentitiesOnly yes'] : []),
    `  UserKnownHostsFile ${value(t.knownHostsFile)}`,
    '  GlobalKnownHostsFile /dev/null',
    '  StrictHostKeyChecking yes',
    ...(jump ? [`  ProxyJump ${jump}`] : []),
  ].join('\n');
}

export function sshConfigText(inv: Inventory, opts: TargetOptions = {}): string {
  const blocks = new Map<string, string>();
  const add = (t: SshTarget): string => {
    const alias = aliasOf(inv, t);
    if (!blocks.has(alias)) {
      const jump = t.jump ? add(t.jump) : undefined;
      blocks.set(alias, block(alias, t, jump));
    }
    return alias;
  };
  for (const host of inv.hosts.values()) add(sshTargetOf(inv, host, opts));
  return `# written by harbormaster from ${inv.file}: ssh -F THIS_FILE HOST\n\n${[...blocks.values()].join('\n\n')}\n`;
}
