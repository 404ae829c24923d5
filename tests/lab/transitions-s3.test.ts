// S3 storage settings as inputs of the site, against moto (the AWS emulator written outside this
// project, ../shared/tools/moto) running inside the registry host's namespace with IAM
// authentication on, so it checks every request's signature: moving from disk to a bucket,
// to another bucket, and to a new access key each end, after one site run, in a registry that
// keeps what is pushed where the settings say (and no longer serves what the old settings held);
// the old key is then deleted and refused, and a rerun changes nothing.
import t from 'tap';
import { MOTO_SERVE, motoAbsent } from '../helpers/aws-mock/moto.ts';
import { converged, siteLab, unchanged, type SiteLab } from '../fixtures/roles/site-lab.ts';

const MOTO = 'http://127.0.0.1:4566';

if (motoAbsent()) {
  t.plan(0, 'skipped: ../shared/tools/moto is absent (a user clone)');
} else {
  await s3Transitions();
}

/**
 * Python run on the registry host with moto's own client libraries (boto3): stdout is its
 * last line. Credentials are moto-issued keys, or the bootstrap pair while moto still admits
 * unsigned set-up calls.
 */
async function python(s: SiteLab, body: string): Promise<string> {
  const script = [
    'import boto3, json, sys',
    `def client(service, key): return boto3.client(service, endpoint_url='${MOTO}', region_name='us-east-1', aws_access_key_id=key[0], aws_secret_access_key=key[1])`,
    body,
  ].join('\n');
  const r = await s.exec('registry-1', `python3 - <<'PY'\n${script}\nPY`);
  if (r.code !== 0) throw new Error(`python on registry-1 exited ${r.code}: ${r.stderr}`);
  return r.stdout.trim().split('\n').pop()!;
}

