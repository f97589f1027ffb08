import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { requireTool, run, tempDir } from '../../helpers/tools.ts';
import { retainedSnapshot, startBridge, startMosquitto, waitUntil } from './harness.ts';

/** A throw-away CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl. */
function certificates(t: TestContext): Record<'ca' | 'caKey' | 'serverCert' | 'serverKey' | 'clientCert' | 'clientKey', string> {
  const dir = tempDir(t, 'pidrive-tls-');
  const f = (name: string): string => path.join(dir, name);
  const ossl = (...args: string[]): void => void run('openssl', args);
  ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=PiDrive test CA', '-keyout', f('ca.key'), '-out', f('ca.pem'));
  fs.writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1\n');
  for (const who of ['server', 'client']) {
    ossl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${who}`, '-keyout', f(`${who}.key`), '-out', f(`${who}.csr`));
    ossl('x509', '-req', '-in', f(`${who}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2', '-out', f(`${who}.pem`), ...(who === 'server' ? ['-extfile', f('server.ext')] : []));
  }
  return { ca: f('ca.pem'), caKey: f('ca.key'), serverCert: f('server.pem'), serverKey: f('server.key'), clientCert: f('client.pem'), clientKey: f('client.key') };
}

test('TLS: the bridge verifies the broker with mqtt.tls.ca_file and presents its client certificate', async (t) => {
  if (!requireTool(t, 'openssl')) return;
  const c = certificates(t);
  const broker = await startMosquitto(t, { ca: c.ca, cert: c.serverCert, key: c.serverKey });
  if (!broker) return;
  const tb = await startBridge(t, { mqttUrl: broker.url, config: { mqtt: { tls: { ca_file: c.ca, cert_file: c.clientCert, key_file: c.clientKey } } } });
  await tb.synced();
  const client = { ca: fs.readFileSync(c.ca), cert: fs.readFileSync(c.clientCert), key: fs.readFileSync(c.clientKey) };
  const retained = await retainedSnapshot(broker.url, client, ['pidrive/pi01/bridge/state']);
  assert.equal(retained.get('pidrive/pi01/bridge/state'), '{"state":"online"}');
});

test('TLS: without the client certificate, or without the CA, the bridge does not connect and says why', async (t) => {
  if (!requireTool(t, 'openssl')) return;
  const c = certificates(t);
  const broker = await startMosquitto(t, { ca: c.ca, cert: c.serverCert, key: c.serverKey });
  if (!broker) return;
  for (const tls of [{ ca_file: c.ca }, { cert_file: c.clientCert, key_file: c.clientKey }]) {
    const tb = await startBridge(t, { mqttUrl: broker.url, config: { mqtt: { tls } } });
    await waitUntil(() => tb.logs.some((l) => l.msg === 'mqtt connection problem'), 10_000, 'the connection problem logged');
    assert.ok(!tb.logs.some((l) => l.msg === 'mqtt connected'));
    await tb.stop();
  }
});

test('TLS: an unreadable certificate file is a configuration error naming the key', async (t) => {
  await assert.rejects(
    startBridge(t, { mqttUrl: 'mqtts://127.0.0.1:1', config: { mqtt: { tls: { ca_file: '/nonexistent/ca.pem' } } } }),
    (err: Error & { fields?: Record<string, string> }) => {
      assert.deepEqual(err.fields, { 'mqtt.tls.ca_file': 'unreadable' });
      return true;
    },
  );
});
