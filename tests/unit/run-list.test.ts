// --list-steps through role.mts: a role is listed without running anything, and one that
// cannot be listed makes the command fail, saying why.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { libModule, roleProject, runRoleScript } from '../fixtures/engine/role-project.ts';

const roles = (dir: string) => ({
  talk: `import { command } from ${libModule('steps/index.ts')};
export default { name: 'talk', hosts: 'all', steps: () => [command({ name: 'say hello', cmd: 'touch ' + ${JSON.stringify(join(dir, 'said'))}, tags: ['talk'] })] };
`,
  broken: `export default { name: 'broken', hosts: 'all', steps: () => { throw new Error('role broken: cannot make its steps'); } };
`,
});

t.test('a role is listed and nothing runs', async (t) => {
  const dir = t.testdir();
  await roleProject(dir, roles(dir));
  const r = await runRoleScript(dir, ['talk', '--list-steps']);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, 'role talk [here]\n    1. say hello  [talk]\n');
  t.notOk(existsSync(join(dir, 'said')), 'the step did not run');
});

t.test('a role that cannot be listed fails the command, saying why', async (t) => {
  const dir = t.testdir();
  await roleProject(dir, roles(dir));
  const r = await runRoleScript(dir, ['talk,broken', '--list-steps']);
  t.equal(r.code, 2);
  t.match(r.stdout, /role talk \[here\]\n {4}1\. say hello/);
  t.match(r.stdout, /role broken \[here\]\n {2}\(cannot list: role broken: cannot make its steps\)/);
  t.match(r.stderr, /^role: --list-steps: 1 role-and-host pair\(s\) cannot be listed \(see above\)$/m);
});
