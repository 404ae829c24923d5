// The registry's Route53 record against the Route53 mock, through the real SDK: plan, create,
// a rerun that changes nothing, a record pointing elsewhere put right, destroy, and a missing zone.
import t from 'tap';
import { planRecord, planRecordGone } from '../../lib/cloud/aws/dns.ts';
import { type Change, KNOWN_AFTER_APPLY, Ref } from '../../lib/cloud/aws/plan.ts';
import type { AwsSettings } from '../../lib/cloud/aws/settings.ts';
import { mockContext, mockSettings, shownChange } from '../helpers/aws-mock/context.ts';
import { isMutating } from '../helpers/aws-mock/index.ts';
import { handleRoute53, route53State, seedHostedZone } from '../helpers/aws-mock/route53.ts';
import { startAwsMock } from '../helpers/aws-mock/server.ts';

const mock = await startAwsMock({ route53: handleRoute53 });
t.teardown(() => mock.close());
const zoneId = seedHostedZone(mock, 'example.com');
// A private zone of the same name must not be taken for the public one.
seedHostedZone(mock, 'example.com', true);

async function run(opts: { ip?: string; dryRun?: boolean; destroy?: boolean; settings?: Partial<AwsSettings> } = {}) {
  const ctx = mockContext(mock, mockSettings(mock, opts.settings));
  const before = mock.calls.length;
  try {
    if (opts.destroy) await planRecordGone(ctx);
    else await planRecord(ctx, opts.ip === KNOWN_AFTER_APPLY ? new Ref() : new Ref(opts.ip ?? '203.0.113.10'));
    if (!opts.dryRun) await ctx.apply();
  } finally {
    ctx.close();
  }
  const calls = mock.calls.slice(before);
  return { changes: ctx.planned.map(shownChange), said: ctx.said, mutating: calls.filter(isMutating).map((c) => c.action), polls: calls.filter((c) => c.action.startsWith('GET /2013-04-01/change/')).length };
}

const zone = () => route53State(mock).zones.get(zoneId)!;
const record = () => zone().records.find((r) => r.name === 'registry.example.com.' && r.type === 'A');
const only = (changes: Change[]) => {
  t.equal(changes.length, 1, 'one record, recorded once');
  return changes[0]!;
};

t.test('from nothing: planned before the address is known, then created', async (t) => {
  const plan = await run({ ip: KNOWN_AFTER_APPLY, dryRun: true });
  t.same(plan.mutating, [], 'planning changes nothing');
  t.same(only(plan.changes), { action: 'create', kind: 'route53 record', name: 'registry.example.com', id: zoneId, detail: `A ${KNOWN_AFTER_APPLY} (TTL 300)` });

  const made = await run();
  t.same(only(made.changes), { action: 'create', kind: 'route53 record', name: 'registry.example.com', id: zoneId, detail: 'A 203.0.113.10 (TTL 300)' });
  t.same(record(), { name: 'registry.example.com.', type: 'A', ttl: 300, values: ['203.0.113.10'] });
  t.equal(made.polls, 2, 'waited until the change was INSYNC');
  t.match(made.said, [/waiting for Route53 record registry\.example\.com\.: PENDING/]);

  const again = await run();
  t.same(only(again.changes), { action: 'ok', kind: 'route53 record', name: 'registry.example.com', id: zoneId });
  t.same(again.mutating, [], 'a second apply changes nothing');
});

t.test('a record pointing elsewhere is updated in place', async (t) => {
  Object.assign(record()!, { values: ['198.51.100.7'], ttl: 60 });
  const plan = await run({ dryRun: true });
  t.same(plan.mutating, []);
  t.equal(only(plan.changes).detail, '198.51.100.7 (TTL 60) → 203.0.113.10 (TTL 300)');
  const planUnknown = await run({ ip: KNOWN_AFTER_APPLY, dryRun: true });
  t.same(only(planUnknown.changes), { action: 'update', kind: 'route53 record', name: 'registry.example.com', id: zoneId, detail: `198.51.100.7 (TTL 60) → ${KNOWN_AFTER_APPLY} (TTL 300)` }, 'a new address to come is an update');
  const fixed = await run();
  t.same(fixed.changes, plan.changes, 'apply does what the plan said');
  t.same(fixed.mutating, [`POST /2013-04-01/hostedzone/${zoneId}/rrset`], 'one UPSERT');
  t.same(record()?.values, ['203.0.113.10']);
  t.equal(zone().records.filter((r) => r.name === 'registry.example.com.').length, 1, 'replaced, not added');
});

t.test('destroy deletes the record, then nothing; the zone stays', async (t) => {
  const plan = await run({ destroy: true, dryRun: true });
  t.same(plan.mutating, []);
  const destroyed = await run({ destroy: true });
  t.same(destroyed.changes, plan.changes);
  t.same(only(destroyed.changes), { action: 'delete', kind: 'route53 record', name: 'registry.example.com', id: zoneId, detail: '203.0.113.10 (TTL 300)' });
  t.notOk(record());
  t.same(zone().records.map((r) => r.type), ['NS', 'SOA'], 'the zone keeps its own records');
  const second = await run({ destroy: true });
  t.same(second.changes, []);
  t.same(second.mutating, []);
});

t.test('a hosted zone that does not exist', async (t) => {
  for (const dryRun of [true, false]) {
    await t.rejects(run({ dryRun, settings: { hostedZone: 'example.org' } }), {
      name: 'UserError',
      message: 'Route53 has no public hosted zone example.org in this account; harbormaster does not create it: create it (and delegate the domain to it), or set "hosted_zone" in aws.yaml',
    });
  }
  t.same((await run({ destroy: true, settings: { hostedZone: 'example.org' } })).changes, [], 'destroy has nothing to do');
});

t.test('a change that never gets in sync fails naming the record', async (t) => {
  const ctx = mockContext(mock, mockSettings(mock));
  t.teardown(() => ctx.close());
  ctx.waitTimeoutMs = 0;
  await planRecord(ctx, new Ref('203.0.113.11'));
  await t.rejects(ctx.apply(), { name: 'UserError', message: /^apply stopped at [+~] route53 record registry\.example\.com \(Z\w+\): .*: Route53 record registry\.example\.com\. is still PENDING on the name servers after 0 s/ });
});
