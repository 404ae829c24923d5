/** Harbor administration over its REST API v2.0: the client, Harbor as code (spec, plan, reconcile), user passwords. */
export * from './client.ts';
export * from './plan.ts';
export * from './reconcile/index.ts';
export * from './spec.ts';
export { meetsHarborPolicy, newUserPassword } from './password.ts';
export { table } from './table.ts';
