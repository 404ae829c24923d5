import { isIP } from 'node:net';
import type { X509Certificate } from 'node:crypto';
import { UserError } from '../errors.ts';
import type { Host } from '../inventory/types.ts';

/** One subjectAltName entry. Values are normalised (DNS lower-case, IPs canonical) so sets compare. */
export interface San {
  type: 'DNS' | 'IP';
  value: string;
}

export const formatSan = (s: San): string => `${s.type}:${s.value}`;

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

export function isDnsName(name: string): boolean {
  const n = name.toLowerCase().replace(/\.$/, '');
  return n.length > 0 && n.length <= 253 && !isIP(n) && n.split('.').every((l) => LABEL.test(l));
}

/** Canonical text of an IP address (IPv6 compressed, lower-case), or undefined if it is not one. */
export function canonicalIp(text: string): string | undefined {
  const kind = isIP(text);
  if (kind === 4) return text;
  if (kind === 6) return new URL(`http://[${text}]/`).hostname.slice(1, -1);
  return undefined;
}

export function dnsSan(name: string): San {
  return { type: 'DNS', value: name.toLowerCase().replace(/\.$/, '') };
}

/** A DNS name or IP address as a SAN; undefined if it is neither. */
export function sanFor(nameOrIp: string): San | undefined {
  const ip = canonicalIp(nameOrIp);
  if (ip) return { type: 'IP', value: ip };
  return isDnsName(nameOrIp) ? dnsSan(nameOrIp) : undefined;
}

function addUnique(list: San[], san: San): void {
  if (!list.some((s) => formatSan(s) === formatSan(san))) list.push(san);
}

/**
 * The SANs the registry certificate must carry: the public name first (it becomes the CN, and
 * Apache's mod_ssl checks the proxied backend against it), then hostSans of the registry hosts.
 */
export function wantedSans(hosts: Host[], publicName: string): San[] {
  if (!isDnsName(publicName)) {
    throw new UserError(`registry public name "${publicName}" is not a valid DNS name: set registry_public_name or --name`);
  }
  return hostSans(hosts, [dnsSan(publicName)]);
}

/**
 * For each host its private IP (`private_ip`, else `ansible_host` when that is an address) and
 * its inventory name, after `first`. A host name that is not a valid DNS name (e.g.
 * `registry_1`) is only a label and is left out.
 */
export function hostSans(hosts: Host[], first: San[] = []): San[] {
  const sans = [...first];
  for (const host of hosts) {
    const { private_ip: privateIp, ansible_host: address } = host.vars;
    if (privateIp !== undefined) {
      const ip = canonicalIp(String(privateIp));
      if (!ip) throw new UserError(`host ${host.name}: private_ip "${String(privateIp)}" is not an IP address`);
      addUnique(sans, { type: 'IP', value: ip });
    } else if (typeof address === 'string' && canonicalIp(address)) {
      addUnique(sans, { type: 'IP', value: canonicalIp(address)! });
    }
    const own = sanFor(host.name);
    if (own) addUnique(sans, own);
  }
  return sans;
}

/** The SANs a certificate carries (DNS and IP entries; others are ignored). */
export function sansOf(cert: X509Certificate): San[] {
  const sans: San[] = [];
  for (const entry of (cert.subjectAltName ?? '').split(/,\s*/)) {
    const [kind, ...rest] = entry.split(':');
    const value = rest.join(':').replace(/^"|"$/g, '');
    if (kind === 'DNS') sans.push(dnsSan(value));
    else if (kind === 'IP Address' && canonicalIp(value)) sans.push({ type: 'IP', value: canonicalIp(value)! });
  }
  return sans;
}

/** `+DNS:x -IP:y` describing how `have` must change to become `want`; empty when the sets are equal. */
export function sanChanges(have: San[], want: San[]): string {
  const haveSet = new Set(have.map(formatSan));
  const wantSet = new Set(want.map(formatSan));
  const added = [...wantSet].filter((s) => !haveSet.has(s)).map((s) => `+${s}`);
  const removed = [...haveSet].filter((s) => !wantSet.has(s)).map((s) => `-${s}`);
  return [...added, ...removed].join(' ');
}

/**
 * The registry's public name: registry_public_name of the registry hosts, else `flag`
 * (certs.mts --name). `where` names the inventory in errors.
 */
export function registryPublicName(hosts: Host[], where: string, flag?: string): string {
  const fromInventory = [...new Set(hosts.map((h) => h.vars.registry_public_name).filter((v) => v !== undefined).map(String))];
  if (fromInventory.length > 1) {
    throw new UserError(`${where}: registry hosts disagree on registry_public_name (${fromInventory.join(', ')})`);
  }
  const [name] = fromInventory;
  if (name && flag && flag !== name) {
    throw new UserError(`${where} sets registry_public_name ${name} but --name says ${flag}: drop one`);
  }
  const chosen = name ?? flag;
  if (!chosen) throw new UserError(`${where}: no registry_public_name for the registry hosts: set it or pass --name`);
  return chosen;
}