async function s3Transitions(): Promise<void> {
  const s = await siteLab(t, { name: 'trs3', subnet: '10.154', registries: 1 });
  const pusher = { user: 'pusher', password: 'pusher-S3-Passw0rd' };
  await s.setSecrets({ [`registry_users.${pusher.user}`]: pusher.password });
  // The set-up below makes exactly SETUP_CALLS unsigned calls; every later one must be signed by a key moto issued.
  const SETUP_CALLS = 6;
  const started = await s.exec(
    'registry-1',
    // Every descriptor of the background job redirected: the exec ends when its output does.
    `cd /; (INITIAL_NO_AUTH_ACTION_COUNT=${SETUP_CALLS} exec ${MOTO_SERVE} 4566) >/tmp/moto.log 2>&1 </dev/null & echo $! > /tmp/moto.pid; ` +
      `for i in $(seq 150); do curl -fs ${MOTO}/moto-api/ >/dev/null && exit 0; sleep 0.2; done; cat /tmp/moto.log >&2; exit 1`,
  );
  if (started.code !== 0) throw new Error(`moto did not start on registry-1: ${started.stderr}`);
  t.teardown(() => s.exec('registry-1', 'kill $(cat /tmp/moto.pid) 2>/dev/null || true'));
  const keys = JSON.parse(
    await python(
      s,
      `boot = ('bootstrap', 'bootstrap'); s3 = client('s3', boot); iam = client('iam', boot)
s3.create_bucket(Bucket='images-one'); s3.create_bucket(Bucket='images-two')
iam.create_user(UserName='registry')
iam.put_user_policy(UserName='registry', PolicyName='registry', PolicyDocument=json.dumps({'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Action': ['s3:*', 'iam:DeleteAccessKey'], 'Resource': '*'}]}))
ks = [iam.create_access_key(UserName='registry')['AccessKey'] for _ in range(2)]
print(json.dumps([[k['AccessKeyId'], k['SecretAccessKey']] for k in ks]))`,
    ),
  ) as [string, string][];
  const [first, second] = keys as [[string, string], [string, string]];
  /** Keys of the bucket's objects under the repository, as the registry's own key signs the listing. */
  const objects = async (bucket: string, repo: string, key: [string, string] = second) =>
    JSON.parse(
      await python(s, `r = client('s3', ${JSON.stringify(key)}).list_objects_v2(Bucket='${bucket}', Prefix='docker/registry/v2/repositories/${repo}/')\nprint(json.dumps([o['Key'] for o in r.get('Contents', [])]))`),
    ) as string[];
  const useKey = (key: [string, string]) => s.setSecrets({ registry_s3_access_key: key[0], registry_s3_secret_key: key[1] });

  t.test('on disk first; a rerun changes nothing', async (t) => {
    converged(t, await s.site(), 'the first run');
    const { push } = await (await s.client()).push(pusher, 's3/disk', 'one');
    t.equal(push.code, 0, push.stderr);
    unchanged(t, await s.site());
  });

  t.test('to a bucket: restarted, pushes land in it, what was on disk is no longer served', async (t) => {
    await useKey(first);
    for (const [key, value] of Object.entries({ registry_storage: 's3', registry_s3_region: 'us-east-1', registry_s3_bucket: 'images-one', registry_s3_endpoint: MOTO })) {
      await s.setInventoryVar(key, value);
    }
    const run = await s.site();
    converged(t, run, 'the run');
    t.ok(run.changed.includes('registry-1: restart docker-registry'), 'the registry restarted');
    const client = await s.client();
    const { push, digest, expected } = await client.push(pusher, 's3/bucket', 'one');
    t.equal(push.code, 0, push.stderr);
    t.equal(digest, expected, 'the pushed manifest reads back');
    const stored = await objects('images-one', 's3/bucket', first);
    t.ok(stored.some((k) => k.endsWith('/_manifests/tags/one/current/link')), 'the tag is in images-one');
    const layer = stored.map((k) => /\/_layers\/sha256\/([0-9a-f]{64})\/link$/.exec(k)?.[1]).find(Boolean);
    t.equal(await client.status(pusher, `/v2/s3/bucket/blobs/sha256:${layer}`), '200', 'a blob streams through the proxy (no redirect to S3)');
    t.not((await client.inspect(pusher, 's3/disk', 'one')).code, 0, 'the image kept on disk is not in the bucket');
    unchanged(t, await s.site());
  });

  t.test('to another bucket: pushes land there, the first bucket keeps what it had', async (t) => {
    await s.setInventoryVar('registry_s3_bucket', 'images-two');
    const run = await s.site();
    converged(t, run, 'the run');
    t.ok(run.changed.includes('registry-1: restart docker-registry'), 'the registry restarted');
    const client = await s.client();
    const { push } = await client.push(pusher, 's3/other', 'two');
    t.equal(push.code, 0, push.stderr);
    t.ok((await objects('images-two', 's3/other', first)).length > 0, 'the push is in images-two');
    t.same(await objects('images-one', 's3/other', first), [], 'and not in images-one');
    t.not((await client.inspect(pusher, 's3/bucket', 'one')).code, 0, 'images-one is no longer served');
    unchanged(t, await s.site());
  });

  t.test('a new access key: restarted, the old key deleted and refused, the registry still pushes', async (t) => {
    await useKey(second);
    const run = await s.site();
    converged(t, run, 'the run');
    t.ok(run.changed.includes('registry-1: restart docker-registry'), 'the registry restarted');
    t.equal(await python(s, `client('iam', ${JSON.stringify(second)}).delete_access_key(UserName='registry', AccessKeyId='${first[0]}')\nprint('deleted')`), 'deleted');
    const refused = await python(s, `\ntry:\n    client('s3', ${JSON.stringify(first)}).list_objects_v2(Bucket='images-two')\n    print('accepted')\nexcept Exception as e:\n    print(e.response['Error']['Code'])`);
    t.equal(refused, 'InvalidAccessKeyId', 'S3 refuses the old key');
    const client = await s.client();
    const { push, digest, expected } = await client.push(pusher, 's3/rotated', 'three');
    t.equal(push.code, 0, push.stderr);
    t.equal(digest, expected, 'pushed and read back with the new key');
    t.ok((await objects('images-two', 's3/rotated')).length > 0, 'in images-two');
    t.equal((await client.inspect(pusher, 's3/other', 'two')).code, 0, 'what the old key pushed is still served');
    unchanged(t, await s.site());
  });
}
