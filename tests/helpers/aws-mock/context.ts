// An AwsContext talking to the mock, that keeps the plan it is given and what it says, and
// applies that plan.
import { awsClients, closeClients } from '../../../lib/cloud/aws/clients.ts';
import { applyPlan } from '../../../lib/cloud/aws/deploy.ts';
import type { AwsContext, Change, PlannedChange } from '../../../lib/cloud/aws/plan.ts';
import type { AwsSettings } from '../../../lib/cloud/aws/settings.ts';
import type { AwsMock } from './server.ts';

/** The reference deployment's settings, at the mock. */
export function mockSettings(mock: AwsMock, more: Partial<AwsSettings> = {}): AwsSettings {
  return {
    file: 'aws.yaml', project: 'harbor', region: 'eu-west-1', endpoint: mock.endpoint,
    vpcCidr: '172.20.0.0/16', publicSubnetCidr: '172.20.1.0/24', privateSubnetCidr: '172.20.2.0/24', privateSubnetBCidr: '172.20.3.0/24', adminCidr: '185.192.0.0/10',
    natGateway: true, ami: { id: 'ami-0123456789abcdef0' }, bastionInstanceType: 't3.micro', registryInstanceType: 't3.large',
    bastionRootVolumeGiB: 8, registryRootVolumeGiB: 20, dataVolumeGiB: 100, dataVolume: '/data', hostKeyWaitSeconds: 5, s3Endpoint: false,
    sshPublicKeyFile: '/nonexistent/id_ed25519.pub', sshPrivateKeyFile: '/nonexistent/id_ed25519', sshUser: 'admin',
    pollSeconds: 5, registryPrivateIp: '172.20.2.20', registryCount: 1, dbInstance: undefined, dbInstanceType: 't3.medium', dbRootVolumeGiB: 20, dbPrivateIp: '172.20.2.10', hostedZone: 'example.com', recordName: 'registry', bucket: 'harbor-test-bucket', s3User: 'harbor_s3_user',
    ...more,
  };
}

export interface RecordingContext extends AwsContext {
  /** The plan, as the planners added to it. */
  planned: PlannedChange[];
  said: string[];
  /** Runs the plan (replaces only those named); the changes made. */
  apply(replace?: string[]): Promise<Change[]>;
  close(): void;
}

export function mockContext(mock: AwsMock, settings: AwsSettings): RecordingContext {
  const clients = awsClients(settings, mock.credentials);
  const planned: PlannedChange[] = [];
  const said: string[] = [];
  const ctx: RecordingContext = {
    settings, clients, planned, said,
    add: (c) => planned.push(c),
    say: (m) => said.push(m),
    reads: new Map(),
    pollIntervalMs: 1,
    waitTimeoutMs: 5000,
    apply: (replace = []) => applyPlan({ account: '', changes: planned, ctx }, new Set(replace), () => undefined),
    close: () => closeClients(clients),
  };
  return ctx;
}

/** A change as the plan shows it (no calls): what tests compare. */
export const shownChange = ({ action, kind, name, id, detail }: PlannedChange): Change => ({ action, kind, name, ...(id !== undefined ? { id } : {}), ...(detail !== undefined ? { detail } : {}) });
