// The public name as an input of the site: renamed in the inventory, one site run issues a
// certificate for the new name and the registry and the proxy serve it to clients that trust only
// the deployment's CA, the old name no longer verifies, and a rerun changes nothing.
import t from 'tap';
import { parse } from 'yaml';
import { converged, LAB_PUBLIC_NAME as NAME, servesCurrent, siteLab, unchanged } from '../fixtures/roles/site-lab.ts';

const s = await siteLab(t, { name: 'trname', subnet: '10.153', registries: 1 });
const pusher = { user: 'pusher', password: 'pusher-Name-Passw0rd' };
await s.setSecrets({ [`registry_users.${pusher.user}`]: pusher.password });

t.test('the first run serves the lab\'s name; a rerun changes nothing', async (t) => {
  converged(t, await s.site(), 'the first run');
  await servesCurrent(t, s, pusher, NAME, 'first');
  unchanged(t, await s.site());
});

t.test('a new public name: a certificate for it, the registry and the proxy serving it', async (t) => {
  const renamed = 'hub.lab.test';
  await s.setInventoryVar('registry_public_name', renamed);
  const run = await s.site();
  converged(t, run, 'the run');
  t.match(run.stderr, /pki: server certificate renewed \(SANs changed: .*\+DNS:hub\.lab\.test/);
  const client = await servesCurrent(t, s, pusher, renamed, 'renamed');
  const config = parse((await s.exec('registry-1', 'cat /etc/docker/registry/config.yml')).stdout);
  t.equal(config.http.host, 'https://hub.lab.test', 'the registry names itself by the new name');
  t.match((await s.exec('bastion', 'cat /etc/apache2/sites-available/registry_ssl.conf')).stdout, /^\s*ServerName hub\.lab\.test$/m);
  t.match(await (await s.client(NAME)).status(pusher), /^curl exit 60: /, 'the old name is not in the certificate');
  t.equal(await client.status(), '401', 'the new name asks for credentials');
  unchanged(t, await s.site());
});
