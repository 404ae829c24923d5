// The S3 directory (bucket, S3 user, policies, access key) against the S3 and IAM mocks, through
// the real SDK: plan, apply from nothing, a rerun that changes nothing, drift put right in
// place, the key kept or rotated, and destroy with and without emptying the bucket.
import t from 'tap';
import type { Change } from '../../lib/cloud/aws/plan.ts';
import type { AwsSettings } from '../../lib/cloud/aws/settings.ts';
import { planStorage, planStorageGone } from '../../lib/cloud/aws/storage.ts';
import { UserError } from '../../lib/errors.ts';
import { redact, Secret } from '../../lib/secret.ts';
import { mockContext, mockSettings, shownChange } from '../helpers/aws-mock/context.ts';
import { handleEc2 } from '../helpers/aws-mock/ec2.ts';
import { handleIam, iamState } from '../helpers/aws-mock/iam.ts';
import { isMutating } from '../helpers/aws-mock/index.ts';
import { handleS3, s3State, seedForeignBucket } from '../helpers/aws-mock/s3.ts';
import { startAwsMock } from '../helpers/aws-mock/server.ts';

const mock = await startAwsMock({ s3: handleS3, iam: handleIam, ec2: handleEc2 });
t.teardown(() => mock.close());

const BUCKET = 'harbor-test-bucket';
const USER = 'harbor_s3_user';
const BUCKET_ACTIONS = ['s3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'];
const OBJECT_ACTIONS = ['s3:AbortMultipartUpload', 's3:DeleteObject', 's3:GetObject', 's3:ListMultipartUploadParts', 's3:PutObject'];

type Run = { changes: Change[]; applied: Change[]; said: string[]; mutating: string[] };

/** One plan of the S3 directory and unless dryRun its apply: the plan, the changes made, what was said, which calls changed something, a new key. */
async function run(opts: { dryRun?: boolean; known?: { accessKeyId: string }; destroy?: { emptyBucket: boolean }; settings?: Partial<AwsSettings> } = {}): Promise<Run & { newKey?: { accessKeyId: string; secret: Secret } }> {
  const ctx = mockContext(mock, mockSettings(mock, opts.settings));
  const before = mock.calls.length;
  let newKey: { accessKeyId: string; secret: Secret } | undefined;
  let applied: Change[] = [];
  try {
    if (opts.destroy) await planStorageGone(ctx, opts.destroy);
    else await planStorage(ctx, opts.known?.accessKeyId, async (accessKeyId, secret) => void (newKey = { accessKeyId, secret }));
    if (!opts.dryRun) applied = await ctx.apply();
  } finally {
    ctx.close();
  }
  return { changes: ctx.planned.map(shownChange), applied, said: ctx.said, mutating: mock.calls.slice(before).filter(isMutating).map((c) => c.action), ...(newKey ? { newKey } : {}) };
}

const summary = (changes: Change[]) => changes.map((c) => `${c.action} ${c.kind} ${c.name}`);
const bucket = () => s3State(mock).buckets.get(BUCKET);
const user = () => iamState(mock).users.get(USER);

/** A policy's statements with their action lists sorted, for comparison as data. */
function statements(text: string): unknown[] {
  const doc = JSON.parse(text) as { Version: string; Statement: { Action: string[] }[] };
  t.equal(doc.Version, '2012-10-17');
  return doc.Statement.map((s) => ({ ...s, Action: [...s.Action].sort() }));
}

