// The unified diff: exact output for small cases, GNU diff's hunks for a single change, and
// for many random edits, GNU patch turns `before` into `after` with our diff.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { diffLines, unifiedDiff } from '../../lib/run/diff.ts';

const work = mkdtempSync(join(tmpdir(), 'hm-diff-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

/** GNU diff -u without its two header lines. */
function gnuHunks(a: string, b: string): string {
  writeFileSync(join(work, 'a'), a);
  writeFileSync(join(work, 'b'), b);
  const r = spawnSync('diff', ['-u', join(work, 'a'), join(work, 'b')], { encoding: 'utf8' });
  return r.stdout.split('\n').slice(2).join('\n');
}

const withoutHeader = (d: string) => d.split('\n').slice(2).join('\n');

t.test('small cases, exactly', async (t) => {
  t.equal(unifiedDiff('a\nb\n', 'a\nb\n', 'x', 'y'), '', 'equal texts: no diff');
  t.equal(unifiedDiff(null, 'new\n', 'x', 'y'), '--- /dev/null\n+++ y\n@@ -0,0 +1,1 @@\n+new\n');
  t.equal(unifiedDiff('old\n', null, 'x', 'y'), '--- x\n+++ /dev/null\n@@ -1,1 +0,0 @@\n-old\n');
  t.equal(
    unifiedDiff('a\nb', 'a\nb\n', 'x', 'y'),
    '--- x\n+++ y\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n',
    'a missing final newline is a difference',
  );
  t.strictSame(diffLines(['a', 'b', 'c'], ['a', 'x', 'c']), [
    { op: ' ', line: 'a' },
    { op: '-', line: 'b' },
    { op: '+', line: 'x' },
    { op: ' ', line: 'c' },
  ]);
});

t.test('a single change gives the same hunks as GNU diff -u', async (t) => {
  const base = Array.from({ length: 30 }, (_, i) => `line ${i}\n`);
  for (const [what, after] of [
    ['change in the middle', base.map((l, i) => (i === 15 ? 'changed\n' : l))],
    ['insert at the top', ['first\n', ...base]],
    ['delete at the end', base.slice(0, -1)],
    ['two changes far apart', base.map((l, i) => (i === 2 || i === 25 ? `${l.trim()}!\n` : l))],
    ['two changes close together', base.map((l, i) => (i === 10 || i === 15 ? `${l.trim()}!\n` : l))],
  ] as const) {
    t.equal(withoutHeader(unifiedDiff(base.join(''), after.join(''), 'a', 'b')), gnuHunks(base.join(''), after.join('')), what);
  }
});

t.test('random edits: GNU patch applies our diff and gets the new text', async (t) => {
  let seed = 42;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
  const words = ['alpha', 'beta', 'gamma', 'delta', 'port=80', 'port=8080', '', '# comment'];
  for (let round = 0; round < 40; round++) {
    const before = Array.from({ length: rand(60) }, () => words[rand(words.length)]!);
    const after = before.flatMap((l) => {
      const r = rand(10);
      if (r === 0) return [];
      if (r === 1) return [l, words[rand(words.length)]!];
      if (r === 2) return [words[rand(words.length)]!];
      return [l];
    });
    const a = before.map((l) => `${l}\n`).join('');
    const b = after.map((l) => `${l}\n`).join('') + (rand(4) === 0 ? 'no final newline' : '');
    const file = join(work, 'target');
    writeFileSync(file, a);
    const patch = unifiedDiff(a, b, 'target', 'target');
    if (!patch) {
      t.equal(a, b);
      continue;
    }
    execFileSync('patch', ['-s', '-p0', file], { input: patch });
    t.equal(readFileSync(file, 'utf8'), b, `round ${round}`);
  }
});
