// The batched probe and apply scripts, run by this machine's /bin/sh; command, pkg and facts probes.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { FACTS_SCRIPT, parseFacts } from '../../lib/facts/index.ts';
import { Secret } from '../../lib/secret.ts';
import { applyScript, FETCH_LIMIT, newToken, parseApplyOutput, parseProbeOutput, probeScript } from '../../lib/steps/batch.ts';
import type { FileState } from '../../lib/steps/types.ts';
import { command, pkg } from '../../lib/steps/index.ts';
import { installedPackages } from '../../lib/steps/pkg.ts';
import { applyLocally, localEnv, planLocally, sh } from '../fixtures/engine/local-shell.ts';

const sha = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');

t.test('probe batch: outputs come back per step, exactly, with when guards and failing probes', async (t) => {
  const token = newToken();
  const shells = [
    { shell: "printf 'no newline'" },
    { shell: 'echo one; echo two' },
    { shell: 'echo hidden', when: 'false' },
    { shell: 'echo guarded', when: 'true' },
    { shell: 'return 3' },
    { shell: 'cat; echo after' }, // stdin is /dev/null: nothing to read
    { shell: `echo '@@${'0'.repeat(18)} 9 run'` }, // a forged delimiter with the wrong token
  ];
  const entries = shells.map(({ shell, when }) => ({ spec: { shell }, when }));
  const r = await sh(probeScript(entries, token), 'stdin must not reach probes');
  t.equal(r.code, 0);
  const outputs = parseProbeOutput(r.stdout, token, entries).map((x) => (x.skip ? 'SKIP' : x.output));
  t.strictSame(outputs, ['no newline', 'one\ntwo\n', 'SKIP', 'guarded\n', '', 'after\n', `@@${'0'.repeat(18)} 9 run\n`]);
  t.throws(() => parseProbeOutput(r.stdout.slice(0, -20), token, entries), /incomplete/);
});

t.test('probe batch: files asked by several steps are probed once, with few processes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hm-batch-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'small'), 'hello\n', { mode: 0o640 });
  writeFileSync(join(dir, 'big'), Buffer.alloc(FETCH_LIMIT + 10, 1));
  writeFileSync(join(dir, 'exact'), Buffer.alloc(FETCH_LIMIT, 2));
  symlinkSync(join(dir, 'small'), join(dir, 'link'));
  const p = (n: string) => join(dir, n);
  const entries = [
    { spec: { files: [{ path: p('small'), hash: true }, { path: p('dir-missing') }] } },
    { spec: { files: [{ path: p('small'), fetch: true }, { path: p('big'), fetch: true, hash: true }, { path: p('exact'), fetch: true }] } },
    { spec: { files: [{ path: p('link'), hash: true, fetch: true }, { path: dir }] } },
  ];
  const token = newToken();
  const script = probeScript(entries, token);
  t.equal(script.match(/stat -c/g)?.length, 1, 'one stat for all paths');
  t.equal(script.match(/sha256sum/g)?.length, 1, 'one sha256sum for all hashes');
  const results = parseProbeOutput((await sh(script)).stdout, token, entries);
  const files = (results[0] as { files: Map<string, FileState> }).files;
  t.equal(results.every((r) => !r.skip && r.files === files), true, 'every step sees the same map');
  t.match(files.get(p('small')), { type: 'file', mode: '640', user: 'root', size: 6, sha256: sha('hello\n') });
  t.equal(files.get(p('small'))!.content!.toString(), 'hello\n');
  t.strictSame(files.get(p('dir-missing')), { type: 'absent' });
  t.equal(files.get(p('big'))!.content, undefined, 'too large to fetch');
  t.equal(files.get(p('big'))!.sha256, sha(Buffer.alloc(FETCH_LIMIT + 10, 1)));
  t.equal(files.get(p('exact'))!.content!.length, FETCH_LIMIT, 'exactly the limit is fetched');
  t.match(files.get(p('link')), { type: 'link', sha256: undefined, content: undefined });
  t.match(files.get(dir), { type: 'directory', mode: '700' });
});

