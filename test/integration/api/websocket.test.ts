import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { WebSocket } from 'ws';
import { makeDrive, startBridge, type TestBridge } from './harness.ts';

interface Message {
  topic: string;
  payload: any;
  at: number;
}

/** A connected client recording every message with its arrival time. */
async function connect(tb: TestBridge, headers: Record<string, string>): Promise<{ ws: WebSocket; messages: Message[]; next: (pred: (m: Message) => boolean, ms?: number) => Promise<Message> }> {
  const ws = new WebSocket(`ws://127.0.0.1:${tb.port}/api/v1/ws`, { headers });
  const messages: Message[] = [];
  const waiters: Array<{ pred: (m: Message) => boolean; resolve: (m: Message) => void }> = [];
  ws.on('message', (data) => {
    const m = { ...(JSON.parse(String(data)) as { topic: string; payload: unknown }), at: performance.now() };
    messages.push(m);
    for (const w of [...waiters]) if (w.pred(m)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(m);
    }
  });
  await once(ws, 'open');
  const next = (pred: (m: Message) => boolean, ms = 2000) =>
    new Promise<Message>((resolve, reject) => {
      const found = messages.find(pred);
      if (found) return resolve(found);
      const timer = setTimeout(() => reject(new Error(`no matching message in ${ms} ms; got ${messages.map((m) => m.topic).join(', ')}`)), ms);
      waiters.push({ pred, resolve: (m) => (clearTimeout(timer), resolve(m)) });
    });
  return { ws, messages, next };
}

function refusedUpgrade(tb: TestBridge, headers: Record<string, string>, path = '/api/v1/ws'): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${tb.port}${path}`, { headers });
    ws.on('open', () => reject(new Error('the upgrade was accepted')));
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode!);
      res.resume();
    });
    ws.on('error', () => {});
  });
}

test('the WebSocket refuses clients without valid credentials', async (t) => {
  const tb = await startBridge(t);
  const revoked = await tb.token('gone', 'viewer');
  await tb.local('/tokens/gone', { method: 'DELETE' });
  assert.equal(await refusedUpgrade(tb, {}), 401);
  assert.equal(await refusedUpgrade(tb, { authorization: 'Bearer pdt_not-a-real-token' }), 401);
  assert.equal(await refusedUpgrade(tb, { authorization: `Bearer ${revoked}` }), 401);
  assert.equal(await refusedUpgrade(tb, { cookie: 'pidrive_session=pds_forged' }), 401);
  assert.equal(await refusedUpgrade(tb, { authorization: `Bearer ${await tb.token('v', 'viewer')}` }, '/api/v1/other'), 404);
});

test('a cookie session from another origin is refused (cross-site WebSocket hijacking)', async (t) => {
  const tb = await startBridge(t);
  await tb.local('/users', { method: 'POST', body: { name: 'alice', password: 'password-alice' } });
  const login = await tb.http('/session', { method: 'POST', body: { name: 'alice', password: 'password-alice' } });
  const cookie = String(login.headers['set-cookie']![0]).split(';')[0]!;
  assert.equal(await refusedUpgrade(tb, { cookie, origin: 'https://evil.example' }), 403);
  const ok = await connect(tb, { cookie, origin: `http://127.0.0.1:${tb.port}` });
  await ok.next((m) => m.topic === 'bridge/state');
  ok.ws.close();
});

