import { join } from 'node:path';
import t from 'tap';
import { loadInventory } from '../../lib/inventory/index.ts';
import type { Inventory } from '../../lib/inventory/index.ts';
import { selectHosts, splitPattern } from '../../lib/inventory/limit.ts';
import { userError } from '../fixtures/inventory/helpers.ts';

const INI = `lone
[web]
web1
web2
web3
[db]
db1
db2
[prod:children]
web
[prod]
db1
[canary]
web3
`;

let inv: Inventory;
t.before(async () => {
  inv = await loadInventory(join(t.testdir({ hosts: INI }), 'hosts'));
});

const names = (pattern?: string) => selectHosts(inv, pattern).map((h) => h.name);

t.test('every pattern form selects the right hosts, in inventory order', async (t) => {
  // Ansible's order: groups breadth-first from all (web is under prod, a level down).
  const everyone = ['lone', 'db1', 'db2', 'web3', 'web1', 'web2'];
  const cases: [string | undefined, string[], string][] = [
    [undefined, everyone, 'no pattern'],
    ['all', everyone, 'all'],
    ['*', everyone, 'a lone wildcard'],
    ['web', ['web3', 'web1', 'web2'], 'a group'],
    ['prod', ['db1', 'web3', 'web1', 'web2'], 'a group with a child group'],
    ['db2', ['db2'], 'a host'],
    ['ungrouped', ['lone'], 'the implicit ungrouped group'],
    ['db,web', ['db1', 'db2', 'web3', 'web1', 'web2'], 'comma list, inventory order whatever the pattern order'],
    ['db2, web1', ['db2', 'web1'], 'spaces after commas'],
    ['web:db', ['db1', 'db2', 'web3', 'web1', 'web2'], 'colon list'],
    ['prod:!canary', ['db1', 'web1', 'web2'], 'exclusion'],
    ['!canary', ['lone', 'db1', 'db2', 'web1', 'web2'], 'exclusion alone means all but'],
    ['!canary:prod', ['db1', 'web1', 'web2'], 'exclusion applies after the plain terms whatever its place'],
    ['prod:&db', ['db1'], 'intersection'],
    ['&db', ['db1', 'db2'], 'intersection alone'],
    ['all:!web:!lone', ['db1', 'db2'], 'several exclusions'],
    ['web*', ['web3', 'web1', 'web2'], 'wildcard matching a group and hosts'],
    ['*1', ['db1', 'web1'], 'wildcard matching hosts'],
    ['web?', ['web3', 'web1', 'web2'], '? matches one character (hosts, not the group web)'],
    ['w[ae]b2', ['web2'], 'character class'],
    ['db[!1]', ['db2'], 'negated character class'],
    ['~db\\d', ['db1', 'db2'], 'regex'],
    ['web[0]', ['web1'], 'subscript'],
    ['web[-1]', ['web3'], 'negative subscript'],
    ['web[0]:web[1]', ['web1', 'web2'], 'two subscripts of one group'],
    ['web[1:]', ['web3', 'web2'], 'open slice (positions in the group: web1 web2 web3)'],
    ['prod[0:1],db[1]', ['db1', 'db2', 'web1'], 'slices in a comma list (prod: db1, then its child web)'],
    ['web[0:1]:db[1]', ['db2', 'web1', 'web2'], 'slices in a colon list'],
  ];
  for (const [pattern, expected, what] of cases) t.same(names(pattern), expected, `${what}: ${pattern}`);
});

t.test('splitting: commas first, colons outside brackets, a lone IPv6 address stays whole', async (t) => {
  t.same(splitPattern('a:b:&c:!d'), ['a', 'b', '&c', '!d']);
  t.same(splitPattern('a[1:2]:b'), ['a[1:2]', 'b']);
  t.same(splitPattern('fe80::1'), ['fe80::1']);
  t.same(splitPattern(' a, b ,c '), ['a', 'b', 'c']);
});

t.test('a pattern that parses to nothing, or holds a stray bracket or colon, is an error, never "all"', async (t) => {
  const hint = 'give host or group names, e.g. web,db or web:!db';
  const cases: [string, string][] = [
    ['[', `host pattern '[' has a stray bracket in '[': ${hint}`],
    [']', `host pattern ']' has a stray bracket in ']': ${hint}`],
    ['web[', `host pattern 'web[' has a stray bracket in 'web[': ${hint}`],
    ['web]:db', `host pattern 'web]:db' has a stray bracket in 'web]': ${hint}`],
    ['web[]', `host pattern 'web[]' has a stray bracket in 'web[]': ${hint}`],
    [':', `host pattern ':' has an empty term (a stray ',' or ':'): ${hint}`],
    ['web:', `host pattern 'web:' has an empty term (a stray ',' or ':'): ${hint}`],
    [':web', `host pattern ':web' has an empty term (a stray ',' or ':'): ${hint}`],
    [' , ', `host pattern ' , ' has an empty term (a stray ',' or ':'): ${hint}`],
    ['web,,db', `host pattern 'web,,db' has an empty term (a stray ',' or ':'): ${hint}`],
    ['', `host pattern '' has an empty term (a stray ',' or ':'): ${hint}`],
    ['   ', `host pattern '   ' has an empty term (a stray ',' or ':'): ${hint}`],
    ['~', "host pattern '~': '~' names nothing"],
    ['web:!~', "host pattern 'web:!~': '!~' names nothing"],
  ];
  for (const [pattern, message] of cases) t.equal(await userError(t, () => names(pattern)), message, `-l '${pattern}'`);
});

t.test('a pattern that matches nothing is an error naming it', async (t) => {
  const file = inv.file;
  t.equal(await userError(t, () => names('nope')), `host pattern 'nope': 'nope' matches no host or group in ${file}`);
  t.equal(await userError(t, () => names('web,dbb')), `host pattern 'web,dbb': 'dbb' matches no host or group in ${file}`, 'a typo in a list');
  t.equal(await userError(t, () => names('web:!nope*')), `host pattern 'web:!nope*': 'nope*' matches no host or group in ${file}`, 'an exclusion too');
  t.equal(await userError(t, () => names('web:&db')), `host pattern 'web:&db' matched no hosts in ${file}`, 'an empty intersection');
  t.equal(await userError(t, () => names('web[3]')), `host pattern 'web[3]': 'web[3]' selects past its 3 host(s)`);
  t.equal(await userError(t, () => names('~(')), `host pattern '~(': '~(' is not a valid pattern`);
  t.equal(await userError(t, () => names('web,!')), `host pattern 'web,!': '!' names nothing`);
});
