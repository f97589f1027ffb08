import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { z } from 'zod';
import { apiRoutes } from '../../../bridge/api/routes/index.ts';
import { POOL_MARKER } from '../../../bridge/pools/registry.ts';
import { mulberry32 } from '../../helpers/prng.ts';
import { tempDir } from '../../helpers/tools.ts';
import { assertClean, makeDrive, startBridgeWithBackup, type Res } from './harness.ts';

/** Per route, as the issue asks: a few thousand bodies at each. FUZZ_PER_ROUTE overrides it for a longer run. */
const PER_ROUTE = Number(process.env.FUZZ_PER_ROUTE ?? 2000);

test('thousands of random bodies at every route: no crash, no 500, no leak, consistent state', { timeout: 600_000 }, async (t) => {
  const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
  t.diagnostic(`FUZZ_SEED=${seed}`);
  // Each request draws from its own generator (seed, request number), so a failing request's body
  // replays with FUZZ_SEED however the 4 concurrent clients interleave.
  let random = mulberry32(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;

  const tb = await startBridgeWithBackup(t, { http: { max_body_bytes: 16 * 1024 } });
  const admin = await tb.token('fuzz-admin', 'admin');
  const operator = await tb.token('fuzz-operator', 'operator', { drives: ['d-a', 'fz-1'] });
  const viewer = await tb.token('fuzz-viewer', 'viewer');
  await makeDrive(tb, 'd-a');
  const scratch = tempDir(t, 'pidrive-fuzz-');
  const importable = path.join(scratch, 'small.img');
  fs.writeFileSync(importable, Buffer.alloc(64 * 1024, 1));

  const hostile = ['', ' ', '../../etc/passwd', '..', '%2e%2e%2f', '\u0000', 'a'.repeat(3000), '${jndi:ldap://x}', '<script>', 'ü🙂', 'NUL\u0000x', 'x'.repeat(33), '-x', 'D-A'];
  const plausible: Record<string, readonly unknown[]> = {
    id: ['d-a', 'fz-1', 'fz-2', 'fz-3'],
    size: ['1M', '2M', '512', '1.5M', 0, -1, 1e12, '2T', '64MiB', 1048576, '1M '],
    fs: ['fat32', 'exfat', 'none', 'ntfs'],
    partition: ['mbr', 'none', 'gpt'],
    pool: ['local', 'nope', 'extra'],
    mode: ['read_write', 'read_only', 'cdrom', 'copy', 'reference', 'rw'],
    label: ['DATA', 'a'.repeat(20), ''],
    name: ['alice', 'bob', 'fz-token', 'extra', 'Alice', 'fuzz-admin'],
    password: ['password-1', 'short', 'x'.repeat(2000)],
    current_password: ['password-1', 'nope'],
    role: ['viewer', 'operator', 'admin', 'root'],
    drives: [['d-a'], ['fz-1', 'fz-2'], [], ['../x'], null],
    expires: ['1h', '90d', 'never', '0d', '1y'],
    owner: ['alice', null, 'ghost'],
    shares: [['alice'], [], ['ghost']],
    path: [path.join(scratch, 'pool'), path.join(scratch, 'missing'), importable],
    from: [importable, path.join(scratch, 'missing.img'), scratch],
    cdrom: [true, false],
    code: ['AAAA-BBBB-CCCC', ''],
    url: [`file://${path.join(scratch, 'repo')}`, 'file:///nonexistent/../x', 's3://bucket/prefix', 'http://example.com', 'file://relative'],
    repository: ['main', 'nope', '..'],
    target: [{ kind: 'new_drive', drive: 'fz-2' }, { kind: 'in_place' }, { kind: 'new_drive', drive: '../x' }, { kind: 'elsewhere' }],
    cron: ['0 3 * * *', '* * * * * * *', 'every day', ''],
    timezone: ['UTC', 'Europe/Berlin', 'Mars/Olympus'],
    keep: [{ daily: 7 }, { last: -1 }, {}, { weekly: 'x' }],
    sample_percent: [10, 0, 101, 'all'],
    block_size: [1048576, 3, 2 ** 40],
  };
  fs.mkdirSync(path.join(scratch, 'pool'));
  const keys = Object.keys(plausible);
  fs.mkdirSync(path.join(scratch, 'main-repo'));
  assert.equal((await tb.http('/repositories', { method: 'POST', token: admin, body: { name: 'main', url: `file://${path.join(scratch, 'main-repo')}` } })).status, 201);

  const value = (depth: number): unknown => {
    const r = random();
    if (r < 0.15) return pick(hostile);
    if (r < 0.3) return pick([0, -1, 1.5, 2 ** 53 + 2, -1e308, 1e308]);
    if (r < 0.4) return pick([true, false, null]);
    if (r < 0.5 && depth < 3) return Array.from({ length: Math.floor(random() * 4) }, () => value(depth + 1));
    if (r < 0.6 && depth < 3) return body(depth + 1);
    return random().toString(36).slice(2);
  };
  const body = (depth = 0): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    const n = Math.floor(random() * 5);
    for (let i = 0; i < n; i++) {
      const k = random() < 0.8 ? pick(keys) : pick(['__proto__', 'constructor', 'x', 'stack', '']);
      out[k] = random() < 0.6 ? pick(plausible[k] ?? [null]) : value(depth);
    }
    return out;
  };
  /** Mostly-valid bodies: the route's own fields with plausible values, so requests also get past validation. */
  const fieldsOf = (schema: z.ZodType | undefined): string[][] => {
    if (!schema) return [];
    const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as { properties?: object; anyOf?: Array<{ properties?: object }> };
    return (json.anyOf ?? [json]).map((s) => Object.keys(s.properties ?? {}));
  };
  const nearValid = (schema: z.ZodType | undefined): Record<string, unknown> => {
    const variants = fieldsOf(schema);
    const out: Record<string, unknown> = {};
    for (const k of variants.length ? pick(variants) : []) if (random() < 0.85) out[k] = pick(plausible[k] ?? [null]);
    return out;
  };
  const raw = (): string =>
    pick([
      '{',
      '{"id": "fz-1", "size": ',
      '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]',
      '{"a":' + '1'.repeat(400) + '}',
      '\u0000\u0001\u0002',
      'null',
      '{"__proto__": {"role": "admin"}}',
      JSON.stringify({ label: 'x'.repeat(20_000) }),
    ]);
  const segment = (): string => pick(['d-a', 'fz-1', 'fz-2', 'alice', 'bob', 'fz-token', 'main', 'latest', '..', '%2e%2e', '%00', 'A', encodeURIComponent(pick(hostile)) || 'x']);

  const statuses = new Map<number, number>();
  let sent = 0;
  const one = async (route: (typeof apiRoutes)[number], n: number): Promise<void> => {
    random = mulberry32((seed * 1_000_003 + n) >>> 0);
    const url = route.path.replace(/\{[a-z_]+\}/g, segment) + (random() < 0.1 ? `?${pick(['force=true', 'since=-1', 'limit=99999', 'drive=d-a', 'x=1'])}` : '');
    const who = random();
    const token = who < 0.7 ? admin : who < 0.85 ? operator : who < 0.95 ? viewer : undefined;
    const kind = random();
    const payload = kind < 0.1 ? { raw: raw() } : kind < 0.2 ? { body: value(0) } : kind < 0.6 ? { body: nearValid(route.body) } : { body: body() };
    let res: Res;
    try {
      res = await tb.http(url, { method: route.method.toUpperCase(), token, ...payload });
    } catch (err) {
      throw new Error(`${route.method} ${url} ${JSON.stringify(payload).slice(0, 300)}: the connection failed (${(err as Error).message})`);
    }
    sent++;
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    const context = `request #${n}: ${route.method} ${url} ${JSON.stringify(payload).slice(0, 300)} → ${res.status} ${res.text.slice(0, 300)}`;
    assert.ok(res.status < 500 || res.status === 503 || res.status === 507, context);
    if (res.status !== 204 && route.path !== '/openapi.json') assert.notEqual(res.body, undefined, `not JSON: ${context}`);
    if (res.status >= 400) assert.equal(typeof res.body.error.message, 'string', context);
    assertClean(res, [admin, operator, viewer]);
  };
  // Routes in a random order, each hit PER_ROUTE times by 4 concurrent clients.
  let n = 0;
  for (const route of [...apiRoutes].sort(() => random() - 0.5)) {
    let left = PER_ROUTE;
    await Promise.all(Array.from({ length: 4 }, async () => {
      while (left-- > 0) await one(route, n++);
    }));
  }
  t.diagnostic(`${sent} requests over ${apiRoutes.length} routes`);
  t.diagnostic(`statuses: ${JSON.stringify(Object.fromEntries(statuses))}`);
  assert.ok([...statuses.keys()].some((s) => s < 300), 'some requests succeeded');

  // Still up, still answering, our admin token intact.
  assert.equal((await tb.http('/health')).status, 200);
  assert.equal((await tb.http('/bridge', { token: admin })).status, 200);

  // Jobs the fuzzer queued (a restore writes a temporary image) finish before the disk is compared.
  for (const deadline = Date.now() + 120_000; ; await new Promise((r) => setTimeout(r, 100))) {
    const jobs = (await tb.local('/jobs')).body as Array<{ state: string }>;
    if (!jobs.some((j) => j.state === 'queued' || j.state === 'running')) break;
    assert.ok(Date.now() < deadline, `jobs still pending after 120 s: ${JSON.stringify(jobs.filter((j) => j.state === 'queued' || j.state === 'running'))}`);
  }
  // The drive table and the images on disk agree: no half-made drive, no orphan or temporary file.
  const drives = (await tb.local('/drives')).body as Array<{ id: string; path: string; pool: string }>;
  const images = path.join(tb.dataDir, 'images');
  const expected = new Set(drives.filter((d) => d.pool === 'local').map((d) => path.basename(d.path)));
  const onDisk = fs.readdirSync(images).filter((f) => f !== POOL_MARKER);
  assert.deepEqual(onDisk.sort(), [...expected].sort(), 'images on disk are exactly the registered drives');
  for (const d of drives) assert.ok(fs.existsSync(d.path), `${d.id}: image exists`);
  const db = tb.context.drives.list().map((d) => d.id);
  assert.deepEqual(drives.map((d) => d.id), db);
  // Every user and token the API lists can be read back; the admin still exists.
  const users = (await tb.local('/users')).body as Array<{ role: string }>;
  if (users.length > 0) assert.ok(users.some((u) => u.role === 'admin'), 'there is always an admin once there was one');
});