test('on connect: bridge state, then every visible drive; then live changes within 200 ms', async (t) => {
  const tb = await startBridge(t);
  await makeDrive(tb, 'd-a');
  await makeDrive(tb, 'd-b');
  const viewer = await tb.token('viewer', 'viewer');
  const operator = await tb.token('operator', 'operator');
  const limited = await tb.token('limited', 'viewer', { drives: ['d-b'] });
  const all = await connect(tb, { authorization: `Bearer ${viewer}` });
  const some = await connect(tb, { authorization: `Bearer ${limited}` });
  t.after(() => (all.ws.close(), some.ws.close()));
  await all.next((m) => m.topic === 'drive/d-b');
  await some.next((m) => m.topic === 'drive/d-b');
  assert.deepEqual(all.messages.map((m) => m.topic), ['bridge/state', 'bridge/info', 'drive/d-a', 'drive/d-b']);
  assert.deepEqual(all.messages[0]!.payload, { state: 'online' });
  assert.equal(all.messages[1]!.payload.id, 'test');
  assert.equal(all.messages[2]!.payload.attached, false);
  assert.deepEqual(some.messages.map((m) => m.topic), ['bridge/state', 'bridge/info', 'drive/d-b']);

  // The moment the drive's state changes inside the bridge, as seen on the bus.
  let changedAt = 0;
  tb.context.bus.on(t, 'drive_state', ({ id }) => {
    if (id === 'd-a' && changedAt === 0) changedAt = performance.now();
  });
  t.after(() => tb.context.bus.removeListeners(t));
  const res = await tb.http('/drives/d-a/attach', { method: 'POST', body: {}, token: operator });
  assert.equal(res.status, 200, res.text);
  const msg = await all.next((m) => m.topic === 'drive/d-a' && m.payload.attached === true);
  assert.ok(changedAt > 0);
  const latency = msg.at - changedAt;
  assert.ok(latency < 200, `delivered ${latency.toFixed(1)} ms after the change`);
  assert.equal(some.messages.some((m) => m.topic === 'drive/d-a'), false, 'a limited client hears nothing of other drives');

  await tb.local('/drives/d-a/detach', { method: 'POST' });
  await tb.local('/drives/d-a', { method: 'DELETE' });
  const gone = await all.next((m) => m.topic === 'drive/d-a' && m.payload === null);
  assert.equal(gone.payload, null);
  await tb.local('/drives/d-b/attach', { method: 'POST', body: {} });
  await some.next((m) => m.topic === 'drive/d-b' && m.payload.attached === true);
});

test('a client that does not read is dropped instead of buffered without bound', async (t) => {
  const tb = await startBridge(t);
  await makeDrive(tb, 'd-a');
  const token = await tb.token('viewer', 'viewer');
  const slow = await connect(tb, { authorization: `Bearer ${token}` });
  await slow.next((m) => m.topic === 'drive/d-a');
  const closed = once(slow.ws, 'close');
  // Stop reading: the kernel buffers fill, then the bridge's queue grows.
  (slow.ws as unknown as { _socket: import('node:net').Socket })._socket.pause();
  // Until dropped (how much the socket buffers absorb first depends on the kernel's settings).
  for (let i = 0, deadline = Date.now() + 20_000; Date.now() < deadline; i++) {
    tb.context.bus.emit('drive_state', { id: 'd-a' });
    if (i % 2000 === 0) await new Promise((r) => setImmediate(r));
    if (tb.logs.some((l) => l.includes('dropping a slow WebSocket client'))) break;
  }
  assert.ok(tb.logs.some((l) => l.includes('dropping a slow WebSocket client')), 'the slow client was dropped');
  (slow.ws as unknown as { _socket: import('node:net').Socket })._socket.resume();
  await closed;
  const fresh = await connect(tb, { authorization: `Bearer ${token}` });
  await fresh.next((m) => m.topic === 'drive/d-a');
  fresh.ws.close();
});

