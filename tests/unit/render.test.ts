// Templates: nunjucks with Ansible-like settings; undefined variables and syntax errors name the
// template, line and variable; output holding a secret is sensitive; template steps follow suit.
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { renderTemplate, secretValues } from '../../lib/render/index.ts';
import { redact, Secret } from '../../lib/secret.ts';
import { template } from '../../lib/steps/index.ts';
import { localEnv } from '../fixtures/engine/local-shell.ts';

const dir = fileURLToPath(new URL('../fixtures/engine/templates/render', import.meta.url));
const vars = { inventory_hostname: 'web1', port: 8080, upstreams: ['a:1', 'b:2'], db_password: 'plain' };

t.test('renders with block tags eating their newline and no HTML escaping', async (t) => {
  const out = renderTemplate(dir, 'app.conf.njk', { ...vars, upstreams: ['<a&b>'] });
  t.equal(out.text, '# web1\nlisten 8080\nserver <a&b>;\npassword = plain\n');
  t.equal(out.sensitive, false);
});

t.test('a secret used in the output makes it sensitive; an unused one does not', async (t) => {
  const password = new Secret('correct-horse-battery');
  const used = renderTemplate(dir, 'app.conf.njk', { ...vars, db_password: password });
  t.match(used.text, /password = correct-horse-battery/);
  t.equal(used.sensitive, true);
  t.equal(redact(used.text).includes('correct-horse-battery'), false, 'redact masks it in anything printed');
  const unused = renderTemplate(dir, 'app.conf.njk', { ...vars, other: new Secret('unused-secret-value') });
  t.equal(unused.sensitive, false);
  t.strictSame(secretValues({ a: [new Secret('x1'), { b: new Secret('x2') }], c: 'no' }), ['x1', 'x2']);
});

t.test('undefined variables name the template, line and expression', async (t) => {
  t.throws(() => renderTemplate(dir, 'missing.njk', {}), { message: /missing\.njk:1: undefined variable "name"$/ });
  t.throws(() => renderTemplate(dir, 'missing.njk', { name: 'x', server: {} }), {
    message: /missing\.njk:2: undefined variable "server\.port"$/,
  });
  t.throws(() => renderTemplate(dir, 'broken.njk', { name: 'x' }), { message: /broken\.njk: expected variable end/ });
  t.throws(() => renderTemplate(dir, 'nope.njk', {}), { message: /nope\.njk: template not found/ });
});

t.test('template step: vars, facts and host name reach the template; a secret makes the diff hidden', async (t) => {
  const env = localEnv({ templateDir: dir, wantDiff: true, vars: { ...vars, db_password: new Secret('hunter2-hunter2') } });
  const step = template({ src: 'app.conf.njk', dest: '/nonexistent-dir/app.conf', vars: { port: 9090 } });
  const change = await step.plan({ output: '', files: new Map() }, env);
  t.equal(change?.summary, 'create');
  t.match(change?.content, { sensitive: true, before: null, after: null });
  t.match(String(change?.action.stdin), /# local\nlisten 9090\n/, 'step vars override host vars; inventory_hostname is the host');
  t.notMatch(change?.action.script, /hunter2/, 'content travels on stdin only');
  const missing = template({ src: 'missing.njk', dest: '/x/y' });
  await t.rejects(async () => missing.probe(localEnv({ templateDir: dir })), /missing\.njk:1: undefined variable "name"/);
});
