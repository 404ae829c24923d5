/** Harbor administration over its REST API v2.0: the client, idempotent ensure* helpers, user passwords. */
export * from './client.ts';
export * from './ensure.ts';
export { meetsHarborPolicy, newUserPassword } from './password.ts';
export { table } from './table.ts';
