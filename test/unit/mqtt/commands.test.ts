import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { PiDriveError } from '../../../bridge/core/errors.ts';
import { parseInput, parseRequestBody, parseSetCommand, salvageTransaction } from '../../../bridge/mqtt/commands.ts';

const set = (s: string) => parseSetCommand(Buffer.from(s));

function refused(fn: () => unknown): PiDriveError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof PiDriveError);
    return err;
  }
  assert.fail('expected a refusal');
}

test('/set: every documented form becomes one operation', () => {
  assert.deepEqual(set('ON'), { op: 'attach' });
  assert.deepEqual(set(' OFF\n'), { op: 'detach' });
  assert.deepEqual(set('"ON"'), { op: 'attach' });
  assert.deepEqual(set('{"attached": true}'), { op: 'attach' });
  assert.deepEqual(set('{"attached": false}'), { op: 'detach' });
  assert.deepEqual(set('{"action": "eject"}'), { op: 'eject' });
  assert.deepEqual(set('{"action": "backup"}'), { op: 'backup' });
  assert.deepEqual(set('{"mode": "cdrom"}'), { op: 'mode', mode: 'cdrom' });
  assert.deepEqual(set('{"attached": true, "mode": "read_only"}'), { op: 'attach', mode: 'read_only' });
  assert.deepEqual(set('{"action": "attach", "mode": "read_only"}'), { op: 'attach', mode: 'read_only' });
});

test('/set: bad commands are refused whole, naming the field', () => {
  assert.deepEqual(refused(() => set('{"attached": "yes"}')).fields, { attached: 'Invalid input: expected boolean, received string' });
  assert.ok(refused(() => set('{"action": "explode"}')).fields?.action);
  assert.deepEqual(refused(() => set('{"colour": 1}')).fields, { colour: 'unknown field' });
  assert.ok(refused(() => set('{"attached": true, "action": "eject"}')).fields?.action);
  assert.ok(refused(() => set('{"mode": "read_only", "attached": false}')).fields?.mode);
  assert.ok(refused(() => set('{}')).fields?.payload);
  assert.ok(refused(() => set('[true]')).fields?.payload);
  assert.ok(refused(() => set('null')).fields?.payload);
  assert.ok(refused(() => set('on')).fields?.payload);
  assert.equal(refused(() => set('{"attached":')).message, 'the payload is not valid JSON');
  assert.equal(refused(() => parseSetCommand(Buffer.alloc(64 * 1024 + 1, 0x20))).code, 'too_large');
});

test('requests: empty body is {}, the transaction is taken out, bodies must be objects', () => {
  assert.deepEqual(parseRequestBody(Buffer.alloc(0)), { body: {}, transaction: undefined });
  assert.deepEqual(parseRequestBody(Buffer.from('{"id":"d1","transaction":"t"}')), { body: { id: 'd1' }, transaction: 't' });
  assert.deepEqual(parseRequestBody(Buffer.from('{"transaction":42}')), { body: {}, transaction: 42 });
  assert.ok(refused(() => parseRequestBody(Buffer.from('{"transaction":{"a":1}}'))).fields?.transaction);
  assert.ok(refused(() => parseRequestBody(Buffer.from('"x"'))).fields?.payload);
  assert.equal(salvageTransaction(Buffer.from('{"transaction":"t","id":5}')), 't');
  assert.equal(salvageTransaction(Buffer.from('{"transaction":')), undefined);
  assert.equal(salvageTransaction(Buffer.from('[1]')), undefined);
});

test('parseInput names unknown fields one by one', () => {
  const schema = z.object({ id: z.string() }).strict();
  const err = refused(() => parseInput(schema, { id: 1, a: 1, b: 2 }));
  assert.deepEqual(Object.keys(err.fields ?? {}).sort(), ['a', 'b', 'id']);
  assert.equal(err.fields?.a, 'unknown field');
});
