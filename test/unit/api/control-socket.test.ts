import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { test } from 'node:test';
import { isLocal } from '../../../bridge/api/authenticate.ts';
import { listenControlSocket } from '../../../bridge/api/control-socket.ts';
import { PiDriveError } from '../../../bridge/core/errors.ts';
import { tempDir } from '../../helpers/tools.ts';

const handler: http.RequestListener = (req, res) => res.end(JSON.stringify({ local: isLocal(req) }));

function get(socketPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ socketPath, path: '/' }, (res) => {
        let s = '';
        res.on('data', (c) => (s += c));
        res.on('end', () => resolve(s));
      })
      .on('error', reject);
  });
}

async function close(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
}

test('the socket is owner-only and its requests are marked local', async (t) => {
  const file = path.join(tempDir(t), 'pidrive.sock');
  const server = await listenControlSocket(file, handler);
  t.after(() => close(server));
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.equal(await get(file), '{"local":true}');
  // A TCP request through the same handler is not local.
  const tcp = http.createServer(handler).listen(0, '127.0.0.1');
  await once(tcp, 'listening');
  t.after(() => close(tcp));
  const port = (tcp.address() as { port: number }).port;
  const res = await fetch(`http://127.0.0.1:${port}/`);
  assert.equal(await res.text(), '{"local":false}');
});

test('a socket file left by a killed bridge is removed at start', async (t) => {
  const file = path.join(tempDir(t), 'pidrive.sock');
  const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(file)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
  await once(child.stdout!, 'data');
  child.kill('SIGKILL');
  await once(child, 'exit');
  assert.ok(fs.lstatSync(file).isSocket(), 'the dead process left its socket file');
  const server = await listenControlSocket(file, handler);
  t.after(() => close(server));
  assert.equal(await get(file), '{"local":true}');
});

test('a live socket (another bridge) or a file that is not a socket is never removed', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'pidrive.sock');
  const first = await listenControlSocket(file, handler);
  t.after(() => close(first));
  await assert.rejects(listenControlSocket(file, handler), (err: unknown) => err instanceof PiDriveError && err.code === 'conflict' && /another bridge/.test(err.message));
  assert.equal(await get(file), '{"local":true}', 'the running one is untouched');

  const plain = path.join(dir, 'not-a-socket');
  fs.writeFileSync(plain, 'important');
  await assert.rejects(listenControlSocket(plain, handler), (err: unknown) => err instanceof PiDriveError && err.code === 'conflict');
  assert.equal(fs.readFileSync(plain, 'utf8'), 'important');
});
