import type { HarborProject, HarborWebhook } from '../client.ts';
import { diffAttrs, entry, unnamed, type PlanEntry, type ReconcileContext } from '../plan.ts';
import type { WebhookSpec } from '../spec.ts';

/** The attributes compared, from Harbor's policy or the spec's. */
const attrs = (h: HarborWebhook) => ({
  url: h.targets[0]?.address,
  type: h.targets[0]?.type,
  payload_format: h.targets[0]?.payload_format || 'Default',
  skip_cert_verify: Boolean(h.targets[0]?.skip_cert_verify),
  events: [...h.event_types].sort(),
  enabled: h.enabled,
  description: h.description ?? '',
});

const policy = (name: string, w: WebhookSpec, id?: number): HarborWebhook => ({
  ...(id ? { id } : {}),
  name,
  description: w.description,
  targets: [{ type: w.type, address: w.url, skip_cert_verify: w.skip_cert_verify, payload_format: w.payload_format }],
  event_types: w.events,
  enabled: w.enabled,
});

/** The project's webhook policies, by name. */
export async function planWebhooks(ctx: ReconcileContext, project: string, have: HarborProject | undefined, want: Record<string, WebhookSpec>): Promise<PlanEntry[]> {
  const { client } = ctx;
  const current = have ? await client.listWebhooks(project) : [];
  const out = Object.entries(want).map(([name, w]): PlanEntry => {
    const label = `${name} in ${project}`;
    const h = current.find((x) => x.name === name);
    const wanted = attrs(policy(name, w));
    if (!h) return entry('webhook', label, 'create', diffAttrs({}, { url: wanted.url, events: wanted.events }), () => client.putWebhook(project, policy(name, w)));
    const diffs = diffAttrs(attrs(h), wanted);
    return entry('webhook', label, diffs.length ? 'update' : 'ok', diffs, () => client.putWebhook(project, policy(name, w, h.id)));
  });
  for (const h of current.filter((x) => !(x.name in want))) out.push(unnamed(ctx, 'webhook', `${h.name} in ${project}`, () => client.deleteWebhook(project, h)));
  return out;
}
