// STS for the mock: who the caller is (the mock's account, an IAM user `mock-admin`), or, once
// `expireCredentials` was called, the answer AWS gives a session whose token has expired.
import { type AwsMock, formParams, type ServiceHandler } from './server.ts';
import { queryError, queryResponse } from './iam.ts';

const NS = 'https://sts.amazonaws.com/doc/2011-06-15/';

interface StsState {
  expired: boolean;
}

const stsState = (mock: AwsMock): StsState => (mock.state.sts ??= { expired: false }) as StsState;

/** From now on every STS call fails as with an expired session token. */
export function expireCredentials(mock: AwsMock): void {
  stsState(mock).expired = true;
}

export const handleSts: ServiceHandler = (req, mock) => {
  const action = formParams(req).get('Action') ?? '';
  if (stsState(mock).expired) return queryError(400, 'ExpiredToken', 'The security token included in the request is expired');
  if (action !== 'GetCallerIdentity') return queryError(400, 'InvalidAction', `the mock does not implement STS ${action}`);
  return queryResponse(action, { UserId: 'AIDAMOCKADMIN0000000', Account: mock.accountId, Arn: `arn:aws:iam::${mock.accountId}:user/mock-admin` }, NS);
};
