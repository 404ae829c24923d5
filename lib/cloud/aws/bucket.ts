// The registry's image bucket (the reference's Terraform S3 directory): private, encrypted,
// tagged, with a policy granting the S3 user exactly what the registry's driver needs.
import {
  type BucketLocationConstraint, CreateBucketCommand, DeleteBucketCommand, DeleteObjectsCommand, GetBucketEncryptionCommand, GetBucketLocationCommand,
  GetBucketPolicyCommand, GetBucketTaggingCommand, GetPublicAccessBlockCommand, HeadBucketCommand, ListObjectsV2Command, PutBucketEncryptionCommand,
  PutBucketPolicyCommand, PutBucketTaggingCommand, PutPublicAccessBlockCommand,
} from '@aws-sdk/client-s3';
import { UserError } from '../../errors.ts';
import { awsErrorCode, ifExists } from './errors.ts';
import { tagsFor, type AwsContext, type Ref } from './plan.ts';
import { ENCRYPTION, ours, policyDifference, PUBLIC_ACCESS_BLOCK, registryPolicy, statusOf, tagChange } from './storage-policy.ts';
import { waitFor } from './wait.ts';

const taken = (ctx: AwsContext) => new UserError(`S3 bucket ${ctx.settings.bucket} belongs to another AWS account (bucket names are global): choose another "bucket" in ${ctx.settings.file}`);

/** Whether the bucket exists and is ours; another account's is refused at plan time (names are global). */
async function bucketExists(ctx: AwsContext): Promise<boolean> {
  const { bucket, file, region } = ctx.settings;
  let where: string | undefined;
  try {
    where = (await ctx.clients.s3.send(new HeadBucketCommand({ Bucket: bucket }))).BucketRegion;
  } catch (err) {
    if (statusOf(err) === 404) return false;
    if (statusOf(err) === 403) throw taken(ctx);
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

/** Plans the bucket; returns whether it exists already. */
export async function planBucket(ctx: AwsContext): Promise<boolean> {
  const { bucket, region } = ctx.settings;
  if (!(await bucketExists(ctx))) {
    const fixes = bucketFixes(ctx, false);
    ctx.add({
      action: 'create', kind: 's3 bucket', name: bucket, detail: `in ${region}, public access blocked, encrypted (${ENCRYPTION})`,
      run: async () => {
        try {
          // us-east-1 is the one region that takes no location constraint.
          await ctx.clients.s3.send(new CreateBucketCommand({ Bucket: bucket, ...(region === 'us-east-1' ? {} : { CreateBucketConfiguration: { LocationConstraint: region as BucketLocationConstraint } }) }));
        } catch (err) {
          if (awsErrorCode(err) === 'BucketAlreadyExists') throw taken(ctx);
          throw err;
        }
        for (const fix of await Promise.all(fixes)) await fix?.apply();
      },
    });
    return false;
  }
  const fixes = (await Promise.all(bucketFixes(ctx, true))).filter((f) => f !== undefined);
  if (!fixes.length) ctx.add({ action: 'ok', kind: 's3 bucket', name: bucket });
  else {
    ctx.add({
      action: 'update', kind: 's3 bucket', name: bucket, detail: fixes.map((f) => f.detail).join('; '),
      run: async () => {
        for (const fix of fixes) await fix.apply();
      },
    });
  }
  return true;
}

/** The bucket's policy: the registry's actions granted to the S3 user (whose ARN apply may learn only when it makes the user). */
export async function planBucketPolicy(ctx: AwsContext, bucketExisted: boolean, userArn: Ref): Promise<void> {
  const { bucket, region, s3User } = ctx.settings;
  const s3 = ctx.clients.s3;
  const current = bucketExisted ? (await ifExists(s3.send(new GetBucketPolicyCommand({ Bucket: bucket })), 'NoSuchBucketPolicy'))?.Policy : undefined;
  const detail = !userArn.known ? `grants the new IAM user ${s3User} the registry's S3 actions`
    : current === undefined ? `grants ${s3User} the registry's S3 actions`
    : policyDifference(current, registryPolicy(bucket, region, userArn.id));
  const put = async () => {
    const wanted = registryPolicy(bucket, region, userArn.id);
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
  };
  if (!detail) ctx.add({ action: 'ok', kind: 's3 bucket policy', name: bucket });
  else ctx.add({ action: current === undefined ? 'create' : 'update', kind: 's3 bucket policy', name: bucket, detail, run: put });
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

/** Deletes what is in the bucket, a page (at most 1000, DeleteObjects' limit) at a time. */
async function emptyTheBucket(ctx: AwsContext): Promise<void> {
  for await (const keys of objectKeys(ctx)) {
    if (!keys.length) continue;
    const done = await ctx.clients.s3.send(new DeleteObjectsCommand({ Bucket: ctx.settings.bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true } }));
    const failed = done.Errors?.[0];
    if (failed) throw new UserError(`cannot delete ${failed.Key} from S3 bucket ${ctx.settings.bucket}: ${failed.Code ?? 'error'} (${done.Errors!.length} objects failed)`);
  }
}

/** Plans removing the bucket (with its objects only when emptyBucket, like Terraform's force_destroy). */
export async function planBucketGone(ctx: AwsContext, emptyBucket: boolean): Promise<void> {
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
  const n = await countObjects(ctx);
  if (n && !emptyBucket) throw new UserError(`S3 bucket ${bucket} holds ${n} object${n === 1 ? '' : 's'} (the registry's images): pass --empty-bucket to delete them with it`);
  ctx.add({
    action: 'delete', kind: 's3 bucket', name: bucket, ...(n ? { detail: `with its ${n} object${n === 1 ? '' : 's'}` } : {}),
    run: async () => {
      if (emptyBucket) await emptyTheBucket(ctx);
      try {
        await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
      } catch (err) {
        if (awsErrorCode(err) === 'BucketNotEmpty') throw new UserError(`S3 bucket ${bucket} got new objects while it was being emptied (is the registry still running?): stop it and run again`);
        if (statusOf(err) !== 404) throw err;
      }
    },
  });
}