t.test('from nothing: the plan, then the apply', async (t) => {
  const plan = await run({ dryRun: true });
  t.same(plan.mutating, [], 'planning changes nothing');
  t.same(summary(plan.changes), [`create s3 bucket ${BUCKET}`, `create iam user ${USER}`, `create s3 bucket policy ${BUCKET}`, 'create iam user policy harbor-s3-registry', `create iam access key ${USER}`]);
  t.notOk(plan.newKey, 'no key before apply');

  const applied = await run();
  t.same(summary(applied.changes), summary(plan.changes), 'apply does what the plan said');
  const b = bucket()!;
  t.equal(b.region, 'eu-west-1');
  t.same(b.tags, [{ Key: 'Project', Value: 'harbor' }, { Key: 'Name', Value: BUCKET }]);
  t.same(b.publicAccessBlock, { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true });
  t.equal(b.encryption, 'AES256');
  const u = user()!;
  t.same(u.tags, [{ Key: 'Project', Value: 'harbor' }, { Key: 'Name', Value: USER }]);
  t.same(statements(b.policy!), [
    { Sid: 'RegistryBucket', Effect: 'Allow', Principal: { AWS: u.arn }, Action: BUCKET_ACTIONS, Resource: `arn:aws:s3:::${BUCKET}` },
    { Sid: 'RegistryObjects', Effect: 'Allow', Principal: { AWS: u.arn }, Action: OBJECT_ACTIONS, Resource: `arn:aws:s3:::${BUCKET}/*` },
  ], 'the bucket policy grants the user exactly the registry driver\'s actions');
  t.same([...u.policies.keys()], ['harbor-s3-registry'], 'one inline policy, nothing else');
  t.same(statements(u.policies.get('harbor-s3-registry')!), [
    { Sid: 'RegistryBucket', Effect: 'Allow', Action: BUCKET_ACTIONS, Resource: `arn:aws:s3:::${BUCKET}` },
    { Sid: 'RegistryObjects', Effect: 'Allow', Action: OBJECT_ACTIONS, Resource: `arn:aws:s3:::${BUCKET}/*` },
  ], 'the user policy allows the same actions on the same resources');

  t.equal(u.keys.length, 1);
  const key = u.keys[0]!;
  const storage = applied.newKey!;
  t.equal(storage.accessKeyId, key.id);
  t.type(storage.secret, Secret);
  t.equal(storage.secret.reveal(), key.secret, 'the new key\'s secret is handed over for the vault');
  const shown = JSON.stringify({ ...applied, newKey: undefined }) + applied.said.join('\n');
  t.notOk(shown.includes(key.secret), 'the secret is in no recorded change or message');
  t.equal(redact(`secret=${key.secret}`), 'secret=********', 'and is known to redact()');
  t.equal(applied.applied.find((c) => c.kind === 'iam access key')?.id, key.id);

  const again = await run({ known: { accessKeyId: key.id } });
  t.same(again.changes.map((c) => c.action), ['ok', 'ok', 'ok', 'ok', 'ok'], 'a second apply finds everything in place');
  t.same(again.mutating, [], 'and changes nothing');
  t.notOk(again.newKey, 'the kept key is not handed out again');
});

