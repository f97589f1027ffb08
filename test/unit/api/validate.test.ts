import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { parseInput } from '../../../bridge/api/validate.ts';
import { PiDriveError } from '../../../bridge/core/errors.ts';

function fields(schema: z.ZodType, value: unknown): Record<string, string> {
  try {
    parseInput(schema, value, 'body');
  } catch (err) {
    assert.ok(err instanceof PiDriveError);
    assert.equal(err.code, 'bad_request');
    return err.fields ?? {};
  }
  assert.fail('accepted');
}

const Create = z.object({ id: z.string(), size: z.number() }).strict();
const Import = z.object({ id: z.string(), from: z.string() }).strict();

test('each unknown key is named as its own field', () => {
  assert.deepEqual(fields(Create, { id: 'a', size: 1, color: 'red', shape: 1 }), { color: 'unknown field', shape: 'unknown field' });
  assert.deepEqual(fields(z.object({ inner: Create }).strict(), { inner: { id: 'a', size: 1, x: 1 } }), { 'inner.x': 'unknown field' });
});

test('a body of the wrong kind is reported as "body"', () => {
  assert.deepEqual(Object.keys(fields(Create, [])), ['body']);
  assert.deepEqual(Object.keys(fields(Create, 'text')), ['body']);
});

test('a union reports the problems of the closest branch', () => {
  const Either = z.union([Create, Import]);
  assert.deepEqual(Object.keys(fields(Either, { id: 'a', size: 'big' })), ['size']);
  assert.deepEqual(Object.keys(fields(Either, { id: 'a', from: 7 })), ['from']);
});

test('valid input passes through, with defaults applied', () => {
  assert.deepEqual(parseInput(z.object({ a: z.number().default(3) }).strict(), {}, 'body'), { a: 3 });
});
