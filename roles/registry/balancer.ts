// A registry host behind the proxy's balancer takes itself out before its registry restarts and
// puts itself back once the balancer's health check sees it answer: with the runner's serial
// batches (the role's `serial: 1`), a converge never leaves the proxy without a live backend.
// It talks to Apache's balancer manager on the proxy host (roles/proxy: /balancer-manager over
// TLS, admitted for the registry hosts' addresses only).
import { isIP } from 'node:net';
import type { RoleContext } from '../../lib/run/types.ts';
import { command, type Step } from '../../lib/steps/index.ts';
import { q } from '../../lib/transport/shell.ts';
import { backends, BALANCER } from '../proxy/index.ts';
import { need } from '../shared/deployment.ts';
import { tlsPaths } from '../shared/tls.ts';
import { groupHosts, GROUPS } from '../shared/topology.ts';

export const OUT = 'take this host out of the balancer';
export const BACK = 'put this host back in the balancer';

/** How this host reaches the manager, and its member name there; null when the proxy does not balance. */
function membership(ctx: RoleContext): { script: string } | null {
  const proxies = groupHosts(ctx.inventory, GROUPS.bastion);
  const members = backends(ctx);
  const mine = members.find((b) => b.route === ctx.host.name);
  if (members.length < 2 || !mine || proxies.length === 0) return null;
  const address = proxies[0]!.vars.private_ip;
  if (typeof address !== 'string' || !isIP(address)) {
    throw new Error(
      `role registry: ${members.length} registry hosts behind the proxy: set private_ip of ${proxies[0]!.name} (its address on the registries' network), where each takes itself out of the balancer before it restarts`,
    );
  }
  const name = need<string>(ctx.vars, 'registry_public_name', 'registry');
  const url = `https://${name}/balancer-manager`;
  const script = [
    `u=${q(url)}; m=${q(mine.member)}`,
    `c() { curl -sS --max-time 5 --cacert ${q(tlsPaths().ca)} --resolve ${q(`${name}:443:${address}`)} "$@"; }`,
    // The member's row: `<td>Init Ok </td>`, `Init Dis`, `Init HcFl` (health check failing), ...
    `state() { c "$u" | grep -F "w=$m&amp;" | grep -o '<td>Init [^<]*</td>' | sed 's/<[^>]*>//g; s/^Init //; s/ *$//'; }`,
    // The manager ignores changes without its nonce and a referer of its own page.
    `disable() { n=$(c "$u" | grep -o 'nonce=[0-9a-f-]*' | head -n 1 | cut -d= -f2); c -o /dev/null -e "$u" --data "b=${BALANCER}&w=$m&nonce=$n&w_status_D=$1" "$u"; }`,
  ].join('\n');
  return { script };
}

/** Handlers around the registry's restart: none without a balancer. */
export function balancerHandlers(ctx: RoleContext): { out: Step[]; back: Step[] } {
  const m = membership(ctx);
  if (!m) return { out: [], back: [] };
  const out = command({
    name: OUT,
    // Requests already sent finish; the registry itself drains on SIGTERM (http.draintimeout).
    cmd: `${m.script}\ndisable 1\ncase "$(state)" in *Dis*) sleep 1;; *) echo "the balancer did not take $m out (state: $(state))" >&2; exit 1;; esac`,
  });
  const back = command({
    name: BACK,
    cmd: `${m.script}\ndisable 0\ni=0\nuntil [ "$(state)" = Ok ]; do i=$((i+1)); [ $i -lt 60 ] || { echo "the balancer does not see $m healthy (state: $(state))" >&2; exit 1; }; sleep 0.25; done`,
  });
  return { out: [out], back: [back] };
}
