// The mock's conformance check against Harbor's own swagger: it must refuse what Harbor's API
// does not declare, or the reconcile tests' "no violations" would prove nothing.
import https from 'node:https';
import t from 'tap';
import { startHarborMock } from '../helpers/harbor-mock.ts';
import { harborSwagger, SWAGGER_SKIP } from '../helpers/harbor-swagger.ts';

const q = (s = '') => new URLSearchParams(s);

t.test('violations: path, method, query, body types, required and undeclared properties', { skip: SWAGGER_SKIP }, async (t) => {
  const swagger = harborSwagger()!;
  t.same(swagger.violations('GET', '/users', q('q=username%3Dbob&page=1&page_size=100'), undefined), [], 'a conforming list');
  t.same(swagger.violations('GET', '/users/current', q(), undefined), [], 'the literal path wins over /users/{user_id}');
  t.same(swagger.violations('POST', '/retentions', q(), { algorithm: 'or', rules: [{ template: 'latestPushedK', params: { latestPushedK: 3 } }], scope: { level: 'project', ref: 1 } }), [], "params are go-swagger's interface{}");
  t.match(swagger.violations('GET', '/no/such/thing', q(), undefined), [/no such path in Harbor's swagger/]);
  t.match(swagger.violations('PATCH', '/users', q(), undefined), [/has no PATCH/]);
  t.match(swagger.violations('GET', '/projects', q('with_details=true'), undefined), [/query parameter with_details is not declared/]);
  t.match(swagger.violations('GET', '/users', q('page=first'), undefined), [/query page: "first" is not an integer/]);
  t.match(swagger.violations('POST', '/projects', q(), { project_name: 'p', metadata: { public: true } }), [/body\.metadata\.public must be a string/]);
  t.match(swagger.violations('POST', '/projects', q(), { project_name: 'p', publik: 'true' }), [/body\.publik is not a property of ProjectReq/]);
  t.match(swagger.violations('PUT', '/quotas/1', q(), { hard: { storage: '10G' } }), [/body\.hard\.storage must be an integer/]);
  t.match(swagger.violations('PUT', '/system/gc/schedule', q(), { schedule: { type: 'Monthly' } }), [/body\.schedule\.type is "Monthly", not one of Hourly/]);
  t.match(swagger.violations('PUT', '/robots/1', q(), undefined), [/the body \(Robot\) is required/]);
  t.match(swagger.violations('DELETE', '/users/1', q(), { x: 1 }), [/takes no body/]);
});

t.test('the mock answers a non-conforming request 422 and keeps it for the test to fail on', { skip: SWAGGER_SKIP }, async (t) => {
  const mock = await startHarborMock({ adminPassword: 'SwaggerAdminPassw0rd' });
  t.teardown(() => mock.close());
  t.ok(mock.conformance);
  const status = await new Promise<number>((resolve, reject) => {
    const auth = `Basic ${Buffer.from('admin:SwaggerAdminPassw0rd').toString('base64')}`;
    const req = https.request(`${mock.url}/api/v2.0/projects?bogus=1`, { ca: mock.caPem, headers: { authorization: auth } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end();
  });
  t.equal(status, 422);
  t.match(mock.violations, [/GET \/projects: query parameter bogus is not declared/]);
});
