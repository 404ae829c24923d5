// The whole AWS mock: every service harbormaster calls, and what an account already has.
import { handleEc2 } from './ec2.ts';
import { handleIam } from './iam.ts';
import { handleRoute53, seedHostedZone } from './route53.ts';
import { handleS3 } from './s3.ts';
import { startAwsMock, type AwsMock, type MockCall } from './server.ts';
import { handleSts } from './sts.ts';

export type { AwsMock } from './server.ts';

/** An account with an existing hosted zone (the deployment does not create it). */
export async function startFullAwsMock(opts: { hostedZone: string }): Promise<AwsMock> {
  const mock = await startAwsMock({ ec2: handleEc2, iam: handleIam, route53: handleRoute53, s3: handleS3, sts: handleSts });
  seedHostedZone(mock, opts.hostedZone);
  return mock;
}

const READING = /^(Describe|Get|List|Head)/;

/** Whether a call changed something: query actions by name, REST calls by method. */
export function isMutating(call: MockCall): boolean {
  if (call.service === 'ec2' || call.service === 'iam' || call.service === 'sts') return !READING.test(call.action);
  return !/^(GET|HEAD) /.test(call.action);
}
