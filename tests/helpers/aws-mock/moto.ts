// moto, the AWS emulator written outside this project (../shared/tools/moto), as a second
// backend for the AWS scenario tests: one moto per test file on a free port (its state is
// global, so files running in parallel must not share one), behind a small proxy that records
// each call the way our own mock does, so a test counts calls and writes on either backend.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { readBody, type MockCall, type ServiceName } from './server.ts';

/** Where the CI and the sessions keep it: ../shared beside the clone. */
export const MOTO_SERVE = fileURLToPath(new URL('../../../../shared/tools/moto/serve', import.meta.url));
export const motoAbsent = () => !existsSync(MOTO_SERVE);

/** What a scenario test needs of a backend. */
export interface AwsBackend {
  name: string;
  endpoint: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  calls: MockCall[];
  close(): Promise<void>;
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });

/** The service a SigV4-signed request is for, from its credential scope. */
const serviceOf = (req: IncomingMessage): ServiceName =>
  (/Credential=[^/]+\/\d+\/[^/]+\/([^/]+)\//.exec(String(req.headers.authorization ?? ''))?.[1] ?? 's3') as ServiceName;

/** The call as our mock names it: the Action of query protocols, else method and path. */
function actionOf(service: ServiceName, req: IncomingMessage, body: Buffer): string {
  if (service === 'ec2' || service === 'iam' || service === 'sts') return new URLSearchParams(body.toString('utf8')).get('Action') ?? '?';
  const url = new URL(req.url ?? '/', 'http://x');
  const q = [...url.searchParams.keys()].filter((k) => !k.startsWith('X-Amz-') && k !== 'x-id').join('&');
  return `${req.method} ${decodeURIComponent(url.pathname)}${q ? `?${q}` : ''}`;
}

async function waitUp(port: number, child: ReturnType<typeof spawn>, log: () => string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`moto exited (${child.exitCode}): ${log().slice(-2000)}`);
    const up = await new Promise<boolean>((resolve) => {
      const r = request({ host: '127.0.0.1', port, path: '/moto-api/', method: 'GET' }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      r.on('error', () => resolve(false));
      r.end();
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`moto did not answer on ${port} within 30 s: ${log().slice(-2000)}`);
}

/** Starts moto and its recording proxy; undefined when ../shared/tools/moto is absent (a user clone). */
export async function startMoto(): Promise<AwsBackend | undefined> {
  if (motoAbsent()) return undefined;
  const port = await freePort();
  const child = spawn(MOTO_SERVE, [String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => void (output = (output + d.toString()).slice(-20000)));
  child.stderr!.on('data', (d: Buffer) => void (output = (output + d.toString()).slice(-20000)));
  try {
    await waitUp(port, child, () => output);
  } catch (err) {
    child.kill();
    throw err;
  }
  const calls: MockCall[] = [];
  const proxy = createServer(async (req, res) => {
    const body = await readBody(req);
    const service = serviceOf(req);
    const upstream = request({ host: '127.0.0.1', port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      calls.push({ service, action: actionOf(service, req, body), status: answer.statusCode ?? 0 });
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', (err) => {
      res.writeHead(502);
      res.end(String(err));
    });
    upstream.end(body);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    name: 'moto',
    endpoint: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    calls,
    close: async () => {
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      child.kill();
    },
  };
}
