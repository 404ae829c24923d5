// The S3 mock's objects, listings, copies and multipart uploads, and IAM-issued keys signing
// requests whose S3 calls are held to the user's inline policies and the bucket policy, through
// the real SDK (and a presigned URL made by the SDK's own signer).
import { createHash } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketLocationCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutBucketPolicyCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { SignatureV4 } from '@smithy/signature-v4';
import t from 'tap';
import { handleIam, iamState, policyDecision } from '../helpers/aws-mock/iam.ts';
import { handleS3, s3State } from '../helpers/aws-mock/s3.ts';
import { Sha256, startAwsMock } from '../helpers/aws-mock/server.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const mock = await startAwsMock({ s3: handleS3, iam: handleIam });
t.teardown(() => mock.close());
const region = 'eu-west-1';
const clientFor = (credentials: { accessKeyId: string; secretAccessKey: string }) =>
  new S3Client({ region, endpoint: mock.endpoint, forcePathStyle: true, credentials, maxAttempts: 1 });
const s3 = clientFor(mock.credentials);
const iam = new IAMClient({ region, endpoint: mock.endpoint, credentials: mock.credentials, maxAttempts: 1 });
t.teardown(() => {
  s3.destroy();
  iam.destroy();
});

const Bucket = 'objects-bucket';
await s3.send(new CreateBucketCommand({ Bucket, CreateBucketConfiguration: { LocationConstraint: region } }));
const MiB = 1024 * 1024;
const denied = { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } };
const text = async (o: { Body?: { transformToString(): Promise<string> } }) => (await o.Body?.transformToString()) ?? '';

t.test('objects: put, get with ranges, head, delete', async (t) => {
  const put = await s3.send(new PutObjectCommand({ Bucket, Key: 'a/b.txt', Body: '0123456789' }));
  t.equal(put.ETag, `"${createHash('md5').update('0123456789').digest('hex')}"`);
  t.equal(await text(await s3.send(new GetObjectCommand({ Bucket, Key: 'a/b.txt' }))), '0123456789');
  const part = await s3.send(new GetObjectCommand({ Bucket, Key: 'a/b.txt', Range: 'bytes=2-4' }));
  t.equal(await text(part), '234');
  t.equal(part.ContentRange, 'bytes 2-4/10');
  t.equal(await text(await s3.send(new GetObjectCommand({ Bucket, Key: 'a/b.txt', Range: 'bytes=7-' }))), '789');
  t.equal(await text(await s3.send(new GetObjectCommand({ Bucket, Key: 'a/b.txt', Range: 'bytes=-2' }))), '89');
  await t.rejects(s3.send(new GetObjectCommand({ Bucket, Key: 'a/b.txt', Range: 'bytes=10-' })), { name: 'InvalidRange', $metadata: { httpStatusCode: 416 } });
  t.match(await s3.send(new HeadObjectCommand({ Bucket, Key: 'a/b.txt' })), { ContentLength: 10, ETag: put.ETag });
  await t.rejects(s3.send(new HeadObjectCommand({ Bucket, Key: 'nope' })), { name: 'NotFound' });
  await t.rejects(s3.send(new GetObjectCommand({ Bucket, Key: 'nope' })), { name: 'NoSuchKey' });
  await s3.send(new DeleteObjectCommand({ Bucket, Key: 'a/b.txt' }));
  await s3.send(new DeleteObjectCommand({ Bucket, Key: 'a/b.txt' }));
  t.equal(s3State(mock).buckets.get(Bucket)!.objects.has('a/b.txt'), false, 'gone; deleting again is no error');
});

