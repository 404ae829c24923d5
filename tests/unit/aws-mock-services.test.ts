// The S3, IAM, STS and Route53 mocks against the real SDK clients: their answers parse into the
// SDK's shapes, and their errors come back as the SDK's named exceptions.
import t, { type Test } from 'tap';
import {
  ChangeResourceRecordSetsCommand,
  GetChangeCommand,
  GetHostedZoneCommand,
  InvalidChangeBatch,
  ListHostedZonesByNameCommand,
  ListResourceRecordSetsCommand,
  NoSuchHostedZone,
  type Change,
} from '@aws-sdk/client-route-53';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteBucketPolicyCommand,
  DeleteObjectsCommand,
  GetBucketEncryptionCommand,
  GetBucketLocationCommand,
  GetBucketPolicyCommand,
  GetBucketTaggingCommand,
  GetPublicAccessBlockCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  NoSuchBucket,
  PutBucketEncryptionCommand,
  PutBucketPolicyCommand,
  PutBucketTaggingCommand,
  PutObjectCommand,
  PutPublicAccessBlockCommand,
  BucketAlreadyExists,
  BucketAlreadyOwnedByYou,
} from '@aws-sdk/client-s3';
import {
  CreateAccessKeyCommand,
  CreateUserCommand,
  DeleteAccessKeyCommand,
  DeleteConflictException,
  DeleteUserCommand,
  DeleteUserPolicyCommand,
  EntityAlreadyExistsException,
  GetUserCommand,
  IAMClient,
  GetUserPolicyCommand,
  LimitExceededException,
  ListAccessKeysCommand,
  ListUserPoliciesCommand,
  ListUserTagsCommand,
  NoSuchEntityException,
  PutUserPolicyCommand,
  TagUserCommand,
} from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { awsClients, closeClients, type AwsClients } from '../../lib/cloud/aws/clients.ts';
import type { AwsSettings } from '../../lib/cloud/aws/settings.ts';
import { handleIam } from '../helpers/aws-mock/iam.ts';
import { handleRoute53, seedHostedZone } from '../helpers/aws-mock/route53.ts';
import { handleS3, s3State, seedForeignBucket } from '../helpers/aws-mock/s3.ts';
import { startAwsMock, type AwsMock } from '../helpers/aws-mock/server.ts';
import { expireCredentials, handleSts } from '../helpers/aws-mock/sts.ts';

async function withMock(t: Test, region = 'eu-west-1'): Promise<{ mock: AwsMock; c: AwsClients }> {
  const mock = await startAwsMock({ s3: handleS3, iam: handleIam, sts: handleSts, route53: handleRoute53 });
  const c = awsClients({ region, endpoint: mock.endpoint } as AwsSettings, mock.credentials);
  t.teardown(async () => {
    closeClients(c);
    await mock.close();
  });
  return { mock, c };
}

