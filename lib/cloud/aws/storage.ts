// The registry's image storage (the reference's Terraform S3 directory): a private, encrypted
// bucket, an IAM user allowed exactly what the registry's S3 driver needs on it (both as the
// bucket's policy and as the user's own inline policy), and that user's access key. The key's
// secret exists only at creation: it is returned as a Secret for the vault and never recorded.
import {
  CreateAccessKeyCommand,
  CreateUserCommand,
  DeleteAccessKeyCommand,
  DeleteUserCommand,
  DeleteUserPolicyCommand,
  GetUserCommand,
  GetUserPolicyCommand,
  ListAccessKeysCommand,
  ListUserPoliciesCommand,
  PutUserPolicyCommand,
  TagUserCommand,
  type User,
} from '@aws-sdk/client-iam';
import {
  type BucketLocationConstraint,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  GetBucketEncryptionCommand,
  GetBucketLocationCommand,
  GetBucketPolicyCommand,
  GetBucketTaggingCommand,
  GetPublicAccessBlockCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutBucketEncryptionCommand,
  PutBucketPolicyCommand,
  PutBucketTaggingCommand,
  PutPublicAccessBlockCommand,
} from '@aws-sdk/client-s3';
import { UserError } from '../../errors.ts';
import { Secret } from '../../secret.ts';
import { type AwsContext, KNOWN_AFTER_APPLY, resourceName, tagsFor } from './plan.ts';
import { awsErrorCode, waitFor } from './wait.ts';

export interface Storage {
  bucket: string;
  region: string;
  accessKeyId: string;
  /** Only when a new key was made by this call: the caller stores it in the vault. */
  secretAccessKey?: Secret;
}

type Tag = { Key?: string | undefined; Value?: string | undefined };

/** What the registry's S3 driver needs (distribution's documented policy), and nothing more. */
const BUCKET_ACTIONS = ['s3:ListBucket', 's3:GetBucketLocation', 's3:ListBucketMultipartUploads'];
const OBJECT_ACTIONS = ['s3:AbortMultipartUpload', 's3:DeleteObject', 's3:GetObject', 's3:ListMultipartUploadParts', 's3:PutObject'];
const PUBLIC_ACCESS_BLOCK = { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true };
const ENCRYPTION = 'AES256';

const partition = (region: string) => (region.startsWith('cn-') ? 'aws-cn' : region.startsWith('us-gov-') ? 'aws-us-gov' : 'aws');

/** The registry's grants on the bucket; as a bucket policy when given the user's ARN. */
function registryPolicy(bucket: string, region: string, principalArn?: string): object {
  const arn = `arn:${partition(region)}:s3:::${bucket}`;
  const principal = principalArn ? { Principal: { AWS: principalArn } } : {};
  return {
    Version: '2012-10-17',
    Statement: [
      { Sid: 'RegistryBucket', Effect: 'Allow', ...principal, Action: BUCKET_ACTIONS, Resource: arn },
      { Sid: 'RegistryObjects', Effect: 'Allow', ...principal, Action: OBJECT_ACTIONS, Resource: `${arn}/*` },
    ],
  };
}

const list = (v: unknown): unknown[] => (v === undefined ? [] : ([] as unknown[]).concat(v));

/**
 * A policy as the set of single grants it makes (effect, principal, action, resource, condition),
 * so that two documents compare by meaning: order, grouping, Sids and case of actions aside.
 */
