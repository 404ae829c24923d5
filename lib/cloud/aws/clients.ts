// One SDK client per service for a deployment, all in its region and (for tests or compatible
// clouds) all at its endpoint. Credentials: the ones given (from the vault), else the SDK's own
// chain (AWS_* variables, also from .env, ~/.aws, instance roles).
import { EC2Client } from '@aws-sdk/client-ec2';
import { IAMClient } from '@aws-sdk/client-iam';
import { Route53Client } from '@aws-sdk/client-route-53';
import { S3Client } from '@aws-sdk/client-s3';
import { STSClient } from '@aws-sdk/client-sts';
import { annotateErrors } from './errors.ts';
import type { AwsSettings } from './settings.ts';

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface AwsClients {
  ec2: EC2Client;
  iam: IAMClient;
  route53: Route53Client;
  s3: S3Client;
  sts: STSClient;
}

export function awsClients(s: AwsSettings, credentials?: AwsCredentials): AwsClients {
  // The SDK warns on Node 20 about its own future releases; the lockfile pins this one.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const config = {
    region: s.region,
    maxAttempts: 5,
    ...(s.endpoint ? { endpoint: s.endpoint } : {}),
    ...(credentials ? { credentials } : {}),
  };
  const clients = {
    ec2: new EC2Client(config),
    iam: new IAMClient(config),
    route53: new Route53Client(config),
    // Path-style at a custom endpoint: bucket names there are not DNS names.
    s3: new S3Client({ ...config, forcePathStyle: Boolean(s.endpoint) }),
    sts: new STSClient(config),
  };
  annotateErrors(clients.ec2, 'EC2');
  annotateErrors(clients.iam, 'IAM');
  annotateErrors(clients.route53, 'Route53');
  annotateErrors(clients.s3, 'S3');
  annotateErrors(clients.sts, 'STS');
  return clients;
}

export function closeClients(c: AwsClients): void {
  for (const client of Object.values(c)) client.destroy();
}