t.test('apply script: the change reads stdin, then the following steps are probed in the same run', async (t) => {
  const token = newToken();
  const next = [{ spec: { shell: 'echo p1' } }, { spec: { shell: 'echo p2' } }];
  const ok = await sh(applyScript('cat; echo " done" >&2', next, token), 'input');
  const out = parseApplyOutput(ok.stdout, token, next);
  t.equal(out.code, 0);
  t.equal(out.log, 'input done\n');
  t.strictSame(out.probes?.map((x) => (x.skip ? 'SKIP' : x.output)), ['p1\n', 'p2\n']);

  const failed = await sh(applyScript('echo broken; exit 7', next, token));
  t.equal(failed.code, 7);
  t.strictSame(parseApplyOutput(failed.stdout, token, next), { code: 7, log: 'broken\n', probes: null });
  t.equal(parseApplyOutput('no marker at all', token, []).code, -1);
});

t.test('command: guards skip it, it reports a change only when it runs, secrets go through env on stdin', async (t) => {
  t.equal(await planLocally(command({ cmd: 'false', creates: '/' }), localEnv()), null);
  t.equal(await planLocally(command({ cmd: 'false', unless: 'test -d /' }), localEnv()), null);
  const runs = await planLocally(command({ cmd: 'echo ran', unless: 'test -e /nonexistent' }), localEnv());
  t.equal(runs?.summary, 'run');

  const token = new Secret('s3cr3t-token-value');
  const step = command({ cmd: 'printf "%s|%s" "$TOKEN" "$PLAIN"; cat', env: { TOKEN: token, PLAIN: 'two words\nand a line' } });
  const change = await planLocally(step, localEnv());
  t.notMatch(change!.action.script, /s3cr3t/, 'the secret is not in the script (argv)');
  const r = await applyLocally(change!);
  t.equal(r.code, 0);
  t.equal(r.log, 's3cr3t-token-value|two words\nand a line', 'the command got both values, and an empty stdin');
  t.throws(() => command({ cmd: 'curl -u admin:s3cr3t-token-value x' }), /its cmd holds a secret .*; pass it on stdin \(the env option\) or in a 0600 file/);
  // Interpolated, a Secret is its mask: the command would silently run with ********.
  t.throws(() => command({ name: 'login', cmd: `curl -u admin:${token} x` }), { name: 'StepError', message: /^command "login": its cmd holds a secret \(a vault value interpolated into the command string\); pass it on stdin/ });
  t.throws(() => command({ cmd: 'true', unless: `test "$(cat f)" = ${token}` }), /its unless holds a secret/);
  t.throws(() => command({ cmd: 'true', env: { 'BAD-NAME': 'x' } }), /not a variable name/);
});

t.test('pkg: dpkg-query decides; only missing packages are installed', async (t) => {
  const env = localEnv();
  // dpkg itself is installed on every Debian machine; the other name is not a package.
  const step = pkg({ packages: ['dpkg', 'hm-no-such-package'] });
  const change = await planLocally(step, env);
  t.equal(change?.summary, 'install hm-no-such-package');
  t.match(change?.action.script, /DEBIAN_FRONTEND=noninteractive apt-get .* install 'hm-no-such-package'/);
  t.equal(await planLocally(pkg({ packages: 'dpkg' }), env), null);
  t.equal(await planLocally(pkg({ packages: 'hm-no-such-package', state: 'absent' }), env), null);
  const rpm = await planLocally(pkg({ packages: ['a'] }), localEnv({ facts: { ...env.facts, packageManager: 'dnf' } }));
  t.match(rpm?.action.script, /^dnf -y -q install 'a'$/);
  t.strictSame(
    installedPackages('bash\tinstall ok installed\nvim\tdeinstall ok config-files\nhttpd\npackage x is not installed\n', ['bash', 'vim', 'httpd', 'x']),
    new Set(['bash', 'httpd']),
  );
});

t.test('facts: the facts script run here matches /etc/os-release and uname', async (t) => {
  const r = await sh(FACTS_SCRIPT);
  const facts = parseFacts(r.stdout);
  const osRelease = readFileSync('/etc/os-release', 'utf8');
  t.equal(facts.distribution, /^ID=(.*)$/m.exec(osRelease)![1]!.replace(/"/g, ''));
  t.equal(facts.arch, (await sh('uname -m')).stdout.trim());
  t.equal(facts.osFamily, 'debian');
  t.equal(facts.packageManager, 'apt');
  t.equal(facts.init, (await sh('test -d /run/systemd/system && echo systemd || echo sysv')).stdout.trim());
  t.match(parseFacts('arch=aarch64\ninit=systemd\npm=dnf\n@@os-release\nID="amzn"\nID_LIKE="centos rhel fedora"\nVERSION_ID="2023"\n'), {
    osFamily: 'redhat',
    distribution: 'amzn',
    version: '2023',
    packageManager: 'dnf',
    init: 'systemd',
  });
});
