/** The public shapes of the lab: what `labUp` returns and what tests and benchmarks use. */

export type LabGroup = 'bastion' | 'registry' | 'database';

export interface LabHost {
  name: string;
  group: LabGroup;
  /** The address the inventory uses: public for the bastion, private for the others. */
  address: string;
  /** The host's overlay upper dir: what the host wrote, readable from the controller. */
  upperDir: string;
}

export interface LabInfo {
  name: string;
  stateDir: string;
  inventoryFile: string;
  knownHostsFile: string;
  /** Vault, password file and certificates of the lab's deployment, named in its inventory. */
  secrets: { vaultFile: string; passwordFile: string; certsDir: string };
  /** OpenSSH client config with one Host entry per lab host (`ssh -F`). */
  sshConfig: string;
  /** The controller's private key (ed25519, 0600) that every host accepts for root. */
  keyFile: string;
  /**
   * With several registries: the controller directory every registry host mounts at
   * SHARED_STORAGE_MOUNT (storage they share, as NFS or EFS would be); else null.
   */
  sharedDir: string | null;
  hosts: LabHost[];
}

export interface LabUpOptions {
  name: string;
  /** Number of registry hosts; defaults to the running lab's count, else 1. */
  registries?: number;
  /** A `db-1` host on the private network (group `database`); defaults to the running lab's, else none. */
  db?: boolean;
  /** First two octets, e.g. `10.90`; defaults to the running lab's, else 10.90. */
  subnet?: string;
  stateDir?: string;
  inventoryFile?: string;
  /**
   * Software the hosts will need, as [command, Debian package]: hosts have no network, so it is
   * installed on the machine (whose root every host sees) before they start.
   */
  packages?: Array<[command: string, pkg: string]>;
  onProgress?: (msg: string) => void;
}

export interface LabRef {
  name: string;
  stateDir?: string;
}

export interface HostStatus extends LabHost {
  /** The host's init process is alive in the host's network namespace. */
  running: boolean;
  /** The SSH banner read over TCP (from the controller for the bastion, from the bastion for the others), or null. */
  sshBanner: string | null;
}

export interface LabStatus {
  info: LabInfo;
  hosts: HostStatus[];
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}
