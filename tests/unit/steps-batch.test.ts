// The batched probe and apply scripts, run by this machine's /bin/sh; command, pkg and facts probes.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { FACTS_SCRIPT, parseFacts } from '../../lib/facts/index.ts';
import { Secret } from '../../lib/secret.ts';
import { applyScript, newToken, parseApplyOutput, parseProbeOutput, probeScript } from '../../lib/steps/batch.ts';
import { command, pkg } from '../../lib/steps/index.ts';
import { installedPackages } from '../../lib/steps/pkg.ts';
import { applyLocally, localEnv, planLocally, sh } from '../fixtures/engine/local-shell.ts';

t.test('probe batch: outputs come back per step, exactly, with when guards and failing probes', async (t) => {
  const token = newToken();
  const entries = [
    { probe: "printf 'no newline'" },
    { probe: 'echo one; echo two' },
    { probe: 'echo hidden', when: 'false' },
    { probe: 'echo guarded', when: 'true' },
    { probe: 'exit 3' },
    { probe: 'cat; echo after' }, // stdin is /dev/null: nothing to read
    { probe: `echo '@@${'0'.repeat(18)} 9 run'` }, // a forged delimiter with the wrong token
  ];
  const r = await sh(probeScript(entries, token), 'stdin must not reach probes');
  t.equal(r.code, 0);
  t.strictSame(parseProbeOutput(r.stdout, token, entries.length), [
    { skip: false, output: 'no newline' },
    { skip: false, output: 'one\ntwo\n' },
    { skip: true },
    { skip: false, output: 'guarded\n' },
    { skip: false, output: '' },
    { skip: false, output: 'after\n' },
    { skip: false, output: `@@${'0'.repeat(18)} 9 run\n` },
  ]);
  t.throws(() => parseProbeOutput(r.stdout.slice(0, -20), token, entries.length), /incomplete/);
});

t.test('apply script: the change reads stdin, then the following steps are probed in the same run', async (t) => {
  const token = newToken();
  const ok = await sh(applyScript('cat; echo " done" >&2', [{ probe: 'echo p1' }, { probe: 'echo p2' }], token), 'input');
  const out = parseApplyOutput(ok.stdout, token, 2);
  t.equal(out.code, 0);
  t.equal(out.log, 'input done\n');
  t.strictSame(out.probes, [{ skip: false, output: 'p1\n' }, { skip: false, output: 'p2\n' }]);

  const failed = await sh(applyScript('echo broken; exit 7', [{ probe: 'echo never' }], token));
  t.equal(failed.code, 7);
  t.strictSame(parseApplyOutput(failed.stdout, token, 1), { code: 7, log: 'broken\n', probes: null });
  t.equal(parseApplyOutput('no marker at all', token, 0).code, -1);
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
  t.throws(() => command({ cmd: 'curl -u admin:s3cr3t-token-value x' }), /holds a secret value; pass it with env/);
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
