// Who the credentials are, and the one line a user gets when there are none or AWS refuses them.
import t from 'tap';
import { awsClients, closeClients, type AwsCredentials } from '../../lib/cloud/aws/clients.ts';
import { whoAmI } from '../../lib/cloud/aws/identity.ts';
import { mockContext, mockSettings } from '../helpers/aws-mock/context.ts';
import { startAwsMock } from '../helpers/aws-mock/server.ts';
import { expireCredentials, handleSts } from '../helpers/aws-mock/sts.ts';

// This process must find no credentials of its own, and never ask an instance metadata service.
for (const name of Object.keys(process.env)) if (name.startsWith('AWS_')) delete process.env[name];
Object.assign(process.env, { AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials', AWS_CONFIG_FILE: '/nonexistent/config', AWS_EC2_METADATA_DISABLED: 'true' });

const mock = await startAwsMock({ sts: handleSts });
t.teardown(() => mock.close());
const WHERE = 'set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), or put aws_access_key_id and aws_secret_access_key in the vault';

/** whoAmI with these credentials (the SDK's own chain when none). */
async function ask(credentials?: AwsCredentials) {
  const ctx = mockContext(mock, mockSettings(mock));
  ctx.clients = awsClients(ctx.settings, credentials);
  try {
    return await whoAmI(ctx);
  } finally {
    closeClients(ctx.clients);
    ctx.close();
  }
}

t.test('the caller', async (t) => {
  t.same(await ask(mock.credentials), { account: mock.accountId, arn: `arn:aws:iam::${mock.accountId}:user/mock-admin` });
});

t.test('credentials that are missing or refused', async (t) => {
  await t.rejects(ask(), { name: 'UserError', message: `no AWS credentials found: ${WHERE}` });
  const wrong = { accessKeyId: mock.credentials.accessKeyId, secretAccessKey: 'wrong-secret-0123456789abcdefghij' };
  const refused = await ask(wrong).catch((err: Error) => err);
  t.match(refused, { name: 'UserError', message: `AWS rejected the credentials (SignatureDoesNotMatch): the secret access key does not match the access key id; ${WHERE}` });
  t.notOk(String((refused as Error).message).includes(wrong.secretAccessKey), 'the secret is not echoed');
  expireCredentials(mock);
  await t.rejects(ask(mock.credentials), { name: 'UserError', message: /^AWS rejected the credentials \(ExpiredToken\): the session token has expired/ });
});

t.test('an endpoint nobody answers', async (t) => {
  const ctx = mockContext(mock, mockSettings(mock, { endpoint: 'http://127.0.0.1:9' }));
  ctx.clients = awsClients(ctx.settings, mock.credentials);
  t.teardown(() => closeClients(ctx.clients));
  await t.rejects(whoAmI(ctx), { name: 'UserError', message: 'cannot reach AWS STS at http://127.0.0.1:9 (ECONNREFUSED)' });
});
