/** What the engine needs to know about a host's OS to choose commands, gathered in one exec. */
export interface Facts {
  /** `debian` (Debian, Ubuntu), `redhat` (RHEL, Rocky, Alma, Fedora, Amazon Linux), else `unknown`. */
  osFamily: 'debian' | 'redhat' | 'unknown';
  /** os-release ID: `debian`, `ubuntu`, `amzn`, `rhel`, ... */
  distribution: string;
  /** os-release VERSION_ID: `12`, `22.04`, `2023`, ... */
  version: string;
  codename: string;
  packageManager: 'apt' | 'dnf' | 'yum' | 'unknown';
  /** systemd only when it runs (/run/systemd/system exists); else SysV `service` scripts. */
  init: 'systemd' | 'sysv';
  /** `uname -m`: x86_64, aarch64, ... */
  arch: string;
  hostname: string;
}

const OS_RELEASE_MARK = '@@os-release';

/** One sh script printing everything parseFacts reads. */
export const FACTS_SCRIPT = [
  'printf "arch=%s\\nhostname=%s\\n" "$(uname -m)" "$(uname -n)"',
  'if [ -d /run/systemd/system ]; then echo init=systemd; else echo init=sysv; fi',
  'for m in apt-get dnf yum; do if command -v $m >/dev/null 2>&1; then echo pm=$m; break; fi; done',
  `echo ${OS_RELEASE_MARK}`,
  'cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null',
  'true',
].join('\n');

function keyValues(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) out.set(m[1]!, m[2]!.replace(/^(["'])(.*)\1$/, '$2'));
  }
  return out;
}

function familyOf(id: string, like: string): Facts['osFamily'] {
  const names = [id, ...like.split(/\s+/)];
  if (names.some((n) => n === 'debian' || n === 'ubuntu')) return 'debian';
  if (names.some((n) => ['rhel', 'fedora', 'centos', 'amzn'].includes(n))) return 'redhat';
  return 'unknown';
}

const PACKAGE_MANAGERS: Record<string, Facts['packageManager']> = { 'apt-get': 'apt', dnf: 'dnf', yum: 'yum' };

export function parseFacts(output: string): Facts {
  const cut = output.indexOf(OS_RELEASE_MARK);
  const head = keyValues(cut < 0 ? output : output.slice(0, cut));
  const os = keyValues(cut < 0 ? '' : output.slice(cut + OS_RELEASE_MARK.length));
  const id = os.get('ID') ?? 'unknown';
  return {
    osFamily: familyOf(id, os.get('ID_LIKE') ?? ''),
    distribution: id,
    version: os.get('VERSION_ID') ?? '',
    codename: os.get('VERSION_CODENAME') ?? '',
    packageManager: PACKAGE_MANAGERS[head.get('pm') ?? ''] ?? 'unknown',
    init: head.get('init') === 'systemd' ? 'systemd' : 'sysv',
    arch: head.get('arch') ?? '',
    hostname: head.get('hostname') ?? '',
  };
}

/** Anything that runs a script on a host (lib/transport's HostConnection). */
export interface FactsShell {
  exec(script: string): Promise<{ code: number; stdout: string; stderr: string }>;
}

/** Facts per host name, gathered once per run (one exec) however many roles ask. */
export class FactsCache {
  #byHost = new Map<string, Promise<Facts>>();

  get(hostName: string, shell: FactsShell): Promise<Facts> {
    let facts = this.#byHost.get(hostName);
    if (!facts) {
      facts = shell.exec(FACTS_SCRIPT).then((r) => {
        if (r.code !== 0) throw new Error(`${hostName}: cannot gather facts: ${r.stderr.trim() || `exit ${r.code}`}`);
        return parseFacts(r.stdout);
      });
      facts.catch(() => this.#byHost.delete(hostName));
      this.#byHost.set(hostName, facts);
    }
    return facts;
  }
}