function grants(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let doc: { Statement?: unknown };
  try {
    doc = JSON.parse(text) as { Statement?: unknown };
  } catch {
    out.set('unreadable', 'an unreadable document');
    return out;
  }
  for (const st of list(doc.Statement) as Record<string, unknown>[]) {
    const principal = st.Principal === undefined ? '' : typeof st.Principal === 'string' ? st.Principal : list((st.Principal as { AWS?: unknown }).AWS).map(String).sort().join(',') || JSON.stringify(st.Principal);
    // Anything unusual (NotAction, conditions...) is kept whole, so it differs from ours.
    const extra = Object.keys(st).filter((k) => !['Sid', 'Effect', 'Principal', 'Action', 'Resource'].includes(k)).sort().map((k) => `${k}=${JSON.stringify(st[k])}`).join(' ');
    for (const action of list(st.Action).map(String)) {
      for (const resource of list(st.Resource).map(String)) {
        const shown = `${st.Effect === 'Allow' ? '' : `${String(st.Effect)} `}${action} on ${resource}${principal ? ` to ${principal}` : ''}${extra ? ` (${extra})` : ''}`;
        out.set(`${String(st.Effect)}|${principal}|${action.toLowerCase()}|${resource}|${extra}`, shown);
      }
    }
  }
  return out;
}

/** What a policy grants beyond the wanted one and what it lacks, or undefined when they mean the same. */
function policyDifference(actual: string, wanted: object): string | undefined {
  const have = grants(actual);
  const want = grants(JSON.stringify(wanted));
  const extra = [...have].filter(([k]) => !want.has(k)).map(([, shown]) => shown);
  const missing = [...want].filter(([k]) => !have.has(k)).map(([, shown]) => shown);
  const parts = [...(extra.length ? [`grants ${extra.join(', ')}`] : []), ...(missing.length ? [`lacks ${missing.join(', ')}`] : [])];
  return parts.length ? parts.join('; ') : undefined;
}

/** The wanted tags over the current ones (others are kept), and what that changes. */
function tagChange(current: Tag[], wanted: { Key: string; Value: string }[]): { detail?: string; merged: { Key: string; Value: string }[] } {
  const now = new Map(current.map((t) => [t.Key ?? '', t.Value ?? '']));
  const changed = wanted.filter((t) => now.get(t.Key) !== t.Value).map((t) => `tag ${t.Key}: ${now.get(t.Key) ?? '(none)'} → ${t.Value}`);
  for (const t of wanted) now.set(t.Key, t.Value);
  const merged = [...now].map(([Key, Value]) => ({ Key, Value }));
  return changed.length ? { detail: changed.join(', '), merged } : { merged };
}

/** A call whose "not found" error means absence: undefined then. */
async function ifExists<T>(call: Promise<T>, ...notFound: string[]): Promise<T | undefined> {
  try {
    return await call;
  } catch (err) {
    if (notFound.includes(awsErrorCode(err) ?? '')) return undefined;
    throw err;
  }
}