test('revoking a token or logging out closes its live WebSocket at once', async (t) => {
  const tb = await startBridge(t);
  const token = await tb.token('short-lived', 'viewer');
  const client = await connect(tb, { authorization: `Bearer ${token}` });
  await client.next((m) => m.topic === 'bridge/info');
  const closed = once(client.ws, 'close');
  await tb.local('/tokens/short-lived', { method: 'DELETE' });
  const [code] = (await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error('still open after 2 s')), 2000))])) as [number];
  assert.equal(code, 4401);

  await tb.local('/users', { method: 'POST', body: { name: 'alice', password: 'password-alice' } });
  const login = await tb.http('/session', { method: 'POST', body: { name: 'alice', password: 'password-alice' } });
  const cookie = String(login.headers['set-cookie']![0]).split(';')[0]!;
  const browser = await connect(tb, { cookie });
  await browser.next((m) => m.topic === 'bridge/info');
  const browserClosed = once(browser.ws, 'close');
  assert.equal((await tb.http('/session', { method: 'DELETE', cookie, csrf: login.body.csrf_token })).status, 204);
  assert.equal(((await browserClosed) as [number])[0], 4401);
});

test("another user's new drive does not stay on a viewer's stream", async (t) => {
  const tb = await startBridge(t);
  await tb.local('/users', { method: 'POST', body: { name: 'root', password: 'password-root' } });
  await tb.local('/users', { method: 'POST', body: { name: 'op', password: 'password-op', role: 'operator' } });
  await tb.local('/users', { method: 'POST', body: { name: 'viewer', password: 'password-viewer', role: 'viewer' } });
  const session = async (name: string) => {
    const res = await tb.http('/session', { method: 'POST', body: { name, password: `password-${name}` } });
    return { cookie: String(res.headers['set-cookie']![0]).split(';')[0]!, csrf: res.body.csrf_token as string };
  };
  const op = await session('op');
  const viewer = await connect(tb, { cookie: (await session('viewer')).cookie });
  const owner = await connect(tb, { cookie: op.cookie });
  await viewer.next((m) => m.topic === 'bridge/info');
  assert.equal((await tb.http('/drives', { method: 'POST', body: { id: 'private', size: '1M', fs: 'none' }, ...op })).status, 201);
  await owner.next((m) => m.topic === 'drive/private' && m.payload?.owner !== null);
  if (viewer.messages.some((m) => m.topic === 'drive/private')) await viewer.next((m) => m.topic === 'drive/private' && m.payload === null);
  await tb.local('/drives/private/attach', { method: 'POST', body: {} });
  await owner.next((m) => m.topic === 'drive/private' && m.payload?.attached === true);
  const seen = viewer.messages.filter((m) => m.topic === 'drive/private');
  assert.ok(seen.length === 0 || seen.at(-1)!.payload === null, `the viewer's last word on it is "gone": ${JSON.stringify(seen.map((m) => m.payload?.attached ?? null))}`);
  assert.equal(seen.some((m) => m.payload?.attached === true), false, 'and it hears nothing of its later changes');
  viewer.ws.close();
  owner.ws.close();
});

test('an open WebSocket does not keep its session alive past the idle limit', async (t) => {
  const tb = await startBridge(t, { auth: { session_idle_minutes: 10 } });
  await tb.local('/users', { method: 'POST', body: { name: 'alice', password: 'password-alice' } });
  await tb.local('/users', { method: 'POST', body: { name: 'bob', password: 'password-bob', role: 'viewer' } });
  const login = await tb.http('/session', { method: 'POST', body: { name: 'alice', password: 'password-alice' } });
  const cookie = String(login.headers['set-cookie']![0]).split(';')[0]!;
  const browser = await connect(tb, { cookie });
  await browser.next((m) => m.topic === 'bridge/info');
  const closed = once(browser.ws, 'close');
  // Re-checks (here set off by credential changes) while the user does nothing.
  for (let minute = 0; minute < 12; minute += 3) {
    tb.clock.advance(3 * 60_000);
    await tb.local('/users/bob', { method: 'PATCH', body: { role: 'viewer' } });
  }
  const [code] = (await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error('still open: the re-checks kept the session alive')), 2000))])) as [number];
  assert.equal(code, 4401, 'the idle session ended and its stream with it');
  assert.equal((await tb.http('/session', { cookie })).status, 401);
});
