// The registry's users and storage as inputs of the site: a changed password, a new user, a
// removed user and a new storage directory each end, after one site run, in a registry that
// accepts exactly the vault's users with their current passwords and keeps images where the
// settings say; a rerun then changes nothing.
import t from 'tap';
import { converged, siteLab, unchanged } from '../fixtures/roles/site-lab.ts';

const s = await siteLab(t, { name: 'trusers', subnet: '10.152', registries: 1 });
const pusher = { user: 'pusher', password: 'pusher-Users-Passw0rd' };
await s.setSecrets({ [`registry_users.${pusher.user}`]: pusher.password });
const layerIn = async (dir: string, repo: string) => (await s.exec('registry-1', `ls ${dir}/docker/registry/v2/repositories/${repo}/_layers/sha256 2>&1`)).stdout;

t.test('the first run serves the vault\'s user; a rerun changes nothing', async (t) => {
  converged(t, await s.site(), 'the first run');
  const client = await s.client();
  t.equal(await client.status(pusher), '200');
  t.equal(await client.status({ user: 'pusher', password: 'wrong' }), '401');
  unchanged(t, await s.site());
});

t.test('a new password and a new user: the old password refused, the new user pushes', async (t) => {
  const renewed = { user: 'pusher', password: 'pusher-New-Passw0rd' };
  const puller = { user: 'puller', password: 'puller-Users-Passw0rd' };
  await s.setSecrets({ 'registry_users.pusher': renewed.password, 'registry_users.puller': puller.password });
  const run = await s.site();
  converged(t, run, 'the run');
  t.ok(run.changed.includes('registry-1: restart docker-registry'), 'the registry restarted');
  t.notOk(run.changed.some((c) => c.startsWith('bastion:')), 'nothing to do on the bastion');
  const client = await s.client();
  t.equal(await client.status(pusher), '401', 'the old password is refused');
  t.equal(await client.status(renewed), '200', 'the new password is accepted');
  const { push, digest, expected } = await client.push(puller, 'users/demo', 'puller');
  t.equal(push.code, 0, push.stderr);
  t.equal(digest, expected, 'the new user pushed, and reads the manifest back');
  unchanged(t, await s.site());
});

t.test('a user removed from the vault is refused', async (t) => {
  await s.deleteSecret('registry_users.puller');
  converged(t, await s.site(), 'the run');
  const client = await s.client();
  t.equal(await client.status({ user: 'puller', password: 'puller-Users-Passw0rd' }), '401', 'the removed user');
  t.equal(await client.status({ user: 'pusher', password: 'pusher-New-Passw0rd' }), '200', 'the one left');
  unchanged(t, await s.site());
});

t.test('a new storage directory: the registry keeps new images there', async (t) => {
  const pusherNow = { user: 'pusher', password: 'pusher-New-Passw0rd' };
  const moved = ['-e', 'registry_data_dir=/srv/registry'];
  const run = await s.site(...moved);
  converged(t, run, 'the run');
  t.ok(run.changed.includes('registry-1: restart docker-registry'), 'the registry restarted');
  t.match((await s.exec('registry-1', 'stat -c "%a %U" /srv/registry')).stdout, /^750 docker-registry\n$/, 'made for the registry user');
  const client = await s.client();
  const { push, digest, expected } = await client.push(pusherNow, 'storage/demo', 'moved');
  t.equal(push.code, 0, push.stderr);
  t.equal(digest, expected);
  t.match(await layerIn('/srv/registry', 'storage/demo'), /^[0-9a-f]{64}\n/, 'the layer is under the new directory');
  t.match(await layerIn('/var/lib/docker-registry', 'storage/demo'), /No such file or directory/, 'and not under the old one');
  const before = await client.inspect(pusherNow, 'users/demo', 'puller');
  t.not(before.code, 0, 'an image pushed before the move is not in the new storage');
  t.match(before.stderr, /manifest unknown/);
  unchanged(t, await s.site(...moved));
});
