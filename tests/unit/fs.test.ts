// Local file writes: atomic, their own mode whatever the umask, and the directory they land in
// left alone when it exists (an inventory written to /tmp must not change /tmp).
import { chmod, mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { writePrivateFile, writePublicFile } from '../../lib/fs.ts';

const mode = async (path: string) => (await stat(path)).mode & 0o7777;

t.test('an existing directory keeps its mode, sticky bit included', async (t) => {
  const shared = join(t.testdir(), 'shared');
  await mkdir(shared);
  await chmod(shared, 0o1777);
  t.equal(await writePublicFile(join(shared, 'inventory.yaml'), 'all: {}\n'), true);
  await writePublicFile(join(shared, 'config'), 'Host x\n', 0o600, 0o700);
  await writePrivateFile(join(shared, 'secret'), 'pw\n');
  t.equal(await mode(shared), 0o1777);
  t.equal(await mode(join(shared, 'inventory.yaml')), 0o644);
  t.equal(await mode(join(shared, 'config')), 0o600);
  t.equal(await mode(join(shared, 'secret')), 0o600);
});

t.test('new directories get the mode asked for; an unchanged public file is not rewritten', async (t) => {
  const dir = t.testdir();
  await writePublicFile(join(dir, 'pub/a.txt'), 'a\n');
  await writePrivateFile(join(dir, 'priv/b.txt'), 'b\n');
  t.equal(await mode(join(dir, 'pub')), 0o755);
  t.equal(await mode(join(dir, 'priv')), 0o700);
  t.equal(await writePublicFile(join(dir, 'pub/a.txt'), 'a\n'), false, 'same content and mode: untouched');
  t.equal(await readFile(join(dir, 'pub/a.txt'), 'utf8'), 'a\n');
  t.strictSame(await readdir(join(dir, 'pub')), ['a.txt'], 'no temp file left');
});
