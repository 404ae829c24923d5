// An AwsContext talking to the mock, that keeps what it records and says.
import { awsClients, closeClients } from '../../../lib/cloud/aws/clients.ts';
import type { AwsContext, Change } from '../../../lib/cloud/aws/plan.ts';
import type { AwsSettings } from '../../../lib/cloud/aws/settings.ts';
import type { AwsMock } from './server.ts';

/** The reference deployment's settings, at the mock. */
export function mockSettings(mock: AwsMock, more: Partial<AwsSettings> = {}): AwsSettings {
  return {
    file: 'aws.yaml', project: 'harbor', region: 'eu-west-1', endpoint: mock.endpoint,
    vpcCidr: '172.20.0.0/16', publicSubnetCidr: '172.20.1.0/24', privateSubnetCidr: '172.20.2.0/24', adminCidr: '185.192.0.0/10',
    natGateway: true, ami: 'ami-0123456789abcdef0', instanceType: 't3.micro', rootVolumeGiB: 8,
    sshPublicKeyFile: '/nonexistent/id_ed25519.pub', sshPrivateKeyFile: '/nonexistent/id_ed25519', sshUser: 'admin',
    pollSeconds: 5, registryPrivateIp: '172.20.2.20', hostedZone: 'example.com', recordName: 'registry', bucket: 'harbor-test-bucket', s3User: 'harbor_s3_user',
    ...more,
  };
}

export interface RecordingContext extends AwsContext {
  changes: Change[];
  said: string[];
  close(): void;
}

export function mockContext(mock: AwsMock, settings: AwsSettings, dryRun = false): RecordingContext {
  const clients = awsClients(settings, mock.credentials);
  const changes: Change[] = [];
  const said: string[] = [];
  return {
    settings, clients, dryRun, changes, said,
    record: (c) => changes.push(c),
    say: (m) => said.push(m),
    pollIntervalMs: 1,
    waitTimeoutMs: 5000,
    close: () => closeClients(clients),
  };
}