t.test('drift is put right in place', async (t) => {
  const keyId = user()!.keys[0]!.id;
  const b = bucket()!;
  const arn = user()!.arn;
  // Someone widened the bucket policy, dropped a grant, opened the bucket and retagged it.
  b.policy = JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Principal: { AWS: arn }, Action: ['s3:ListBucket', 's3:GetBucketLocation', 's3:ListBucketMultipartUploads', 's3:DeleteBucket'], Resource: `arn:aws:s3:::${BUCKET}` },
      { Effect: 'Allow', Principal: { AWS: arn }, Action: ['s3:PutObject', 's3:DeleteObject', 's3:ListMultipartUploadParts', 's3:AbortMultipartUpload'], Resource: `arn:aws:s3:::${BUCKET}/*` },
    ],
  });
  b.publicAccessBlock = { ...b.publicAccessBlock, BlockPublicPolicy: false };
  b.tags = [{ Key: 'Project', Value: 'other' }, { Key: 'Name', Value: BUCKET }, { Key: 'Owner', Value: 'ops' }];
  b.encryption = 'aws:kms';
  user()!.policies.set('harbor-s3-registry', JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }] }));
  user()!.policies.set('extra', JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ec2:*', Resource: '*' }] }));

  const plan = await run({ dryRun: true, known: { accessKeyId: keyId } });
  t.same(plan.mutating, []);
  const fixed = await run({ known: { accessKeyId: keyId } });
  t.same(fixed.changes, plan.changes, 'apply does what the plan said');
  const byKind = Object.fromEntries(fixed.changes.map((c) => [c.kind, c]));
  t.equal(byKind['s3 bucket']?.action, 'update');
  t.equal(byKind['s3 bucket']?.detail, 'tag Project: other → harbor; public access not blocked (BlockPublicPolicy); default encryption aws:kms → AES256');
  t.equal(byKind['s3 bucket policy']?.action, 'update');
  t.equal(byKind['s3 bucket policy']?.detail, `grants s3:DeleteBucket on arn:aws:s3:::${BUCKET} to ${arn}; lacks s3:GetObject on arn:aws:s3:::${BUCKET}/* to ${arn}`);
  t.equal(byKind['iam user policy']?.action, 'update');
  t.match(byKind['iam user policy']?.detail, /^grants s3:\* on \*; lacks s3:ListBucket .*; removes other inline policies \(least privilege\): extra$/);
  t.equal(byKind['iam user']?.action, 'ok');
  t.equal(byKind['iam access key']?.action, 'ok');
  t.same(bucket()!.tags, [{ Key: 'Project', Value: 'harbor' }, { Key: 'Name', Value: BUCKET }, { Key: 'Owner', Value: 'ops' }], 'other tags are kept');
  t.equal(bucket()!.encryption, 'AES256');
  t.equal(bucket()!.publicAccessBlock?.BlockPublicPolicy, true);
  t.same([...user()!.policies.keys()], ['harbor-s3-registry']);

  // The same grants written differently (one statement per action, other Sids) mean the same.
  const reordered = JSON.parse(bucket()!.policy!) as { Statement: { Action: string[] }[] };
  bucket()!.policy = JSON.stringify({ Version: '2012-10-17', Statement: reordered.Statement.reverse().flatMap((s) => s.Action.map((a, i) => ({ ...s, Sid: `S${i}`, Action: a.toLowerCase() }))) });
  const same = await run({ known: { accessKeyId: keyId } });
  t.same(same.changes.map((c) => c.action), ['ok', 'ok', 'ok', 'ok', 'ok'], 'a policy is compared by meaning');
  t.same(same.mutating, []);
});