const statusOf = (err: unknown) => (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;

/** Whether the bucket exists and is ours; another account's is refused (names are global). */
async function bucketExists(ctx: AwsContext): Promise<boolean> {
  const { bucket, file, region } = ctx.settings;
  let where: string | undefined;
  try {
    where = (await ctx.clients.s3.send(new HeadBucketCommand({ Bucket: bucket }))).BucketRegion;
  } catch (err) {
    if (statusOf(err) === 404) return false;
    if (statusOf(err) === 403) throw new UserError(`S3 bucket ${bucket} belongs to another AWS account (bucket names are global): choose another "bucket" in ${file}`);
    if (statusOf(err) === 301) throw new UserError(`S3 bucket ${bucket} exists in another region than ${region}: set "region" in ${file} to its region, or choose another "bucket"`);
    throw err;
  }
  where ??= (await ctx.clients.s3.send(new GetBucketLocationCommand({ Bucket: bucket }))).LocationConstraint || 'us-east-1';
  if (where === 'EU') where = 'eu-west-1';
  if (where !== region) throw new UserError(`S3 bucket ${bucket} is in ${where}, not ${region}: set "region" in ${file} to ${where}, or choose another "bucket"`);
  return true;
}

interface Fix {
  detail: string;
  apply(): Promise<unknown>;
}

/** Each bucket setting: what differs from what we want (reading only when the bucket exists) and how to fix it. */
function bucketFixes(ctx: AwsContext, exists: boolean): Promise<Fix | undefined>[] {
  const s3 = ctx.clients.s3;
  const Bucket = ctx.settings.bucket;
  const read = <T>(call: () => Promise<T>, ...notFound: string[]) => (exists ? ifExists(call(), ...notFound) : Promise.resolve(undefined));
  const tags = read(() => s3.send(new GetBucketTaggingCommand({ Bucket })), 'NoSuchTagSet').then((got): Fix | undefined => {
    const { detail, merged } = tagChange(got?.TagSet ?? [], tagsFor(ctx.settings, Bucket));
    return detail ? { detail, apply: () => s3.send(new PutBucketTaggingCommand({ Bucket, Tagging: { TagSet: merged } })) } : undefined;
  });
  const publicAccess = read(() => s3.send(new GetPublicAccessBlockCommand({ Bucket })), 'NoSuchPublicAccessBlockConfiguration').then((got): Fix | undefined => {
    const open = Object.keys(PUBLIC_ACCESS_BLOCK).filter((k) => got?.PublicAccessBlockConfiguration?.[k as keyof typeof PUBLIC_ACCESS_BLOCK] !== true);
    return open.length ? { detail: `public access not blocked (${open.join(', ')})`, apply: () => s3.send(new PutPublicAccessBlockCommand({ Bucket, PublicAccessBlockConfiguration: PUBLIC_ACCESS_BLOCK })) } : undefined;
  });
  const encryption = read(() => s3.send(new GetBucketEncryptionCommand({ Bucket })), 'ServerSideEncryptionConfigurationNotFoundError').then((got): Fix | undefined => {
    const now = got?.ServerSideEncryptionConfiguration?.Rules?.[0]?.ApplyServerSideEncryptionByDefault?.SSEAlgorithm;
    if (now === ENCRYPTION) return undefined;
    return {
      detail: `default encryption ${now ?? '(none)'} → ${ENCRYPTION}`,
      apply: () => s3.send(new PutBucketEncryptionCommand({ Bucket, ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: ENCRYPTION } }] } })),
    };
  });
  return [tags, publicAccess, encryption];
}

async function ensureBucket(ctx: AwsContext): Promise<boolean> {
  const { bucket, region, file } = ctx.settings;
  const exists = await bucketExists(ctx);
  if (!exists) {
    if (!ctx.dryRun) {
      try {
        // us-east-1 is the one region that takes no location constraint.
        await ctx.clients.s3.send(new CreateBucketCommand({ Bucket: bucket, ...(region === 'us-east-1' ? {} : { CreateBucketConfiguration: { LocationConstraint: region as BucketLocationConstraint } }) }));
      } catch (err) {
        if (awsErrorCode(err) === 'BucketAlreadyExists') throw new UserError(`S3 bucket ${bucket} belongs to another AWS account (bucket names are global): choose another "bucket" in ${file}`);
        throw err;
      }
      for (const fix of await Promise.all(bucketFixes(ctx, false))) await fix?.apply();
    }
    ctx.record({ action: 'create', kind: 's3 bucket', name: bucket, detail: `in ${region}, public access blocked, encrypted (${ENCRYPTION})` });
    return false;
  }
  const fixes = (await Promise.all(bucketFixes(ctx, true))).filter((f) => f !== undefined);
  if (!ctx.dryRun) for (const fix of fixes) await fix.apply();
  ctx.record({ action: fixes.length ? 'update' : 'ok', kind: 's3 bucket', name: bucket, ...(fixes.length ? { detail: fixes.map((f) => f.detail).join('; ') } : {}) });
  return true;
}

/** The S3 user as it is now, or undefined. */
const getUser = (ctx: AwsContext): Promise<User | undefined> =>
  ifExists(ctx.clients.iam.send(new GetUserCommand({ UserName: ctx.settings.s3User })), 'NoSuchEntityException').then((r) => r?.User);