t.test('copy: CopyObject and UploadPartCopy with a byte range', async (t) => {
  await s3.send(new PutObjectCommand({ Bucket, Key: 'src/x', Body: 'copy me please' }));
  const copied = await s3.send(new CopyObjectCommand({ Bucket, Key: 'dst/x', CopySource: `${Bucket}/src/x` }));
  t.ok(copied.CopyObjectResult?.ETag);
  t.equal(await text(await s3.send(new GetObjectCommand({ Bucket, Key: 'dst/x' }))), 'copy me please');
  await t.rejects(s3.send(new CopyObjectCommand({ Bucket, Key: 'dst/y', CopySource: `${Bucket}/src/none` })), { name: 'NoSuchKey' });
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key: 'dst/part' }));
  const p = await s3.send(new UploadPartCopyCommand({ Bucket, Key: 'dst/part', UploadId, PartNumber: 1, CopySource: `${Bucket}/src/x`, CopySourceRange: 'bytes=5-6' }));
  await s3.send(new CompleteMultipartUploadCommand({ Bucket, Key: 'dst/part', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p.CopyPartResult!.ETag! }] } }));
  t.equal(await text(await s3.send(new GetObjectCommand({ Bucket, Key: 'dst/part' }))), 'me');
});

t.test('multipart: parts listed, small middle parts refused, completion concatenates, abort forgets', async (t) => {
  const Key = 'big/data';
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key }));
  const one = Buffer.alloc(5 * MiB, 'a');
  const e1 = (await s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 1, Body: one }))).ETag!;
  const e2 = (await s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 2, Body: 'tail' }))).ETag!;
  const e3 = (await s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 3, Body: 'more' }))).ETag!;
  const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket, Prefix: 'big/' }));
  t.strictSame(uploads.Uploads?.map((u) => [u.Key, u.UploadId]), [[Key, UploadId]]);
  const parts = await s3.send(new ListPartsCommand({ Bucket, Key, UploadId }));
  t.strictSame(parts.Parts?.map((p) => [p.PartNumber, p.Size]), [[1, 5 * MiB], [2, 4], [3, 4]]);
  const complete = (Parts: { PartNumber: number; ETag: string }[]) => s3.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts } }));
  await t.rejects(complete([{ PartNumber: 1, ETag: e1 }, { PartNumber: 2, ETag: e2 }, { PartNumber: 3, ETag: e3 }]), { name: 'EntityTooSmall' }, 'a part before the last under 5 MiB');
  await t.rejects(complete([{ PartNumber: 2, ETag: e2 }, { PartNumber: 1, ETag: e1 }]), { name: 'InvalidPartOrder' });
  await t.rejects(complete([{ PartNumber: 1, ETag: e2 }]), { name: 'InvalidPart' });
  const done = await complete([{ PartNumber: 1, ETag: e1 }, { PartNumber: 2, ETag: e2 }]);
  t.match(done.ETag, /^"[0-9a-f]{32}-2"$/, "a multipart object's ETag");
  const got = await s3.send(new GetObjectCommand({ Bucket, Key, Range: `bytes=${5 * MiB - 1}-` }));
  t.equal(await text(got), 'atail');
  t.equal(s3State(mock).buckets.get(Bucket)!.uploads?.size, 0);
  const again = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key: 'big/aborted' }));
  await s3.send(new AbortMultipartUploadCommand({ Bucket, Key: 'big/aborted', UploadId: again.UploadId }));
  await t.rejects(s3.send(new ListPartsCommand({ Bucket, Key: 'big/aborted', UploadId: again.UploadId })), { name: 'NoSuchUpload' });
});

