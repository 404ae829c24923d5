// What the image storage's bucket and user are allowed, compared by meaning; tags merged.
import type { AwsContext } from './plan.ts';

export type Tag = { Key?: string | undefined; Value?: string | undefined };

/** What the registry's S3 driver needs (distribution's documented policy), and nothing more. */
const BUCKET_ACTIONS = ['s3:ListBucket', 's3:GetBucketLocation', 's3:ListBucketMultipartUploads'];
const OBJECT_ACTIONS = ['s3:AbortMultipartUpload', 's3:DeleteObject', 's3:GetObject', 's3:ListMultipartUploadParts', 's3:PutObject'];
export const PUBLIC_ACCESS_BLOCK = { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true };
export const ENCRYPTION = 'AES256';

const partition = (region: string) => (region.startsWith('cn-') ? 'aws-cn' : region.startsWith('us-gov-') ? 'aws-us-gov' : 'aws');

/** The registry's grants on the bucket; as a bucket policy when given the user's ARN. */
export function registryPolicy(bucket: string, region: string, principalArn?: string): object {
  const arn = `arn:${partition(region)}:s3:::${bucket}`;
  const principal = principalArn ? { Principal: { AWS: principalArn } } : {};
  return {
    Version: '2012-10-17',
    Statement: [
      { Sid: 'RegistryBucket', Effect: 'Allow', ...principal, Action: BUCKET_ACTIONS, Resource: arn },
      { Sid: 'RegistryObjects', Effect: 'Allow', ...principal, Action: OBJECT_ACTIONS, Resource: `${arn}/*` },
    ],
  };
}

const list = (v: unknown): unknown[] => (v === undefined ? [] : ([] as unknown[]).concat(v));

/**
 * A policy as the set of single grants it makes (effect, principal, action, resource, condition),
 * so that two documents compare by meaning: order, grouping, Sids and case of actions aside.
 */
function grants(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let doc: { Statement?: unknown };
  try {
    doc = JSON.parse(text) as { Statement?: unknown };
  } catch {
    out.set('unreadable', 'an unreadable document');
    return out;
  }
  for (const st of list(doc.Statement) as Record<string, unknown>[]) {
    const principal = st.Principal === undefined ? '' : typeof st.Principal === 'string' ? st.Principal : list((st.Principal as { AWS?: unknown }).AWS).map(String).sort().join(',') || JSON.stringify(st.Principal);
    // Anything unusual (NotAction, conditions...) is kept whole, so it differs from ours.
    const extra = Object.keys(st).filter((k) => !['Sid', 'Effect', 'Principal', 'Action', 'Resource'].includes(k)).sort().map((k) => `${k}=${JSON.stringify(st[k])}`).join(' ');
    for (const action of list(st.Action).map(String)) {
      for (const resource of list(st.Resource).map(String)) {
        const shown = `${st.Effect === 'Allow' ? '' : `${String(st.Effect)} `}${action} on ${resource}${principal ? ` to ${principal}` : ''}${extra ? ` (${extra})` : ''}`;
        out.set(`${String(st.Effect)}|${principal}|${action.toLowerCase()}|${resource}|${extra}`, shown);
      }
    }
  }
  return out;
}

/** What a policy grants beyond the wanted one and what it lacks, or undefined when they mean the same. */
export function policyDifference(actual: string, wanted: object): string | undefined {
  const have = grants(actual);
  const want = grants(JSON.stringify(wanted));
  const extra = [...have].filter(([k]) => !want.has(k)).map(([, shown]) => shown);
  const missing = [...want].filter(([k]) => !have.has(k)).map(([, shown]) => shown);
  const parts = [...(extra.length ? [`grants ${extra.join(', ')}`] : []), ...(missing.length ? [`lacks ${missing.join(', ')}`] : [])];
  return parts.length ? parts.join('; ') : undefined;
}

/** The wanted tags over the current ones (others are kept), and what that changes. */
export function tagChange(current: Tag[], wanted: { Key: string; Value: string }[]): { detail?: string; merged: { Key: string; Value: string }[] } {
  const now = new Map(current.map((t) => [t.Key ?? '', t.Value ?? '']));
  const changed = wanted.filter((t) => now.get(t.Key) !== t.Value).map((t) => `tag ${t.Key}: ${now.get(t.Key) ?? '(none)'} → ${t.Value}`);
  for (const t of wanted) now.set(t.Key, t.Value);
  const merged = [...now].map(([Key, Value]) => ({ Key, Value }));
  return changed.length ? { detail: changed.join(', '), merged } : { merged };
}

export const statusOf = (err: unknown) => (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;

/** Whether a resource carries this deployment's Project tag (so harbormaster made it). */
export const ours = (ctx: AwsContext, tags: Tag[] | undefined) => (tags ?? []).some((t) => t.Key === 'Project' && t.Value === ctx.settings.project);