/** The user's ARN, or undefined while planning its creation. */
async function ensureUser(ctx: AwsContext): Promise<string | undefined> {
  const UserName = ctx.settings.s3User;
  const wanted = tagsFor(ctx.settings, UserName);
  const user = await getUser(ctx);
  if (!user) {
    const made = ctx.dryRun ? undefined : (await ctx.clients.iam.send(new CreateUserCommand({ UserName, Tags: wanted }))).User;
    ctx.record({ action: 'create', kind: 'iam user', name: UserName, id: made?.UserId ?? KNOWN_AFTER_APPLY, detail: 'for the registry\'s S3 access only' });
    return made?.Arn;
  }
  const { detail } = tagChange(user.Tags ?? [], wanted);
  if (detail && !ctx.dryRun) await ctx.clients.iam.send(new TagUserCommand({ UserName, Tags: wanted }));
  ctx.record({ action: detail ? 'update' : 'ok', kind: 'iam user', name: UserName, ...(user.UserId ? { id: user.UserId } : {}), ...(detail ? { detail } : {}) });
  return user.Arn;
}

async function ensureBucketPolicy(ctx: AwsContext, bucketExisted: boolean, userArn: string | undefined): Promise<void> {
  const { bucket, region, s3User } = ctx.settings;
  const s3 = ctx.clients.s3;
  const current = bucketExisted ? (await ifExists(s3.send(new GetBucketPolicyCommand({ Bucket: bucket })), 'NoSuchBucketPolicy'))?.Policy : undefined;
  const record = (detail?: string) =>
    ctx.record({ action: current === undefined ? 'create' : detail ? 'update' : 'ok', kind: 's3 bucket policy', name: bucket, ...(detail ? { detail } : {}) });
  if (!userArn) return record(`grants the new IAM user ${s3User} the registry's S3 actions`);
  const wanted = registryPolicy(bucket, region, userArn);
  const detail = current === undefined ? `grants ${s3User} the registry's S3 actions` : policyDifference(current, wanted);
  if (detail && !ctx.dryRun) {
    // A user made seconds ago may not be known to S3 yet: it refuses the principal for a while.
    await waitFor(ctx, `IAM user ${s3User} to be usable in the policy of S3 bucket ${bucket}`, async () => {
      try {
        await s3.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: JSON.stringify(wanted) }));
        return { state: 'set', done: true };
      } catch (err) {
        if (awsErrorCode(err) === 'MalformedPolicy' && /principal/i.test((err as Error).message)) return { state: 'not yet known to S3' };
        throw err;
      }
    });
  }
  record(detail);
}

async function ensureUserPolicy(ctx: AwsContext, userExists: boolean): Promise<void> {
  const { bucket, region, s3User: UserName } = ctx.settings;
  const iam = ctx.clients.iam;
  const PolicyName = resourceName(ctx.settings, 's3-registry');
  const names = userExists ? ((await iam.send(new ListUserPoliciesCommand({ UserName }))).PolicyNames ?? []) : [];
  const got = names.includes(PolicyName) ? await iam.send(new GetUserPolicyCommand({ UserName, PolicyName })) : undefined;
  // IAM hands the document back URL-encoded.
  const current = got?.PolicyDocument === undefined ? undefined : decodeURIComponent(got.PolicyDocument);
  const wanted = registryPolicy(bucket, region);
  const others = names.filter((n) => n !== PolicyName);
  const difference = current === undefined ? undefined : policyDifference(current, wanted);
  const parts = [
    ...(current === undefined ? [`the registry's S3 actions on ${bucket}`] : difference ? [difference] : []),
    ...(others.length ? [`removes other inline policies (least privilege): ${others.join(', ')}`] : []),
  ];
  if (!ctx.dryRun) {
    if (current === undefined || difference) await iam.send(new PutUserPolicyCommand({ UserName, PolicyName, PolicyDocument: JSON.stringify(wanted) }));
    for (const other of others) await iam.send(new DeleteUserPolicyCommand({ UserName, PolicyName: other }));
  }
  ctx.record({ action: current === undefined ? 'create' : parts.length ? 'update' : 'ok', kind: 'iam user policy', name: PolicyName, ...(parts.length ? { detail: parts.join('; ') } : {}) });
}

