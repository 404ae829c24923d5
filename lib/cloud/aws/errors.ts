// AWS's answers as one line each: the service, the operation, the resource it concerned, AWS's
// code and message, and the request id. The SDK retries throttling with backoff on its own;
// eventual consistency (a resource made a moment ago that another call does not see yet) is
// retried here, for the calls that refer to one.
import { setTimeout as sleep } from 'node:timers/promises';
import { UserError } from '../../errors.ts';

interface Annotated {
  $service?: string;
  $operation?: string;
  $resource?: string;
  $metadata?: { requestId?: string; extendedRequestId?: string; httpStatusCode?: number };
}

/** AWS's error code (the SDK's exception name), e.g. InvalidVpcID.NotFound. */
export const awsErrorCode = (err: unknown): string | undefined =>
  err instanceof Error && '$metadata' in err ? err.name : undefined;

/** "not found yet" for an id that was just made: worth a few more tries. */
const EVENTUAL = /^(Invalid\w*ID\.NotFound|InvalidGroup\.NotFound|NatGatewayNotFound|InvalidVolume\.NotFound|NoSuchEntity)$/;
/** Calls whose NotFound means the thing is gone, or that look things up: never retried. */
const LOOKUPS = /^(Describe|Get|List|Head|Delete|Terminate|Release|Disassociate|Detach)/;
const RETRIES = [250, 500, 1000, 2000, 4000];

/** The input field that names what a call concerns, for messages. */
function resourceOf(input: Record<string, unknown> | undefined): string | undefined {
  if (!input) return undefined;
  const key = Object.keys(input).find((k) => /(Id|Name|Bucket|Ids)$/.test(k) && k !== 'DryRun' && input[k] !== undefined);
  const value = key ? input[key] : undefined;
  return value === undefined ? undefined : Array.isArray(value) ? value.join(',') : String(value);
}

type Handler = (args: { input: object }) => Promise<unknown>;
type Middleware = (next: Handler, context: { commandName?: string }) => Handler;

/** Marks every error with its service, operation and resource, and retries eventual-consistency ones. */
export function annotateErrors(client: { middlewareStack: { add(mw: Middleware, opts: { step: 'initialize'; name: string }): void } }, service: string): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const operation = String(context.commandName ?? '').replace(/Command$/, '');
      for (let attempt = 0; ; attempt++) {
        try {
          return await next(args);
        } catch (err) {
          const code = awsErrorCode(err);
          if (code && EVENTUAL.test(code) && !LOOKUPS.test(operation) && attempt < RETRIES.length) {
            await sleep(RETRIES[attempt]!);
            continue;
          }
          if (err && typeof err === 'object') {
            Object.assign(err as Annotated, { $service: service, $operation: operation, $resource: resourceOf(args.input as Record<string, unknown>) });
          }
          throw err;
        }
      }
    },
    { step: 'initialize', name: 'harbormasterAnnotateErrors' },
  );
}

/** An AWS error as one line, or undefined for anything else (a bug: its stack is worth having). */
export function awsErrorLine(err: unknown): string | undefined {
  const code = awsErrorCode(err);
  if (!code) return undefined;
  const e = err as Error & Annotated;
  const where = [e.$service, e.$operation].filter(Boolean).join(' ');
  const request = e.$metadata?.requestId ?? e.$metadata?.extendedRequestId;
  const message = (e.message || '').split('\n')[0]!.trim();
  return `AWS ${where || 'call'}${e.$resource ? ` (${e.$resource})` : ''}: ${code}${message && message !== code ? `: ${message}` : ''}${request ? ` [request ${request}]` : ''}`;
}

/** Any AWS error as a UserError (one line, no stack), prefixed with what was being done. */
export function asUserError(err: unknown, doing?: string): unknown {
  const line = awsErrorLine(err);
  if (line === undefined) return err;
  return new UserError(doing ? `${doing}: ${line}` : line);
}

/** A call whose "not found" error means absence: undefined then. */
export async function ifExists<T>(call: Promise<T>, ...notFound: string[]): Promise<T | undefined> {
  try {
    return await call;
  } catch (err) {
    if (notFound.includes(awsErrorCode(err) ?? '')) return undefined;
    throw err;
  }
}

/** A DependencyViolation as a one-line error naming what is still in use and what to do. */
export function explainInUse(err: unknown, what: string, hint: string): unknown {
  return awsErrorCode(err) === 'DependencyViolation' ? new UserError(`${what} is still in use (${hint})`) : err;
}
