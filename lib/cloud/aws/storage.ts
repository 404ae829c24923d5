// The registry's image storage (the reference's Terraform S3 directory): the bucket, the S3
// user with its policies and access key; on destroy also the registry's data volume.
import { planBucket, planBucketGone, planBucketPolicy } from './bucket.ts';
import { planDataVolumeGone } from './data-volume.ts';
import { planAccessKey, planUser, planUserGone, planUserPolicy, type OnNewKey } from './iam-user.ts';
import type { AwsContext } from './plan.ts';

/** The bucket, the user, the two policies, and a key: the one the vault knows when the user still has it, else a new one. */
export async function planStorage(ctx: AwsContext, knownKeyId: string | undefined, onNewKey: OnNewKey): Promise<void> {
  const bucketExisted = await planBucket(ctx);
  const user = await planUser(ctx);
  await planBucketPolicy(ctx, bucketExisted, user.arn);
  await planUserPolicy(ctx, user.exists);
  await planAccessKey(ctx, user.exists, knownKeyId, onNewKey);
}

/** Everything that holds the registry's data: bucket (objects only with emptyBucket), the data volume, then the user. */
export async function planStorageGone(ctx: AwsContext, opts: { emptyBucket: boolean }): Promise<void> {
  await planBucketGone(ctx, opts.emptyBucket);
  await planDataVolumeGone(ctx);
  await planUserGone(ctx);
}