t.test('listings: v2 and v1, prefix, delimiter, pages', async (t) => {
  const L = 'list-bucket';
  await s3.send(new CreateBucketCommand({ Bucket: L, CreateBucketConfiguration: { LocationConstraint: region } }));
  for (const Key of ['r/a/1', 'r/a/2', 'r/b/1', 'r/c', 'r/d', 's/x']) await s3.send(new PutObjectCommand({ Bucket: L, Key, Body: Key }));
  const top = await s3.send(new ListObjectsV2Command({ Bucket: L, Prefix: 'r/', Delimiter: '/' }));
  t.strictSame(top.CommonPrefixes?.map((p) => p.Prefix), ['r/a/', 'r/b/']);
  t.strictSame(top.Contents?.map((o) => o.Key), ['r/c', 'r/d']);
  t.equal(top.KeyCount, 4);
  // Pages of two: a common prefix counts once, and the next page starts after everything under it.
  const seen: string[] = [];
  let ContinuationToken: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: L, Prefix: 'r/', Delimiter: '/', MaxKeys: 2, ...(ContinuationToken ? { ContinuationToken } : {}) }));
    seen.push(...(page.CommonPrefixes ?? []).map((p) => p.Prefix!), ...(page.Contents ?? []).map((o) => o.Key!));
    ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (ContinuationToken);
  t.strictSame(seen.sort(), ['r/a/', 'r/b/', 'r/c', 'r/d']);
  const v1 = await s3.send(new ListObjectsCommand({ Bucket: L, Prefix: 'r/', MaxKeys: 3 }));
  t.strictSame(v1.Contents?.map((o) => o.Key), ['r/a/1', 'r/a/2', 'r/b/1']);
  t.equal(v1.IsTruncated, true);
  const rest = await s3.send(new ListObjectsCommand({ Bucket: L, Prefix: 'r/', Marker: 'r/b/1' }));
  t.strictSame(rest.Contents?.map((o) => o.Key), ['r/c', 'r/d']);
  const v1dirs = await s3.send(new ListObjectsCommand({ Bucket: L, Delimiter: '/' }));
  t.strictSame(v1dirs.CommonPrefixes?.map((p) => p.Prefix), ['r/', 's/']);
});

