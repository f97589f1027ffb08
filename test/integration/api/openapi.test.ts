import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { apiRoutes } from '../../../bridge/api/routes/index.ts';
import { startBridge } from './harness.ts';

/** The HTTP routes of the contract (../shared/contract.md), as OpenAPI paths. */
const CONTRACT = [
  'get /health',
  'get /bridge',
  'get /drives',
  'post /drives',
  'get /drives/{id}',
  'patch /drives/{id}',
  'delete /drives/{id}',
  'post /drives/{id}/attach',
  'post /drives/{id}/detach',
  'post /drives/{id}/eject',
  'get /pools',
  'post /pools',
  'get /events',
  'get /users',
  'post /users',
  'patch /users/{name}',
  'delete /users/{name}',
  'get /tokens',
  'post /tokens',
  'delete /tokens/{name}',
  'post /session',
  'delete /session',
  'get /ws',
  'get /repositories',
  'post /repositories',
  'post /drives/{id}/backups',
  'get /drives/{id}/snapshots',
  'post /drives/{id}/snapshots/{snap}/restore',
  'get /jobs',
  'get /jobs/{id}',
  'post /jobs/{id}/cancel',
  'get /schedules',
  'post /schedules',
  'patch /schedules/{id}',
  'delete /schedules/{id}',
];

test('the OpenAPI 3.1 document lists every route the server answers, and every contract route', async (t) => {
  const tb = await startBridge(t);
  const res = await tb.http('/openapi.json');
  assert.equal(res.status, 200);
  const doc = res.body;
  assert.equal(doc.openapi, '3.1.0');
  const documented = new Set<string>();
  for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
    for (const method of Object.keys(ops)) documented.add(`${method} ${path}`);
  }
  for (const r of apiRoutes) assert.ok(documented.has(`${r.method} ${r.path}`), `${r.method} ${r.path} is missing from the document`);
  for (const c of CONTRACT) assert.ok(documented.has(c), `contract route ${c} is missing`);

  // And the other way round: everything documented is really served (no "no route" answer).
  for (const op of documented) {
    const [method, path] = op.split(' ') as [string, string];
    if (path === '/ws') continue;
    const concrete = path.replace('{id}', 'nope').replace('{name}', 'nope').replace('{snap}', '20250101T000000Z-000000');
    const r = await tb.local(concrete, { method: method.toUpperCase() });
    assert.doesNotMatch(r.text, /no route/, `${op} is documented but not served`);
  }
  const unrouted = await tb.local('/definitely-not-a-route');
  assert.match(unrouted.text, /no route/, 'the check above can tell a missing route');
});

test('the document describes bodies, parameters and roles from the zod schemas', async (t) => {
  const tb = await startBridge(t);
  const doc = (await tb.http('/openapi.json')).body;
  const create = doc.paths['/drives'].post;
  const variants = create.requestBody.content['application/json'].schema.anyOf;
  const createSchema = variants.find((v: { required: string[] }) => v.required.includes('size'));
  assert.deepEqual(createSchema.required.sort(), ['id', 'size']);
  assert.equal(createSchema.additionalProperties, false);
  assert.equal(createSchema.properties.id.pattern, '^[a-z0-9][a-z0-9-]{0,31}$');
  assert.deepEqual(createSchema.properties.fs.enum, ['fat32', 'exfat', 'none']);
  assert.equal(create['x-pidrive-access'], 'operator');
  const del = doc.paths['/drives/{id}'].delete;
  assert.equal(del['x-pidrive-access'], 'admin');
  assert.deepEqual(del.parameters.map((p: { name: string; in: string }) => `${p.in}:${p.name}`), ['path:id', 'query:force']);
  assert.deepEqual(doc.paths['/health'].get.security, []);
  assert.ok(doc.paths['/drives'].get.responses['200'].content['application/json'].schema.items.properties.host_connected);
  assert.ok(doc.components.securitySchemes.bearer);
});

test('GET /bridge reports id, version, gadget, host and MQTT state', async (t) => {
  const tb = await startBridge(t);
  const token = await tb.token('viewer', 'viewer');
  const res = await tb.http('/bridge', { token });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.body.id, 'test');
  assert.equal(res.body.gadget_backend, 'simulated');
  assert.match(res.body.gadget_reason, /simulated/, 'a simulated gadget says so and why');
  assert.ok(res.body.slots >= 1 && res.body.slots <= res.body.max_luns);
  assert.equal(typeof res.body.version, 'string');
  assert.equal(typeof res.body.host_connected, 'boolean');
  assert.equal(res.body.host_write_rate_bps, 0, 'no host writes to a simulated gadget');
  assert.equal(res.body.broker, 'embedded');
  assert.notEqual(res.body.mqtt, null);
  assert.equal(typeof res.body.mqtt.connected, 'boolean');
});

test('docs/api.md lists every route', () => {
  const doc = fs.readFileSync(path.resolve(import.meta.dirname, '../../../docs/api.md'), 'utf8');
  for (const r of apiRoutes) assert.ok(doc.includes(`\`${r.method.toUpperCase()} ${r.path}\``), `docs/api.md lacks ${r.method.toUpperCase()} ${r.path}`);
});
