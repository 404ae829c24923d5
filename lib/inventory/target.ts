import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, extname, isAbsolute, join, resolve } from 'node:path';
import { UserError } from '../errors.ts';
import { isSecret } from '../secret.ts';
import { parseSshArgs } from './ssh-args.ts';
import type { JumpHop } from './ssh-args.ts';
import type { Host, Inventory, SshTarget } from './types.ts';

export interface TargetOptions {
  /** Overrides every other known_hosts source (e.g. a `--known-hosts` flag). */
  knownHostsFile?: string;
}

/**
 * How to reach a host, from its variables as Ansible's ssh connection reads them:
 * ansible_host (default: the name), ansible_port (22), ansible_user (default root),
 * ansible_ssh_private_key_file (relative to the inventory; absent: ssh-agent), ansible_become
 * (default: yes unless root), and in ansible_ssh_common_args / ansible_ssh_extra_args:
 * `-o ProxyCommand="ssh ... -W %h:%p [user@]bastion"`, `-o ProxyJump=` / `-J [user@]host[:port][,...]`
 * and `-o UserKnownHostsFile=`. A jump host that is in the inventory (by name or ansible_host) is
 * that host's own target (with its own jump settings), so its connection is shared; otherwise an
 * ad-hoc target `user@host` with this host's key, known_hosts and (without user@) user.
 * known_hosts: opts.knownHostsFile, else UserKnownHostsFile (not /dev/null), else
 * `<inventory without extension>.known_hosts` if it exists, else ~/.ssh/known_hosts.
 */
export function sshTargetOf(inv: Inventory, host: Host, opts: TargetOptions = {}): SshTarget {
  return targetOf(inv, host, opts, []);
}

function targetOf(inv: Inventory, host: Host, opts: TargetOptions, via: string[]): SshTarget {
  if (via.includes(host.name)) throw new UserError(`${inv.file}: host ${host.name}: its jump hosts lead back to it (${[...via, host.name].join(' -> ')})`);
  const v = new HostVars(inv, host);
  const args = parseSshArgs([v.text('ansible_ssh_common_args'), v.text('ansible_ssh_extra_args')].filter(Boolean).join(' '), v.where('ssh args'));
  const user = v.text('ansible_user') ?? v.text('ansible_ssh_user') ?? args.user ?? 'root';
  const keyFile = v.text('ansible_ssh_private_key_file') ?? v.text('ansible_private_key_file') ?? args.keyFile;
  const target: SshTarget = {
    name: host.name,
    address: v.text('ansible_host') ?? v.text('ansible_ssh_host') ?? host.name,
    port: v.port('ansible_port') ?? v.port('ansible_ssh_port') ?? args.port ?? 22,
    user,
    knownHostsFile: opts.knownHostsFile ?? localPath(inv, args.knownHostsFile) ?? defaultKnownHosts(inv),
    become: user !== 'root' && (v.bool('ansible_become') ?? true),
  };
  if (keyFile) target.keyFile = localPath(inv, keyFile);
  let jump: SshTarget | undefined;
  for (const hop of args.jumps ?? []) jump = hopTarget(inv, hop, target, jump, opts, [...via, host.name]);
  if (jump) target.jump = jump;
  return target;
}

/** One hop of a jump chain: the inventory host it names, or an ad-hoc target reached through `previous`. */
function hopTarget(inv: Inventory, hop: JumpHop, from: SshTarget, previous: SshTarget | undefined, opts: TargetOptions, via: string[]): SshTarget {
  for (const h of inv.hosts.values()) {
    if (h.name !== hop.host && String(h.vars.ansible_host) !== hop.host) continue;
    const t = targetOf(inv, h, opts, via);
    if ((hop.user ?? t.user) === t.user && (hop.port ?? t.port) === t.port) return t;
  }
  const user = hop.user ?? from.user;
  const port = hop.port ?? 22;
  const target: SshTarget = {
    name: `${user}@${hop.host}${port === 22 ? '' : `:${port}`}`,
    address: hop.host,
    port,
    user,
    knownHostsFile: opts.knownHostsFile ?? localPath(inv, hop.knownHostsFile) ?? from.knownHostsFile,
    become: false,
  };
  const keyFile = hop.keyFile ? localPath(inv, hop.keyFile) : from.keyFile;
  if (keyFile) target.keyFile = keyFile;
  if (previous) target.jump = previous;
  return target;
}

/** `~/x` is in the home directory; a relative path is relative to the inventory file's directory. */
function localPath(inv: Inventory, path: string | undefined): string | undefined {
  if (!path) return undefined;
  if (path === '~' || path.startsWith('~/')) return join(homedir(), path.slice(1));
  return isAbsolute(path) ? path : resolve(dirname(inv.file), path);
}

/** The known_hosts that pairs with an inventory: `inventory/aws.yaml` → `inventory/aws.known_hosts`. */
export const knownHostsBeside = (inventoryFile: string): string =>
  inventoryFile.slice(0, inventoryFile.length - extname(inventoryFile).length) + '.known_hosts';

function defaultKnownHosts(inv: Inventory): string {
  const beside = knownHostsBeside(inv.file);
  return existsSync(beside) ? beside : join(homedir(), '.ssh', 'known_hosts');
}

/** Connection variables of one host, checked: harbormaster does not evaluate Jinja templates. */
class HostVars {
  constructor(
    readonly inv: Inventory,
    readonly host: Host,
  ) {}

  where(name: string): string {
    return `${this.inv.file}: host ${this.host.name}: ${name}`;
  }

  text(name: string): string | undefined {
    const value = this.host.vars[name];
    if (value === undefined || value === null || value === '') return undefined;
    const s = isSecret(value) ? value.reveal() : value;
    if (typeof s === 'object') throw new UserError(`${this.where(name)} must be a single value, not a list or mapping`);
    const text = String(s);
    if (text.includes('{{') || text.includes('{%')) {
      throw new UserError(`${this.where(name)} is a Jinja template, which harbormaster does not evaluate; write the value itself`);
    }
    return text;
  }

  port(name: string): number | undefined {
    const text = this.text(name);
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UserError(`${this.where(name)} must be a port number (1-65535), not '${text}'`);
    return n;
  }

  /** Ansible's booleans: yes/no, true/false, on/off, 1/0 in any case. */
  bool(name: string): boolean | undefined {
    const text = this.text(name)?.toLowerCase();
    if (text === undefined) return undefined;
    if (['yes', 'true', 'on', '1', 'y', 't'].includes(text)) return true;
    if (['no', 'false', 'off', '0', 'n', 'f'].includes(text)) return false;
    throw new UserError(`${this.where(name)} must be true or false, not '${text}'`);
  }
}