t.test('policy documents: Allow, Deny, action and resource wildcards, NotAction, principals', async (t) => {
  const doc = (...Statement: object[]) => JSON.stringify({ Version: '2012-10-17', Statement });
  const objects = doc({ Effect: 'Allow', Action: 's3:Get*', Resource: 'arn:aws:s3:::b/*' });
  t.equal(policyDecision(objects, 's3:GetObject', 'arn:aws:s3:::b/k'), 'allow');
  t.equal(policyDecision(objects, 'S3:GETOBJECT', 'arn:aws:s3:::b/k'), 'allow', 'actions compare without case');
  t.equal(policyDecision(objects, 's3:PutObject', 'arn:aws:s3:::b/k'), undefined);
  t.equal(policyDecision(objects, 's3:GetObject', 'arn:aws:s3:::bb/k'), undefined, 'resources compare exactly, up to *');
  t.equal(policyDecision(objects, 's3:GetBucketLocation', 'arn:aws:s3:::b'), undefined, 'b/* is not the bucket');
  const all = doc({ Effect: 'Allow', Action: ['s3:*'], Resource: ['arn:aws:s3:::*'] }, { Effect: 'Deny', Action: 's3:DeleteBucket', Resource: '*' });
  t.equal(policyDecision(all, 's3:PutObject', 'arn:aws:s3:::any/k'), 'allow');
  t.equal(policyDecision(all, 's3:DeleteBucket', 'arn:aws:s3:::any'), 'deny', 'an explicit Deny wins');
  t.equal(policyDecision(doc({ Effect: 'Allow', NotAction: 's3:Delete*', Resource: '*' }), 's3:DeleteObject', 'arn:aws:s3:::b/k'), undefined);
  t.equal(policyDecision(doc({ Effect: 'Allow', Action: 's3:*', Resource: '*', Condition: { Bool: { 'aws:SecureTransport': 'true' } } }), 's3:GetObject', 'arn:aws:s3:::b/k'), undefined, 'conditions are not met by the mock');
  const bucketPolicy = doc({ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::123456789012:user/u1' }, Action: 's3:GetObject', Resource: 'arn:aws:s3:::b/*' });
  t.equal(policyDecision(bucketPolicy, 's3:GetObject', 'arn:aws:s3:::b/k', 'arn:aws:iam::123456789012:user/u1'), 'allow');
  t.equal(policyDecision(bucketPolicy, 's3:GetObject', 'arn:aws:s3:::b/k', 'arn:aws:iam::123456789012:user/u2'), undefined, 'another principal');
});

t.test("an IAM user's key signs requests; S3 holds it to its inline policy and the bucket policy", async (t) => {
  await iam.send(new CreateUserCommand({ UserName: 'reader' }));
  await iam.send(
    new PutUserPolicyCommand({
      UserName: 'reader',
      PolicyName: 'read',
      PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['s3:GetObject', 's3:ListBucket'], Resource: [`arn:aws:s3:::${Bucket}`, `arn:aws:s3:::${Bucket}/ro/*`] }] }),
    }),
  );
  const key = (await iam.send(new CreateAccessKeyCommand({ UserName: 'reader' }))).AccessKey!;
  const reader = clientFor({ accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! });
  t.teardown(() => reader.destroy());
  await s3.send(new PutObjectCommand({ Bucket, Key: 'ro/doc', Body: 'readable' }));
  await s3.send(new PutObjectCommand({ Bucket, Key: 'rw/doc', Body: 'writable' }));
  t.equal(await text(await reader.send(new GetObjectCommand({ Bucket, Key: 'ro/doc' }))), 'readable');
  t.equal(await text(await reader.send(new GetObjectCommand({ Bucket, Key: 'ro/doc', Range: 'bytes=0-3' }))), 'read', 'a ranged GET is GetObject too');
  t.ok((await reader.send(new HeadObjectCommand({ Bucket, Key: 'ro/doc' }))).ContentLength, 'HEAD is GetObject');
  t.ok((await reader.send(new ListObjectsV2Command({ Bucket }))).KeyCount);
  await t.rejects(reader.send(new GetObjectCommand({ Bucket, Key: 'rw/doc' })), denied, 'outside the resource');
  await t.rejects(reader.send(new HeadObjectCommand({ Bucket, Key: 'rw/doc' })), { name: 'Unknown', $metadata: { httpStatusCode: 403 } }, 'HEAD too (a bare 403, which the SDK cannot name)');
  await t.rejects(reader.send(new PutObjectCommand({ Bucket, Key: 'ro/new', Body: 'x' })), denied, 'PutObject not granted');
  await t.rejects(reader.send(new CreateMultipartUploadCommand({ Bucket, Key: 'ro/new' })), denied, 'multipart create is PutObject');
  await t.rejects(reader.send(new CopyObjectCommand({ Bucket, Key: 'ro/copy', CopySource: `${Bucket}/ro/doc` })), denied, 'copy needs PutObject on the target');
  await t.rejects(reader.send(new DeleteObjectCommand({ Bucket, Key: 'ro/doc' })), denied);
  await t.rejects(reader.send(new GetBucketLocationCommand({ Bucket })), denied);
  await t.rejects(reader.send(new ListMultipartUploadsCommand({ Bucket })), denied);
  await t.rejects(reader.send(new DeleteBucketCommand({ Bucket })), denied);
  const batch = await reader.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects: [{ Key: 'ro/doc' }] } }));
  t.match(batch.Errors, [{ Key: 'ro/doc', Code: 'AccessDenied' }], 'DeleteObjects refuses key by key');
  t.ok(s3State(mock).buckets.get(Bucket)!.objects.has('ro/doc'));

  // The bucket policy can grant what the user's own policy does not; a Deny there wins over both.
  const grant = (Effect: string, Action: string, Resource: string) => ({ Effect, Principal: { AWS: iamState(mock).users.get('reader')!.arn }, Action, Resource });
  await s3.send(new PutBucketPolicyCommand({ Bucket, Policy: JSON.stringify({ Version: '2012-10-17', Statement: [grant('Allow', 's3:PutObject', `arn:aws:s3:::${Bucket}/rw/*`), grant('Deny', 's3:GetObject', `arn:aws:s3:::${Bucket}/ro/secret`)] }) }));
  await reader.send(new PutObjectCommand({ Bucket, Key: 'rw/new', Body: 'by the bucket policy' }));
  await s3.send(new PutObjectCommand({ Bucket, Key: 'ro/secret', Body: 's' }));
  await t.rejects(reader.send(new GetObjectCommand({ Bucket, Key: 'ro/secret' })), denied, 'an explicit Deny in the bucket policy');
  const copy = await reader.send(new CopyObjectCommand({ Bucket, Key: 'rw/copy', CopySource: `${Bucket}/ro/doc` }));
  t.ok(copy.CopyObjectResult?.ETag, 'copy: GetObject on the source, PutObject on the target');
  await t.rejects(reader.send(new CopyObjectCommand({ Bucket, Key: 'rw/copy2', CopySource: `${Bucket}/rw/doc` })), denied, 'not without GetObject on the source');

  const root = await s3.send(new GetObjectCommand({ Bucket, Key: 'ro/secret' }));
  t.equal(await text(root), 's', 'the root credentials may do anything');
  iamState(mock).users.get('reader')!.keys[0]!.status = 'Inactive';
  await t.rejects(reader.send(new GetObjectCommand({ Bucket, Key: 'ro/doc' })), { name: 'SignatureDoesNotMatch', $metadata: { httpStatusCode: 403 } }, 'an inactive key signs nothing');
});

t.test('presigned URLs: the SDK signer\'s query signature is verified, the payload unsigned', async (t) => {
  await s3.send(new PutObjectCommand({ Bucket, Key: 'pre/signed', Body: 'fetched by URL' }));
  const url = new URL(`${mock.endpoint}/${Bucket}/pre/signed`);
  const signer = new SignatureV4({ credentials: mock.credentials, region, service: 's3', sha256: Sha256, uriEscapePath: false });
  const presigned = await signer.presign(
    { method: 'GET', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: url.pathname, query: {}, headers: { host: url.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } },
    { expiresIn: 300 },
  );
  const query = new URLSearchParams(presigned.query as Record<string, string>).toString();
  const ok = await fetch(`${url}?${query}`);
  t.equal(ok.status, 200);
  t.equal(await ok.text(), 'fetched by URL');
  const forged = await fetch(`${url}?${query.replace(/X-Amz-Signature=[0-9a-f]/, (m) => m.slice(0, -1) + (m.endsWith('0') ? '1' : '0'))}`);
  t.equal(forged.status, 403, 'a changed signature is refused');
  const other = await fetch(`${mock.endpoint}/${Bucket}/pre/other?${query}`);
  t.equal(other.status, 403, 'the signature names its object');
});

t.test('a signed payload hash must be the body\'s', async (t) => {
  const url = new URL(`${mock.endpoint}/${Bucket}/hashed`);
  const signer = new SignatureV4({ credentials: mock.credentials, region, service: 's3', sha256: Sha256, uriEscapePath: false });
  const send = async (body: string, claimed: string) => {
    const headers = { host: url.host, 'x-amz-content-sha256': claimed };
    const signed = await signer.sign({ method: 'PUT', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: url.pathname, query: {}, headers, body });
    return fetch(url, { method: 'PUT', headers: signed.headers, body });
  };
  const sha = (s: string) => createHash('sha256').update(s).digest('hex');
  t.equal((await send('the body', sha('the body'))).status, 200);
  const swapped = await send('another body', sha('the body'));
  t.equal(swapped.status, 403, 'a body other than the signed one is refused');
  t.match(await swapped.text(), /x-amz-content-sha256 header does not match the body/);
  t.equal((await send('x', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD')).status, 403, 'aws-chunked is refused, not stored as is');
  t.equal(await text(await s3.send(new GetObjectCommand({ Bucket, Key: 'hashed' }))), 'the body');
});