t.test('a key the vault does not know is replaced, and the limit of two keys is never hit', async (t) => {
  const old = user()!.keys[0]!;
  user()!.keys.push({ id: 'AKIAOTHERKEY00000000', secret: 'other-secret-value', status: 'Active', created: old.created });
  const plan = await run({ dryRun: true, known: { accessKeyId: 'AKIAGONE000000000000' } });
  t.same(plan.mutating, []);
  const rotated = await run({ known: { accessKeyId: 'AKIAGONE000000000000' } });
  const change = rotated.changes.find((c) => c.kind === 'iam access key')!;
  t.equal(change.action, 'create');
  t.equal(change.detail, `the vault's key AKIAGONE000000000000 is not one of ${USER}'s; deletes the user's other keys (${old.id}, AKIAOTHERKEY00000000) so the registry uses only the new one`);
  t.same(rotated.mutating, ['DeleteAccessKey', 'DeleteAccessKey', 'CreateAccessKey'], 'only the key changes');
  const keys = user()!.keys;
  t.equal(keys.length, 1);
  t.equal(rotated.newKey?.accessKeyId, keys[0]!.id);
  t.equal(rotated.newKey?.secret.reveal(), keys[0]!.secret);
  t.notOk(JSON.stringify({ ...rotated, newKey: undefined }).includes(keys[0]!.secret), 'the new secret is in no recorded change');

  keys[0]!.status = 'Inactive';
  const inactive = await run({ known: { accessKeyId: keys[0]!.id } });
  t.match(inactive.changes.find((c) => c.kind === 'iam access key')?.detail, /is inactive/, 'an inactive key is replaced too');
  t.equal(user()!.keys[0]?.status, 'Active');

  const none = await run({ dryRun: true });
  t.match(none.changes.find((c) => c.kind === 'iam access key'), { action: 'create', detail: /^none in the vault yet; deletes the user's other keys/ }, 'no known key: plan a new one');
});

t.test('destroy: refused while the bucket holds images, unless emptyBucket', async (t) => {
  const b = bucket()!;
  for (const key of ['docker/registry/v2/blobs/a', 'docker/registry/v2/blobs/b', 'docker/registry/v2/repositories/x/_layers/l']) b.objects.set(key, { body: Buffer.from(key), lastModified: new Date() });
  for (const dryRun of [true, false]) {
    const before = mock.calls.length;
    await t.rejects(run({ dryRun, destroy: { emptyBucket: false } }), new UserError(`S3 bucket ${BUCKET} holds 3 objects (the registry's images): pass --empty-bucket to delete them with it`));
    t.same(mock.calls.slice(before).filter(isMutating), [], `nothing is deleted${dryRun ? ' (plan)' : ''}`);
  }
  const plan = await run({ dryRun: true, destroy: { emptyBucket: true } });
  t.same(plan.mutating, []);
  const destroyed = await run({ destroy: { emptyBucket: true } });
  t.same(destroyed.changes, plan.changes, 'destroy does what the plan said');
  t.same(summary(destroyed.changes), [`delete s3 bucket ${BUCKET}`, `delete iam access key ${USER}`, 'delete iam user policy harbor-s3-registry', `delete iam user ${USER}`]);
  t.equal(destroyed.changes[0]?.detail, 'with its 3 objects');
  t.notOk(bucket(), 'the bucket is gone');
  t.notOk(user(), 'the user is gone');
  const second = await run({ destroy: { emptyBucket: true } });
  t.same(second.changes, [], 'a second destroy records nothing');
  t.same(second.mutating, []);
});

t.test('destroy: partial state, many objects, and what is not ours', async (t) => {
  await run();
  // The bucket went by hand, with more objects than one DeleteObjects call takes.
  const b = bucket()!;
  for (let i = 0; i < 1500; i++) b.objects.set(`blob/${String(i).padStart(4, '0')}`, { body: Buffer.from('x'), lastModified: new Date() });
  const destroyed = await run({ destroy: { emptyBucket: true } });
  t.equal(destroyed.changes[0]?.detail, 'with its 1500 objects');
  t.equal(destroyed.mutating.filter((a) => a.includes('?delete')).length, 2, 'deleted a thousand at a time');

  await run();
  s3State(mock).buckets.delete(BUCKET);
  user()!.keys = [];
  const partial = await run({ destroy: { emptyBucket: false } });
  t.same(summary(partial.changes), ['delete iam user policy harbor-s3-registry', `delete iam user ${USER}`], 'only what is left is deleted');

  seedForeignBucket(mock, BUCKET);
  await t.rejects(run(), { name: 'UserError', message: `S3 bucket ${BUCKET} belongs to another AWS account (bucket names are global): choose another "bucket" in aws.yaml` });
  const untouched = await run({ destroy: { emptyBucket: true } });
  t.same(untouched.changes, [], 'another account\'s bucket is left alone');
  t.match(untouched.said, [/belongs to another AWS account: left alone/]);
  s3State(mock).buckets.delete(BUCKET);

  await run();
  bucket()!.tags = [];
  await t.rejects(run({ destroy: { emptyBucket: true } }), { name: 'UserError', message: /is not tagged Project=harbor, so harbormaster did not make it/ });
  t.ok(bucket(), 'an untagged bucket is not deleted');
});

t.test('a new user S3 does not know yet is retried until it does', async (t) => {
  s3State(mock).buckets.delete(BUCKET);
  iamState(mock).users.delete(USER);
  iamState(mock).propagationDelay = 2;
  t.teardown(() => {
    iamState(mock).propagationDelay = 0;
  });
  const applied = await run();
  t.equal(applied.changes.find((c) => c.kind === 's3 bucket policy')?.action, 'create');
  t.equal(applied.mutating.filter((a) => a.includes('?policy')).length, 3, 'refused twice, then set');
  t.match(applied.said, [/^waiting for IAM user harbor_s3_user to be usable in the policy of S3 bucket harbor-test-bucket: not yet known to S3/]);
  t.ok(bucket()?.policy);
});

t.test('a bucket in another region is refused', async (t) => {
  await t.rejects(run({ settings: { region: 'eu-central-1' } }), { name: 'UserError', message: `S3 bucket ${BUCKET} is in eu-west-1, not eu-central-1: set "region" in aws.yaml to eu-west-1, or choose another "bucket"` });
});
