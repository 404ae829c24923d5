/**
 * The hosts in a group and the groups below it, in Ansible's order: the group's own hosts, then its
 * descendants breadth-first, each group's hosts as listed; every host once. From `all` this is
 * inventory order.
 */
export function hostsUnder(groups: ReadonlyMap<string, { children: string[]; hosts: string[] }>, start: string): string[] {
  const queue = [start];
  const seen = new Set(queue);
  const hosts = new Set<string>();
  for (let i = 0; i < queue.length; i++) {
    const g = groups.get(queue[i]!)!;
    g.hosts.forEach((h) => hosts.add(h));
    for (const kid of g.children) {
      if (seen.has(kid)) continue;
      seen.add(kid);
      queue.push(kid);
    }
  }
  return [...hosts];
}
