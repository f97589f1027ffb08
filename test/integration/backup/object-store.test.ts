import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { FolderStore } from '../../../bridge/backup/folder-store.ts';
import { ObjectNotFound, type ObjectStore } from '../../../bridge/backup/object-store.ts';
import { S3Store } from '../../../bridge/backup/s3-store.ts';
import { tempDir } from '../../helpers/tools.ts';
import { S3_CREDENTIALS, startS3rver } from './helpers.ts';

/** The contract every target honours, run against a folder and s3rver in both checksum modes. */
async function contract(store: ObjectStore): Promise<void> {
  for (let i = 0; i < 5; i++) await store.put(`chunks/0${i}/k${i}`, Buffer.from(`value ${i}`));
  await store.put('snapshots/cam/a.json', Buffer.from('{}'));
  assert.equal((await store.get('chunks/03/k3')).toString(), 'value 3');
  const into = Buffer.alloc(64);
  assert.equal((await store.get('chunks/02/k2', into)).toString(), 'value 2');
  const head = await store.head('chunks/01/k1');
  assert.equal(head?.size, 7);
  assert.ok(head!.mtime.getTime() > Date.now() - 3_600_000);
  assert.equal(await store.head('chunks/09/none'), null);
  await assert.rejects(store.get('chunks/09/none'), ObjectNotFound);
  const keys: string[] = [];
  for await (const o of store.list('chunks/')) keys.push(o.key);
  assert.deepEqual(keys.sort(), ['chunks/00/k0', 'chunks/01/k1', 'chunks/02/k2', 'chunks/03/k3', 'chunks/04/k4']);
  await store.put('chunks/03/k3', Buffer.from('replaced'));
  assert.equal((await store.get('chunks/03/k3')).toString(), 'replaced');
  await store.delete(['chunks/00/k0', 'chunks/01/k1', 'chunks/09/none']);
  const left: string[] = [];
  for await (const o of store.list('')) left.push(o.key);
  assert.deepEqual(left.sort(), ['chunks/02/k2', 'chunks/03/k3', 'chunks/04/k4', 'snapshots/cam/a.json']);
  await store.flush();
  await assert.rejects(store.put('../escape', Buffer.from('x')), /invalid object key/);
}

test('folder store: atomic puts, listing, deletes, leftovers of interrupted puts', async (t) => {
  const root = path.join(tempDir(t), 'repo');
  const store = new FolderStore(root);
  await contract(store);
  fs.writeFileSync(path.join(root, 'chunks', '02', '.tmp-dead-k9'), 'partial');
  const keys: string[] = [];
  for await (const o of store.list('chunks/')) keys.push(o.key);
  assert.ok(!keys.some((k) => k.includes('.tmp-')), 'partial objects are never listed');
  assert.equal(await store.removeLeftovers(new Date(Date.now() - 3_600_000)), 0, 'young leftovers stay');
  assert.equal(await store.removeLeftovers(new Date(Date.now() + 1000)), 1);
});

test('S3 store against s3rver: path-style, paginated listing, both checksum modes', async (t) => {
  const server = await startS3rver(t, path.join(tempDir(t), 's3'));
  for (const checksums of ['when_required', 'when_supported'] as const) {
    const store = new S3Store({
      bucket: 'backups',
      prefix: `p-${checksums}`,
      endpoint: server.endpoint,
      region: 'us-east-1',
      pathStyle: true,
      checksums,
      credentials: S3_CREDENTIALS,
      concurrency: 4,
      pageSize: 2,
    });
    t.after(() => store.close());
    await contract(store);
  }
});
