// The smoke test's parts that need no registry: the image it builds (a layer real tar reads,
// digests that match the bytes), the WWW-Authenticate parser, and ssh.mts's OpenSSH config.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import t from 'tap';
import { sshConfigText } from '../../lib/access/ssh-config.ts';
import { loadInventory } from '../../lib/inventory/index.ts';
import { parseChallenge } from '../../lib/smoke/auth.ts';
import { MEDIA, smokeImage } from '../../lib/smoke/image.ts';

const dir = await mkdtemp(join(tmpdir(), 'hm-smoke-parts-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');

t.test('the image: GNU tar reads the layer; the manifest and config name the blobs by their digests', async (t) => {
  const image = smokeImage();
  await writeFile(join(dir, 'layer.tar.gz'), image.layer.data);
  const listing = execFileSync('tar', ['-tvzf', join(dir, 'layer.tar.gz')], { encoding: 'utf8' });
  t.match(listing, /^-rw-r--r-- root\/root +45 1970-01-01 00:00 harbormaster-smoke\.txt$/m);
  t.equal(execFileSync('tar', ['-xOzf', join(dir, 'layer.tar.gz')], { encoding: 'utf8' }), 'pushed and pulled back by harbormaster smoke\n');
  for (const b of [image.layer, image.config, image.manifest]) t.equal(b.digest, `sha256:${hex(b.data)}`, `${b.mediaType} digest`);
  const manifest = JSON.parse(image.manifest.data.toString());
  t.same(manifest, {
    schemaVersion: 2,
    mediaType: MEDIA.manifest,
    config: { mediaType: MEDIA.config, digest: image.config.digest, size: image.config.size },
    layers: [{ mediaType: MEDIA.layer, digest: image.layer.digest, size: image.layer.size }],
  });
  t.same(JSON.parse(image.config.data.toString()).rootfs, { type: 'layers', diff_ids: [`sha256:${hex(gunzipSync(image.layer.data))}`] }, 'diff_id: the uncompressed tar');
  t.equal(smokeImage().manifest.digest, image.manifest.digest, 'the same bytes every time');
});

t.test('WWW-Authenticate: Basic and Bearer, quoted values holding commas', async (t) => {
  t.same(parseChallenge('Basic realm="harbormaster registry"'), { scheme: 'basic', params: { realm: 'harbormaster registry' } });
  t.same(parseChallenge('Bearer realm="https://h/service/token",service="harbor-registry",scope="repository:library/smoke:pull,push",error="insufficient_scope"'), {
    scheme: 'bearer',
    params: { realm: 'https://h/service/token', service: 'harbor-registry', scope: 'repository:library/smoke:pull,push', error: 'insufficient_scope' },
  });
  t.equal(parseChallenge('Negotiate abc'), undefined);
  t.equal(parseChallenge(undefined), undefined);
});

t.test('ssh config: inventory hosts by name, ProxyJump to the bastion, an ad-hoc jump gets an alias', async (t) => {
  const inv = join(dir, 'hosts.ini');
  await writeFile(join(dir, 'hosts.known_hosts'), '');
  await writeFile(
    inv,
    [
      '[bastion]',
      'bastion ansible_host=203.0.113.5 ansible_user=admin ansible_ssh_private_key_file=keys/id',
      '[registry]',
      'registry-1 ansible_host=172.20.2.20 ansible_port=2222 ansible_user=admin ansible_ssh_private_key_file=keys/id ansible_ssh_common_args="-J admin@203.0.113.5"',
      '[other]',
      'db ansible_host=172.20.2.30 ansible_user=ops ansible_ssh_common_args="-o ProxyJump=jump@198.51.100.7:2200"',
      '',
    ].join('\n'),
  );
  const text = sshConfigText(await loadInventory(inv));
  const known = join(dir, 'hosts.known_hosts');
  t.match(text, `Host bastion\n  HostName 203.0.113.5\n  User admin\n  IdentityFile ${join(dir, 'keys/id')}\n  IdentitiesOnly yes\n  UserKnownHostsFile ${known}\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n\n`);
  t.match(text, `Host registry-1\n  HostName 172.20.2.20\n  Port 2222\n  User admin\n  IdentityFile ${join(dir, 'keys/id')}\n  IdentitiesOnly yes\n  UserKnownHostsFile ${known}\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  ProxyJump bastion\n`);
  t.match(text, 'Host jump-jump-198.51.100.7-2200\n  HostName 198.51.100.7\n  Port 2200\n  User jump\n');
  t.match(text, '  ProxyJump jump-jump-198.51.100.7-2200\n');
  t.equal(text.match(/^Host bastion$/gm)?.length, 1, 'the bastion once, though two hosts jump through it');
});