async function ensureAccessKey(ctx: AwsContext, userExists: boolean, known?: { accessKeyId: string }): Promise<Pick<Storage, 'accessKeyId' | 'secretAccessKey'>> {
  const UserName = ctx.settings.s3User;
  const iam = ctx.clients.iam;
  const keys = userExists ? ((await iam.send(new ListAccessKeysCommand({ UserName }))).AccessKeyMetadata ?? []) : [];
  const same = known ? keys.find((k) => k.AccessKeyId === known.accessKeyId) : undefined;
  if (same?.Status === 'Active') {
    ctx.record({ action: 'ok', kind: 'iam access key', name: UserName, id: known!.accessKeyId });
    return { accessKeyId: known!.accessKeyId };
  }
  const why = !known ? 'none in the vault yet' : same ? `the vault's key ${known.accessKeyId} is inactive` : `the vault's key ${known.accessKeyId} is not one of ${UserName}'s`;
  const old = keys.map((k) => k.AccessKeyId!);
  const detail = `${why}${old.length ? `; deletes the user's other keys (${old.join(', ')}) so the registry uses only the new one` : ''}`;
  if (ctx.dryRun) {
    ctx.record({ action: 'create', kind: 'iam access key', name: UserName, id: KNOWN_AFTER_APPLY, detail });
    return { accessKeyId: KNOWN_AFTER_APPLY };
  }
  // Old keys first: IAM allows two per user.
  for (const AccessKeyId of old) await ifExists(iam.send(new DeleteAccessKeyCommand({ UserName, AccessKeyId })), 'NoSuchEntityException');
  const made = (await iam.send(new CreateAccessKeyCommand({ UserName }))).AccessKey;
  if (!made?.AccessKeyId || !made.SecretAccessKey) throw new Error(`IAM CreateAccessKey for ${UserName} answered without a key`);
  const secretAccessKey = new Secret(made.SecretAccessKey);
  ctx.record({ action: 'create', kind: 'iam access key', name: UserName, id: made.AccessKeyId, detail });
  return { accessKeyId: made.AccessKeyId, secretAccessKey };
}

/**
 * The bucket, the S3 user with its policies, and an access key: the one the vault knows when
 * the user still has it, else a new one (whose secret is returned only this once).
 */
export async function ensureStorage(ctx: AwsContext, known?: { accessKeyId: string }): Promise<Storage> {
  const bucketExisted = await ensureBucket(ctx);
  const userArn = await ensureUser(ctx);
  await ensureBucketPolicy(ctx, bucketExisted, userArn);
  await ensureUserPolicy(ctx, userArn !== undefined);
  const key = await ensureAccessKey(ctx, userArn !== undefined, known);
  return { bucket: ctx.settings.bucket, region: ctx.settings.region, ...key };
}

/** Every key in the bucket, page by page. */
async function* objectKeys(ctx: AwsContext): AsyncGenerator<string[]> {
  let ContinuationToken: string | undefined;
  do {
    const page = await ctx.clients.s3.send(new ListObjectsV2Command({ Bucket: ctx.settings.bucket, ...(ContinuationToken ? { ContinuationToken } : {}) }));
    yield (page.Contents ?? []).map((o) => o.Key!);
    ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (ContinuationToken);
}

async function countObjects(ctx: AwsContext): Promise<number> {
  let n = 0;
  for await (const keys of objectKeys(ctx)) n += keys.length;
  return n;
}

/** Deletes what is in the bucket, a page (at most 1000, DeleteObjects' limit) at a time; returns how many. */
async function emptyTheBucket(ctx: AwsContext): Promise<number> {
  let n = 0;
  for await (const keys of objectKeys(ctx)) {
    if (!keys.length) continue;
    const done = await ctx.clients.s3.send(new DeleteObjectsCommand({ Bucket: ctx.settings.bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true } }));
    const failed = done.Errors?.[0];
    if (failed) throw new UserError(`cannot delete ${failed.Key} from S3 bucket ${ctx.settings.bucket}: ${failed.Code ?? 'error'} (${done.Errors!.length} objects failed)`);
    n += keys.length;
  }
  return n;
}

