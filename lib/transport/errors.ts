/** The host cannot be reached: connect, authentication or host key check failed. */
export class UnreachableError extends Error {
  override name = 'UnreachableError';
}

/** The connection dropped while a command or upload was in flight; its outcome is unknown. */
export class ConnectionLostError extends Error {
  override name = 'ConnectionLostError';
}

/** A remote command ran longer than its timeout and was killed. */
export class CommandTimeoutError extends Error {
  override name = 'CommandTimeoutError';
}
