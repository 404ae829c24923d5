// The IAM user whose access key the registry uses for the bucket: an inline policy with exactly
// the registry's S3 actions and no other, and one access key. The key's secret exists only at
// creation: it goes to the vault at once (onNewKey) and is never recorded.
import {
  CreateAccessKeyCommand, CreateUserCommand, DeleteAccessKeyCommand, DeleteUserCommand, DeleteUserPolicyCommand, GetUserCommand, GetUserPolicyCommand,
  ListAccessKeysCommand, ListUserPoliciesCommand, PutUserPolicyCommand, TagUserCommand, type User,
} from '@aws-sdk/client-iam';
import { UserError } from '../../errors.ts';
import { Secret } from '../../secret.ts';
import { awsErrorCode, ifExists } from './errors.ts';
import { Ref, resourceName, tagsFor, type AwsContext } from './plan.ts';
import { ours, policyDifference, registryPolicy, tagChange } from './storage-policy.ts';

/** Called as soon as a new key exists: AWS shows its secret only once. */
export type OnNewKey = (accessKeyId: string, secretAccessKey: Secret) => Promise<void>;

/** The S3 user as it is now, or undefined. */
const getUser = (ctx: AwsContext): Promise<User | undefined> =>
  ifExists(ctx.clients.iam.send(new GetUserCommand({ UserName: ctx.settings.s3User })), 'NoSuchEntityException').then((r) => r?.User);

/** Plans the user; its ARN (known after apply when it is to be made), and whether it exists. */
export async function planUser(ctx: AwsContext): Promise<{ arn: Ref; exists: boolean }> {
  const UserName = ctx.settings.s3User;
  const wanted = tagsFor(ctx.settings, UserName);
  const user = await getUser(ctx);
  const arn = new Ref(user?.Arn);
  if (!user) {
    ctx.add({
      action: 'create', kind: 'iam user', name: UserName, detail: "for the registry's S3 access only",
      run: async () => {
        const made = (await ctx.clients.iam.send(new CreateUserCommand({ UserName, Tags: wanted }))).User!;
        arn.set(made.Arn!);
        return made.UserId;
      },
    });
    return { arn, exists: false };
  }
  const { detail } = tagChange(user.Tags ?? [], wanted);
  const id = user.UserId ? { id: user.UserId } : {};
  if (!detail) ctx.add({ action: 'ok', kind: 'iam user', name: UserName, ...id });
  else ctx.add({ action: 'update', kind: 'iam user', name: UserName, ...id, detail, run: () => ctx.clients.iam.send(new TagUserCommand({ UserName, Tags: wanted })).then(() => undefined) });
  return { arn, exists: true };
}

export async function planUserPolicy(ctx: AwsContext, userExists: boolean): Promise<void> {
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
  if (!parts.length) return ctx.add({ action: 'ok', kind: 'iam user policy', name: PolicyName });
  ctx.add({
    action: current === undefined ? 'create' : 'update', kind: 'iam user policy', name: PolicyName, detail: parts.join('; '),
    run: async () => {
      if (current === undefined || difference) await iam.send(new PutUserPolicyCommand({ UserName, PolicyName, PolicyDocument: JSON.stringify(wanted) }));
      for (const other of others) await iam.send(new DeleteUserPolicyCommand({ UserName, PolicyName: other }));
    },
  });
}

/** The vault's key when the user still has it active, else a new one (the user's other keys deleted). */
export async function planAccessKey(ctx: AwsContext, userExists: boolean, known: string | undefined, onNewKey: OnNewKey): Promise<void> {
  const UserName = ctx.settings.s3User;
  const iam = ctx.clients.iam;
  const keys = userExists ? ((await iam.send(new ListAccessKeysCommand({ UserName }))).AccessKeyMetadata ?? []) : [];
  const same = known ? keys.find((k) => k.AccessKeyId === known) : undefined;
  if (same?.Status === 'Active') return ctx.add({ action: 'ok', kind: 'iam access key', name: UserName, id: known! });
  const why = !known ? 'none in the vault yet' : same ? `the vault's key ${known} is inactive` : `the vault's key ${known} is not one of ${UserName}'s`;
  const old = keys.map((k) => k.AccessKeyId!);
  ctx.add({
    action: 'create', kind: 'iam access key', name: UserName, detail: `${why}${old.length ? `; deletes the user's other keys (${old.join(', ')}) so the registry uses only the new one` : ''}`,
    run: async () => {
      // Old keys first: IAM allows two per user.
      for (const AccessKeyId of old) await ifExists(iam.send(new DeleteAccessKeyCommand({ UserName, AccessKeyId })), 'NoSuchEntityException');
      const made = (await iam.send(new CreateAccessKeyCommand({ UserName }))).AccessKey;
      if (!made?.AccessKeyId || !made.SecretAccessKey) throw new Error(`IAM CreateAccessKey for ${UserName} answered without a key`);
      await onNewKey(made.AccessKeyId, new Secret(made.SecretAccessKey));
      return made.AccessKeyId;
    },
  });
}

/** Plans removing the user's keys, its inline policies and the user; refuses a user harbormaster did not make. */
export async function planUserGone(ctx: AwsContext): Promise<void> {
  const { s3User: UserName, project } = ctx.settings;
  const iam = ctx.clients.iam;
  const user = await getUser(ctx);
  if (!user) return;
  if (!ours(ctx, user.Tags)) throw new UserError(`IAM user ${UserName} is not tagged Project=${project}, so harbormaster did not make it: delete it yourself if it should go`);
  // What went meanwhile is gone all the same.
  const gone = (call: () => Promise<unknown>) => async () => void (await ifExists(call(), 'NoSuchEntityException'));
  for (const key of (await iam.send(new ListAccessKeysCommand({ UserName }))).AccessKeyMetadata ?? []) {
    ctx.add({ action: 'delete', kind: 'iam access key', name: UserName, id: key.AccessKeyId!, run: gone(() => iam.send(new DeleteAccessKeyCommand({ UserName, AccessKeyId: key.AccessKeyId }))) });
  }
  for (const PolicyName of (await iam.send(new ListUserPoliciesCommand({ UserName }))).PolicyNames ?? []) {
    ctx.add({ action: 'delete', kind: 'iam user policy', name: PolicyName, run: gone(() => iam.send(new DeleteUserPolicyCommand({ UserName, PolicyName }))) });
  }
  ctx.add({
    action: 'delete', kind: 'iam user', name: UserName, ...(user.UserId ? { id: user.UserId } : {}),
    run: async () => {
      try {
        await gone(() => iam.send(new DeleteUserCommand({ UserName })))();
      } catch (err) {
        if (awsErrorCode(err) === 'DeleteConflictException') {
          throw new UserError(`IAM user ${UserName} still has something harbormaster did not give it (a managed policy, group, login profile or MFA device): remove that in IAM, then run again`);
        }
        throw err;
      }
    },
  });
}
