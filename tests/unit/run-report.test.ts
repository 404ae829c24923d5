// Reporters: JSON lines and human lines, both redacted; the recap table; flag parsing.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parseRunArgs } from '../../lib/run/cli.ts';
import { humanReporter, jsonReporter, recapTable } from '../../lib/run/report.ts';
import type { RunEvent } from '../../lib/run/types.ts';
import { Secret } from '../../lib/secret.ts';

const secret = new Secret('pa55word-for-report-test');

function collect(tty = false) {
  const chunks: string[] = [];
  return { out: { write: (s: string) => chunks.push(s), isTTY: tty }, text: () => chunks.join('') };
}

const recap = { ok: 3, changed: 1, unreachable: 0, failed: 1, skipped: 1, roundTrips: { exec: 4, sftp: 2 } };
const events: RunEvent[] = [
  { type: 'run', roles: ['demo'], check: false },
  { type: 'role', role: 'demo', hosts: ['web1', 'db1'] },
  { type: 'step-start', role: 'demo', host: 'web1', step: 'conf', handler: false },
  { type: 'step', role: 'demo', host: 'web1', step: 'conf', kind: 'copy', handler: false, status: 'changed', summary: 'update content', diff: '--- a\n+++ b\n@@ -1,1 +1,1 @@\n-x\n+y\n', ms: 5 },
  { type: 'step', role: 'demo', host: 'db1', step: 'run it', kind: 'command', handler: false, status: 'failed', error: 'exit status 1', output: `login with ${secret.reveal()} failed`, ms: 9 },
  { type: 'unreachable', role: 'demo', host: 'cache1', error: 'cache1: connect ECONNREFUSED' },
  { type: 'recap', hosts: { web1: recap, db1: { ...recap, failed: 1 } }, wallMs: 1234, check: false },
];

t.test('json: one event per line, step-start left out, secrets masked', async (t) => {
  const c = collect();
  const sink = jsonReporter(c.out);
  events.forEach(sink);
  const lines = c.text().trim().split('\n');
  t.equal(lines.length, events.length - 1);
  const parsed = lines.map((l) => JSON.parse(l));
  t.strictSame(parsed.map((e) => e.type), ['run', 'role', 'step', 'step', 'unreachable', 'recap']);
  t.equal(parsed[3].output, 'login with ******** failed');
  t.equal(parsed[5].hosts.web1.roundTrips.exec, 4);
  t.notMatch(c.text(), /pa55word/);
});

t.test('human: a line per step and host, diff and failure output under it, recap, no colors off a TTY', async (t) => {
  const c = collect();
  const e = collect();
  const sink = humanReporter(c.out, e.out, { verbose: false });
  events.forEach(sink);
  sink({ type: 'warning', message: `recorded ${secret.reveal()}` });
  const text = c.text();
  t.match(text, /ROLE demo \[web1, db1\]/);
  t.match(text, /  changed  web1      conf \(update content\)\n +--- a\n/);
  t.match(text, /  failed   db1       run it\n +exit status 1\n +\| login with \*\*\*\*\*\*\*\* failed/);
  t.match(text, /UNREACHABLE cache1 +cache1: connect ECONNREFUSED/);
  t.match(text, /RECAP\nhost +ok +changed +unreachable +failed +skipped +round trips\nweb1 +3 +1 +0 +1 +1 +4 exec \+ 2 sftp\n/);
  t.match(text, /wall time 1\.23 s/);
  t.notMatch(text, /\x1b\[/, 'no escape codes');
  t.notMatch(text + e.text(), /pa55word/);
  t.match(e.text(), /warning: recorded \*\*\*\*\*\*\*\*/);
});

t.test('recap table aligns columns', async (t) => {
  const table = recapTable({ 'a-very-long-host-name': recap, b: recap });
  const rows = table.trim().split('\n');
  t.equal(new Set(rows.map((r) => r.indexOf('round trips') >= 0 ? r.indexOf('round trips') : r.lastIndexOf('  ') + 2)).size, 1);
});

t.test('flags: defaults, lists, and mistakes', async (t) => {
  const cmd = parseRunArgs(['-i', 'inv.yaml', 'demo,web', '--check', '-D', '--tags', 'a, b', '--skip-tags=c', '-f', '3', '--start-at', 'x']);
  t.match(cmd, { inventory: 'inv.yaml', positionals: ['demo,web'], listSteps: false, json: false });
  t.match(cmd.options, { check: true, diff: true, tags: ['a', 'b'], skipTags: ['c'], forks: 3, startAt: 'x', hostKeyChecking: 'strict' });
  t.equal(parseRunArgs([]).options.forks, 10);
  t.throws(() => parseRunArgs(['--forks', '0']), /--forks "0": give a whole number/);
  t.throws(() => parseRunArgs(['--host-key-checking', 'maybe']), /use strict, accept-new or off/);
  t.throws(() => parseRunArgs(['--nope']), /Unknown option '--nope'; see --help/);
});

t.test('--vault-id ID@FILE gives the password file, as Ansible; not together with --vault-password-file', async (t) => {
  t.equal(parseRunArgs(['--vault-id', 'dev@/keys/dev.pw']).vaultPasswordFile, '/keys/dev.pw');
  t.equal(parseRunArgs(['--vault-id', 'dev@prompt']).vaultPasswordFile, undefined);
  t.equal(parseRunArgs(['--vault-id', 'dev']).vaultPasswordFile, undefined);
  t.equal(parseRunArgs(['--vault-password-file', '/a', '--vault-id', 'dev']).vaultPasswordFile, '/a');
  t.throws(() => parseRunArgs(['--vault-password-file', '/a', '--vault-id', 'dev@/b']), /^give the password with --vault-id ID@FILE or --vault-password-file, not both$/);
  t.throws(() => parseRunArgs(['--vault-id', 'bad id@/b']), /bad vault id 'bad id'/);
});

t.test('-e/--extra-vars: name=value pairs and @FILE, later ones winning', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hm-extra-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'vars.yaml'), 'registry_port: 5443\nlist: [a, b]\n');
  const cmd = parseRunArgs(['-e', 'registry_storage=filesystem a=1=2', '-e', `@${join(dir, 'vars.yaml')}`, '--extra-vars', 'a=3']);
  t.strictSame(cmd.options.extraVars, { registry_storage: 'filesystem', a: '3', registry_port: 5443, list: ['a', 'b'] });
  t.equal(parseRunArgs([]).options.extraVars, undefined);
  t.throws(() => parseRunArgs(['-e', 'novalue']), /^-e "novalue": give name=value \(or @FILE\)$/);
  t.throws(() => parseRunArgs(['-e', `@${join(dir, 'nope.yaml')}`]), /nope\.yaml: no such file$/);
  writeFileSync(join(dir, 'list.yaml'), '- a\n');
  t.throws(() => parseRunArgs(['-e', `@${join(dir, 'list.yaml')}`]), /must hold a YAML mapping of variables$/);
});
