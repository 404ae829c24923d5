// Which steps run: --tags / --skip-tags (Ansible's rules), --start-at across roles, and which
// later probes a change makes stale.
import t from 'tap';
import { mayAffect, nameMatcher, startAt, tagSelected } from '../../lib/run/select.ts';
import { command, copy, directory, pkg, service } from '../../lib/steps/index.ts';

t.test('tags and skip-tags', async (t) => {
  const role = 'web';
  t.equal(tagSelected(['config'], role, {}), true, 'no filter: everything');
  t.equal(tagSelected(['config'], role, { tags: ['config'] }), true);
  t.equal(tagSelected(['config'], role, { tags: ['packages'] }), false);
  t.equal(tagSelected([], role, { tags: ['web'] }), true, "the role's name is a tag of its steps");
  t.equal(tagSelected(['x'], role, { tags: ['all'] }), true);
  t.equal(tagSelected(['always'], role, { tags: ['packages'] }), true, 'always runs with any --tags');
  t.equal(tagSelected(['always'], role, { tags: ['packages'], skipTags: ['always'] }), false);
  t.equal(tagSelected(['config', 'slow'], role, { tags: ['config'], skipTags: ['slow'] }), false, 'skip wins');
  t.equal(tagSelected(['config'], role, { skipTags: ['web'] }), false, 'skipping the role name skips the role');
  t.equal(tagSelected(['backup', 'never'], role, {}), false, 'never: not in a plain run');
  t.equal(tagSelected(['backup', 'never'], role, { tags: ['all'] }), false, 'never: not with --tags all');
  t.equal(tagSelected(['backup', 'never'], role, { tags: ['web'] }), false, "never: not for the role's name");
  t.equal(tagSelected(['backup', 'never'], role, { tags: ['backup'] }), true, 'never: when one of its own tags is asked for');
  t.equal(tagSelected(['backup', 'never'], role, { tags: ['backup'], skipTags: ['never'] }), false, 'skip still wins');
});

t.test('start-at: drops steps before the first match; carries over roles', async (t) => {
  const steps = ['a', 'b', 'configure web', 'd'].map((name) => ({ name }));
  t.strictSame(startAt(steps, undefined, false), { steps, started: true });
  t.strictSame(startAt(steps, nameMatcher('configure web'), false).steps.map((s) => s.name), ['configure web', 'd']);
  t.strictSame(startAt(steps, nameMatcher('configure*'), false).steps.map((s) => s.name), ['configure web', 'd']);
  t.strictSame(startAt(steps, nameMatcher('zzz'), false), { steps: [], started: false }, 'a role before the match runs nothing');
  t.strictSame(startAt(steps, nameMatcher('zzz'), true), { steps, started: true }, 'a role after the match runs whole');
  t.equal(nameMatcher('a.b')('axb'), false, 'only * is special');
});

t.test('which later probes a change makes stale', async (t) => {
  const dir = directory({ path: '/opt/app' });
  const conf = copy({ dest: '/opt/app/app.conf', content: 'x' });
  const other = copy({ dest: '/etc/other.conf', content: 'x' });
  const guarded = command({ cmd: 'make', creates: '/opt/app/built' });
  const tested = command({ cmd: 'make', unless: 'test -f /x' });
  const affects = (a: { writes?: string[] }, b: { reads?: string[] }) => mayAffect(a.writes, b.reads);
  t.equal(affects(dir, conf), true, 'a directory and a file inside it');
  t.equal(affects(conf, dir), true);
  t.equal(affects(dir, other), false, 'unrelated paths');
  t.equal(mayAffect(['/opt/app'], ['/opt/application']), false, 'a prefix is not a parent');
  t.equal(affects(dir, guarded), true);
  t.equal(affects(other, tested), true, 'an unless test may read anything');
  t.equal(affects(tested, other), true, 'a command may write anything');
  t.equal(affects(service({ service: 'x', state: 'started' }), conf), false, 'starting a service writes no probed path');
  t.equal(affects(pkg({ packages: 'x' }), conf), true, 'installing a package may write anything');
  t.equal(affects(conf, pkg({ packages: 'x' })), false, 'a file does not change the package database');
});