const ours = (ctx: AwsContext, tags: Tag[] | undefined) => (tags ?? []).some((t) => t.Key === 'Project' && t.Value === ctx.settings.project);

async function destroyBucket(ctx: AwsContext, emptyBucket: boolean): Promise<void> {
  const { bucket, project } = ctx.settings;
  const s3 = ctx.clients.s3;
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch (err) {
    if (statusOf(err) === 404) return;
    if (statusOf(err) === 403) return ctx.say(`S3 bucket ${bucket} belongs to another AWS account: left alone`);
    throw err;
  }
  const tags = (await ifExists(s3.send(new GetBucketTaggingCommand({ Bucket: bucket })), 'NoSuchTagSet'))?.TagSet;
  if (!ours(ctx, tags)) throw new UserError(`S3 bucket ${bucket} is not tagged Project=${project}, so harbormaster did not make it: delete it yourself if it should go`);
  if (!emptyBucket) {
    const n = await countObjects(ctx);
    if (n) throw new UserError(`S3 bucket ${bucket} holds ${n} object${n === 1 ? '' : 's'} (the registry's images): pass --empty-bucket to delete them with it`);
  }
  let deleted = 0;
  if (ctx.dryRun) deleted = emptyBucket ? await countObjects(ctx) : 0;
  else {
    if (emptyBucket) deleted = await emptyTheBucket(ctx);
    try {
      await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
    } catch (err) {
      if (awsErrorCode(err) === 'BucketNotEmpty') throw new UserError(`S3 bucket ${bucket} got new objects while it was being emptied (is the registry still running?): stop it and run again`);
      if (statusOf(err) !== 404) throw err;
    }
  }
  ctx.record({ action: 'delete', kind: 's3 bucket', name: bucket, ...(deleted ? { detail: `with its ${deleted} object${deleted === 1 ? '' : 's'}` } : {}) });
}

async function destroyUser(ctx: AwsContext): Promise<void> {
  const { s3User: UserName, project } = ctx.settings;
  const iam = ctx.clients.iam;
  const user = await getUser(ctx);
  if (!user) return;
  if (!ours(ctx, user.Tags)) throw new UserError(`IAM user ${UserName} is not tagged Project=${project}, so harbormaster did not make it: delete it yourself if it should go`);
  // Planning sends nothing; applying, what went meanwhile is gone all the same.
  const gone = (call: () => Promise<unknown>) => (ctx.dryRun ? undefined : ifExists(call(), 'NoSuchEntityException'));
  for (const key of (await iam.send(new ListAccessKeysCommand({ UserName }))).AccessKeyMetadata ?? []) {
    await gone(() => iam.send(new DeleteAccessKeyCommand({ UserName, AccessKeyId: key.AccessKeyId })));
    ctx.record({ action: 'delete', kind: 'iam access key', name: UserName, id: key.AccessKeyId! });
  }
  for (const PolicyName of (await iam.send(new ListUserPoliciesCommand({ UserName }))).PolicyNames ?? []) {
    await gone(() => iam.send(new DeleteUserPolicyCommand({ UserName, PolicyName })));
    ctx.record({ action: 'delete', kind: 'iam user policy', name: PolicyName });
  }
  try {
    await gone(() => iam.send(new DeleteUserCommand({ UserName })));
  } catch (err) {
    if (awsErrorCode(err) === 'DeleteConflictException') {
      throw new UserError(`IAM user ${UserName} still has something harbormaster did not give it (a managed policy, group, login profile or MFA device): remove that in IAM, then run again`);
    }
    throw err;
  }
  ctx.record({ action: 'delete', kind: 'iam user', name: UserName, ...(user.UserId ? { id: user.UserId } : {}) });
}

/**
 * Removes the bucket (with its objects only when emptyBucket, like Terraform's force_destroy),
 * then the S3 user's keys, policies and the user. What is already gone is skipped.
 */
export async function destroyStorage(ctx: AwsContext, opts: { emptyBucket: boolean }): Promise<void> {
  await destroyBucket(ctx, opts.emptyBucket);
  await destroyUser(ctx);
}