t.test('S3: a bucket, its settings, its objects', async (t) => {
  const { mock, c } = await withMock(t);
  await t.rejects(c.s3.send(new HeadBucketCommand({ Bucket: 'b-store' })), { name: 'NotFound' }, 'a missing bucket is NotFound on HEAD');
  await t.rejects(c.s3.send(new CreateBucketCommand({ Bucket: 'b-store', CreateBucketConfiguration: { LocationConstraint: 'us-west-2' } })), { name: 'IllegalLocationConstraintException' }, 'a regional endpoint makes buckets in its region only');
  await c.s3.send(new CreateBucketCommand({ Bucket: 'b-store', CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } }));
  await t.rejects(c.s3.send(new CreateBucketCommand({ Bucket: 'b-store', CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } })), BucketAlreadyOwnedByYou);
  t.equal((await c.s3.send(new HeadBucketCommand({ Bucket: 'b-store' }))).BucketRegion, 'eu-west-1');
  t.equal((await c.s3.send(new GetBucketLocationCommand({ Bucket: 'b-store' }))).LocationConstraint, 'eu-west-1');
  t.same((await c.s3.send(new GetBucketEncryptionCommand({ Bucket: 'b-store' }))).ServerSideEncryptionConfiguration?.Rules?.[0]?.ApplyServerSideEncryptionByDefault, { SSEAlgorithm: 'AES256' }, 'new buckets are SSE-S3 encrypted');
  await t.rejects(c.s3.send(new GetBucketTaggingCommand({ Bucket: 'b-store' })), { name: 'NoSuchTagSet' });
  await t.rejects(c.s3.send(new GetPublicAccessBlockCommand({ Bucket: 'b-store' })), { name: 'NoSuchPublicAccessBlockConfiguration' });
  await t.rejects(c.s3.send(new GetBucketPolicyCommand({ Bucket: 'b-store' })), { name: 'NoSuchBucketPolicy' });

  await c.s3.send(new PutBucketTaggingCommand({ Bucket: 'b-store', Tagging: { TagSet: [{ Key: 'Project', Value: 'p' }, { Key: 'Name', Value: 'a&b' }] } }));
  t.same((await c.s3.send(new GetBucketTaggingCommand({ Bucket: 'b-store' }))).TagSet, [{ Key: 'Project', Value: 'p' }, { Key: 'Name', Value: 'a&b' }]);
  const block = { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: false };
  await c.s3.send(new PutPublicAccessBlockCommand({ Bucket: 'b-store', PublicAccessBlockConfiguration: block }));
  t.same((await c.s3.send(new GetPublicAccessBlockCommand({ Bucket: 'b-store' }))).PublicAccessBlockConfiguration, block);
  await c.s3.send(new PutBucketEncryptionCommand({ Bucket: 'b-store', ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms' } }] } }));
  t.equal(s3State(mock).buckets.get('b-store')?.encryption, 'aws:kms');
  const policy = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::1:user/u' }, Action: 's3:GetObject', Resource: 'arn:aws:s3:::b-store/*' }] });
  await t.rejects(c.s3.send(new PutBucketPolicyCommand({ Bucket: 'b-store', Policy: 'not json' })), { name: 'MalformedPolicy' });
  await c.s3.send(new PutBucketPolicyCommand({ Bucket: 'b-store', Policy: policy }));
  t.equal((await c.s3.send(new GetBucketPolicyCommand({ Bucket: 'b-store' }))).Policy, policy);
  await c.s3.send(new DeleteBucketPolicyCommand({ Bucket: 'b-store' }));
  await t.rejects(c.s3.send(new GetBucketPolicyCommand({ Bucket: 'b-store' })), { name: 'NoSuchBucketPolicy' });

  for (const key of ['a/1', 'a/2', 'b & c', 'z']) await c.s3.send(new PutObjectCommand({ Bucket: 'b-store', Key: key, Body: `content of ${key}` }));
  t.equal(s3State(mock).buckets.get('b-store')?.objects.get('b & c')?.body.toString(), 'content of b & c', 'objects keep their key and body');
  const first = await c.s3.send(new ListObjectsV2Command({ Bucket: 'b-store', MaxKeys: 3 }));
  t.same(first.Contents?.map((o) => o.Key), ['a/1', 'a/2', 'b & c']);
  t.equal(first.IsTruncated, true);
  const second = await c.s3.send(new ListObjectsV2Command({ Bucket: 'b-store', MaxKeys: 3, ContinuationToken: first.NextContinuationToken }));
  t.same(second.Contents?.map((o) => [o.Key, o.Size]), [['z', 'content of z'.length]]);
  t.equal(second.IsTruncated, false);
  t.same((await c.s3.send(new ListObjectsV2Command({ Bucket: 'b-store', Prefix: 'a/' }))).KeyCount, 2);

  await t.rejects(c.s3.send(new DeleteBucketCommand({ Bucket: 'b-store' })), { name: 'BucketNotEmpty' });
  const deleted = await c.s3.send(new DeleteObjectsCommand({ Bucket: 'b-store', Delete: { Objects: [{ Key: 'a/1' }, { Key: 'a/2' }, { Key: 'b & c' }, { Key: 'z' }] } }));
  t.same(deleted.Deleted?.map((d) => d.Key), ['a/1', 'a/2', 'b & c', 'z']);
  await c.s3.send(new DeleteBucketCommand({ Bucket: 'b-store' }));
  await t.rejects(c.s3.send(new GetBucketLocationCommand({ Bucket: 'b-store' })), NoSuchBucket);
  t.ok(mock.calls.some((call) => /^DELETE \/b-store\/?(\?|$)/.test(call.action) && call.status === 204), 'calls are recorded by method and path');
});

t.test('S3: a name another account owns', async (t) => {
  const { mock, c } = await withMock(t);
  seedForeignBucket(mock, 'taken');
  await t.rejects(c.s3.send(new CreateBucketCommand({ Bucket: 'taken', CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } })), BucketAlreadyExists);
  const head = await c.s3.send(new HeadBucketCommand({ Bucket: 'taken' })).catch((err: { $metadata?: { httpStatusCode?: number } }) => err);
  t.equal('$metadata' in head ? head.$metadata?.httpStatusCode : undefined, 403, 'HEAD on it is forbidden');
  await t.rejects(c.s3.send(new GetBucketPolicyCommand({ Bucket: 'taken' })), { name: 'AccessDenied' });
});

t.test('IAM: a user, its tags, inline policies and access keys', async (t) => {
  const { mock, c } = await withMock(t);
  await t.rejects(c.iam.send(new GetUserCommand({ UserName: 'u' })), NoSuchEntityException);
  const created = await c.iam.send(new CreateUserCommand({ UserName: 'u', Tags: [{ Key: 'Project', Value: 'p' }] }));
  t.equal(created.User?.Arn, `arn:aws:iam::${mock.accountId}:user/u`);
  t.match(created.User?.UserId, /^AIDA/);
  t.type(created.User?.CreateDate, Date);
  await t.rejects(c.iam.send(new CreateUserCommand({ UserName: 'u' })), EntityAlreadyExistsException);
  await c.iam.send(new TagUserCommand({ UserName: 'u', Tags: [{ Key: 'Name', Value: 'u' }, { Key: 'Project', Value: 'q' }] }));
  t.same((await c.iam.send(new ListUserTagsCommand({ UserName: 'u' }))).Tags, [{ Key: 'Project', Value: 'q' }, { Key: 'Name', Value: 'u' }], 'TagUser adds and overwrites');
  t.same((await c.iam.send(new GetUserCommand({ UserName: 'u' }))).User?.Tags?.length, 2);

  const document = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['s3:GetObject'], Resource: 'arn:aws:s3:::b/*' }] });
  await t.rejects(c.iam.send(new PutUserPolicyCommand({ UserName: 'u', PolicyName: 'p1', PolicyDocument: '{' })), { name: 'MalformedPolicyDocumentException' });
  await c.iam.send(new PutUserPolicyCommand({ UserName: 'u', PolicyName: 'p1', PolicyDocument: document }));
  t.same((await c.iam.send(new ListUserPoliciesCommand({ UserName: 'u' }))).PolicyNames, ['p1']);
  const got = await c.iam.send(new GetUserPolicyCommand({ UserName: 'u', PolicyName: 'p1' }));
  t.equal(got.PolicyDocument, encodeURIComponent(document), 'the document comes back URL-encoded, as from AWS');
  await t.rejects(c.iam.send(new GetUserPolicyCommand({ UserName: 'u', PolicyName: 'nope' })), NoSuchEntityException);

  const k1 = await c.iam.send(new CreateAccessKeyCommand({ UserName: 'u' }));
  t.match(k1.AccessKey, { UserName: 'u', Status: 'Active', AccessKeyId: /^AKIA/, SecretAccessKey: /.{30,}/ });
  await c.iam.send(new CreateAccessKeyCommand({ UserName: 'u' }));
  // The SDK retries LimitExceeded as throttling: one attempt is enough to see it.
  const once = new IAMClient({ region: 'eu-west-1', endpoint: mock.endpoint, credentials: mock.credentials, maxAttempts: 1 });
  t.teardown(() => once.destroy());
  await t.rejects(once.send(new CreateAccessKeyCommand({ UserName: 'u' })), LimitExceededException, 'two keys per user at most');
  const keys = (await c.iam.send(new ListAccessKeysCommand({ UserName: 'u' }))).AccessKeyMetadata ?? [];
  t.equal(keys.length, 2);
  t.notOk(JSON.stringify(keys).includes(k1.AccessKey!.SecretAccessKey!), 'listing never shows a secret');

  await t.rejects(c.iam.send(new DeleteUserCommand({ UserName: 'u' })), DeleteConflictException, 'keys must go first');
  for (const k of keys) await c.iam.send(new DeleteAccessKeyCommand({ UserName: 'u', AccessKeyId: k.AccessKeyId }));
  await t.rejects(c.iam.send(new DeleteAccessKeyCommand({ UserName: 'u', AccessKeyId: keys[0]!.AccessKeyId })), NoSuchEntityException);
  await t.rejects(c.iam.send(new DeleteUserCommand({ UserName: 'u' })), DeleteConflictException, 'then the policies');
  await c.iam.send(new DeleteUserPolicyCommand({ UserName: 'u', PolicyName: 'p1' }));
  await c.iam.send(new DeleteUserCommand({ UserName: 'u' }));
  await t.rejects(c.iam.send(new ListAccessKeysCommand({ UserName: 'u' })), NoSuchEntityException);
});

t.test('STS: the caller, and an expired session', async (t) => {
  const { mock, c } = await withMock(t);
  const me = await c.sts.send(new GetCallerIdentityCommand({}));
  t.equal(me.Account, mock.accountId);
  t.match(me.Arn, /^arn:aws:iam::\d{12}:user\//);
  expireCredentials(mock);
  await t.rejects(c.sts.send(new GetCallerIdentityCommand({})), { name: 'ExpiredToken' });
});

t.test('Route53: zones, record changes with their validation, change status', async (t) => {
  const { mock, c } = await withMock(t);
  const zoneId = seedHostedZone(mock, 'example.com');
  seedHostedZone(mock, 'other.org');
  const byName = await c.route53.send(new ListHostedZonesByNameCommand({ DNSName: 'example.com' }));
  t.same(byName.HostedZones?.map((z) => [z.Id, z.Name, z.Config?.PrivateZone]), [[`/hostedzone/${zoneId}`, 'example.com.', false], [byName.HostedZones?.[1]?.Id, 'other.org.', false]], 'listed by name from the one asked');
  t.equal((await c.route53.send(new GetHostedZoneCommand({ Id: zoneId }))).DelegationSet?.NameServers?.length, 2);
  await t.rejects(c.route53.send(new GetHostedZoneCommand({ Id: 'ZNOPE' })), NoSuchHostedZone);

  const a = (action: Change['Action'], name: string, value: string, ttl = 300): Change => ({ Action: action, ResourceRecordSet: { Name: name, Type: 'A', TTL: ttl, ResourceRecords: [{ Value: value }] } });
  const change = (...changes: Change[]) => c.route53.send(new ChangeResourceRecordSetsCommand({ HostedZoneId: `/hostedzone/${zoneId}`, ChangeBatch: { Changes: changes } }));
  const made = await change(a('CREATE', 'registry.example.com', '203.0.113.5'));
  t.equal(made.ChangeInfo?.Status, 'PENDING');
  const changeId = made.ChangeInfo!.Id!;
  t.equal((await c.route53.send(new GetChangeCommand({ Id: changeId }))).ChangeInfo?.Status, 'PENDING', 'still pending at the first poll');
  t.equal((await c.route53.send(new GetChangeCommand({ Id: changeId }))).ChangeInfo?.Status, 'INSYNC');

  await t.rejects(change(a('CREATE', 'registry.example.com', '203.0.113.6')), { name: 'InvalidChangeBatch', message: /Tried to create resource record set \[name='registry\.example\.com\.', type='A'\] but it already exists/ });
  await t.rejects(change(a('DELETE', 'registry.example.com', '203.0.113.9')), { name: 'InvalidChangeBatch', message: /values provided do not match/ });
  await t.rejects(change(a('DELETE', 'nope.example.com', '203.0.113.9')), { name: 'InvalidChangeBatch', message: /but it was not found/ });
  await t.rejects(change(a('UPSERT', 'registry.other.org', '203.0.113.9')), { name: 'InvalidChangeBatch', message: /not permitted in zone example\.com\./ });
  await t.rejects(change(a('UPSERT', 'www.example.com', '1.2.3')), { name: 'InvalidChangeBatch', message: /not a valid IPv4 address/ });
  await t.rejects(change(a('UPSERT', 'www.example.com', '203.0.113.1'), a('CREATE', 'registry.example.com', '203.0.113.1')), InvalidChangeBatch, 'a batch with one bad change');
  await t.rejects(change({ Action: 'UPSERT', ResourceRecordSet: { Name: 'x.example.com', Type: 'A' } }), { name: 'InvalidInput' });

  await change(a('UPSERT', 'registry.example.com', '203.0.113.7', 60));
  const listed = await c.route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId, StartRecordName: 'registry.example.com', StartRecordType: 'A', MaxItems: 1 }));
  t.same(listed.ResourceRecordSets, [{ Name: 'registry.example.com.', Type: 'A', TTL: 60, ResourceRecords: [{ Value: '203.0.113.7' }] }], 'UPSERT replaced the record; the failed batch left www out');
  const all = await c.route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId }));
  t.same(all.ResourceRecordSets?.map((r) => `${r.Name} ${r.Type}`), ['example.com. NS', 'example.com. SOA', 'registry.example.com. A']);
  await change(a('DELETE', 'registry.example.com', '203.0.113.7', 60));
  t.equal((await c.route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId }))).ResourceRecordSets?.length, 2);
  await t.rejects(c.route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: 'ZNOPE' })), NoSuchHostedZone);
});
