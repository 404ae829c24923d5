import { netnsPath } from './procs.ts';
import { mustRun } from './run.ts';

/**
 * Reads the SSH banner of each address on port 22, from inside namespace `ns` (null: the
 * controller), retrying each for up to `waitSeconds`. One short bash loop per namespace keeps
 * this cheap for 50 hosts; a banner proves sshd answers over the real network path.
 */
const PROBE = `deadline=$((SECONDS + $1)); shift
for a in "$@"; do
  while :; do
    b=$(timeout 2 bash -c 'exec 3<>/dev/tcp/$0/22 && IFS= read -r l <&3 && printf %s "$l"' "$a" 2>/dev/null | tr -d '\\r') || true
    [[ $b == SSH-* ]] && break
    b=-
    (( SECONDS < deadline )) || break
    sleep 0.1
  done
  printf '%s %s\\n' "$a" "$b"
done`;

export async function sshBanners(ns: string | null, addresses: string[], waitSeconds = 0): Promise<Map<string, string | null>> {
  if (addresses.length === 0) return new Map();
  const bash = ['bash', '-c', PROBE, 'probe', String(waitSeconds), ...addresses];
  const out = ns ? await mustRun('nsenter', [`--net=${netnsPath(ns)}`, ...bash]) : await mustRun(bash[0]!, bash.slice(1));
  const banners = new Map<string, string | null>();
  for (const line of out.trim().split('\n')) {
    const [address, ...rest] = line.split(' ');
    const banner = rest.join(' ');
    banners.set(address!, banner === '-' ? null : banner);
  }
  return banners;
}
