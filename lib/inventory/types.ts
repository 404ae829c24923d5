/** The shapes every part of the engine agrees on. */

export type Vars = Record<string, unknown>;

export interface Host {
  name: string;
  /** Variables after precedence: all < parent group < child group < host_vars/inline host vars. */
  vars: Vars;
  /** Every group the host is in, directly or through children, `all` included. */
  groups: string[];
}

export interface Group {
  name: string;
  children: string[];
  /** Hosts listed directly in this group. */
  hosts: string[];
  vars: Vars;
}

export interface Inventory {
  /** The file it was read from (absolute). */
  file: string;
  hosts: Map<string, Host>;
  groups: Map<string, Group>;
}

/** How to reach one host over SSH, derived from its variables. */
export interface SshTarget {
  /** Inventory name, or `user@address` for an ad-hoc jump host. */
  name: string;
  address: string;
  port: number;
  user: string;
  /** Private key file; absent means use ssh-agent ($SSH_AUTH_SOCK). */
  keyFile?: string;
  /** known_hosts file that pins this host's key. */
  knownHostsFile: string;
  /** Reached through a channel forwarded over this host's connection. */
  jump?: SshTarget;
  /** Run commands via `sudo -n` (ansible_become) when the user is not root. */
  become: boolean;
}
