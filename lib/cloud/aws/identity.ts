// Who the AWS credentials belong to: the first call of every run, so that missing or rejected
// credentials fail at once with one line saying what to set, before anything is planned.
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { UserError } from '../../errors.ts';
import type { AwsContext } from './plan.ts';
import { AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY } from './vault-keys.ts';
import { awsErrorCode } from './errors.ts';

const WHERE = `set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), or put ${AWS_ACCESS_KEY_ID} and ${AWS_SECRET_ACCESS_KEY} in the vault`;

/** AWS's answers to credentials it does not accept, and what each means. */
const REJECTED: Record<string, string> = {
  InvalidClientTokenId: 'the access key id is not known to AWS',
  UnrecognizedClientException: 'the access key id is not known to AWS',
  InvalidAccessKeyId: 'the access key id is not known to AWS',
  SignatureDoesNotMatch: 'the secret access key does not match the access key id',
  IncompleteSignature: 'the secret access key does not match the access key id',
  ExpiredToken: 'the session token has expired (renew it, e.g. aws sso login, or use a long-term key)',
  ExpiredTokenException: 'the session token has expired (renew it, e.g. aws sso login, or use a long-term key)',
  InvalidToken: 'the session token is not valid (check AWS_SESSION_TOKEN)',
};

export async function whoAmI(ctx: AwsContext): Promise<{ account: string; arn: string }> {
  let answer;
  try {
    answer = await ctx.clients.sts.send(new GetCallerIdentityCommand({}));
  } catch (err) {
    // The SDK's own messages can quote the key id or profile; ours say only what is wrong.
    if ((err as Error).name === 'CredentialsProviderError') throw new UserError(`no AWS credentials found: ${WHERE}`);
    const code = awsErrorCode(err);
    const why = code ? REJECTED[code] : undefined;
    if (why) throw new UserError(`AWS rejected the credentials (${code}): ${why}; ${WHERE}`);
    const network = (err as NodeJS.ErrnoException).code;
    if (network && /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET)$/.test(network)) {
      throw new UserError(`cannot reach AWS STS at ${ctx.settings.endpoint ?? `the ${ctx.settings.region} endpoint`} (${network})`);
    }
    throw err;
  }
  if (!answer.Account || !answer.Arn) throw new Error('STS GetCallerIdentity answered without an account');
  return { account: answer.Account, arn: answer.Arn };
}
