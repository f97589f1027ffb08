import assert from 'node:assert/strict';
import { test } from 'node:test';
import { safeUrl } from '../../../bridge/mqtt/safe-url.ts';
import { topicMatches, topicsFor } from '../../../bridge/mqtt/topics.ts';

test('topic layout of the contract', () => {
  const t = topicsFor('pidrive', 'pi01');
  assert.equal(t.bridgeState, 'pidrive/pi01/bridge/state');
  assert.equal(t.bridgeInfo, 'pidrive/pi01/bridge/info');
  assert.equal(t.drive('d1'), 'pidrive/pi01/drive/d1');
  assert.equal(t.driveSet('d1'), 'pidrive/pi01/drive/d1/set');
  assert.equal(t.driveEvent('d1'), 'pidrive/pi01/drive/d1/event');
  assert.equal(t.request('drive/attach'), 'pidrive/pi01/bridge/request/drive/attach');
  assert.equal(t.response('drive/attach'), 'pidrive/pi01/bridge/response/drive/attach');
  assert.equal(t.setTarget('pidrive/pi01/drive/d1/set'), 'd1');
  assert.equal(t.setTarget('pidrive/pi01/drive/a/b/set'), null);
  assert.equal(t.setTarget('pidrive/pi02/drive/d1/set'), null);
  assert.equal(t.setTarget('pidrive/pi01/drive/d1'), null);
  assert.equal(t.requestPath('pidrive/pi01/bridge/request/drive/attach'), 'drive/attach');
  assert.equal(t.requestPath('pidrive/pi01/bridge/request/'), null);
});

test('topic filters match as a broker matches them', () => {
  assert.ok(topicMatches('a/+/c', 'a/b/c'));
  assert.ok(!topicMatches('a/+/c', 'a/b/d'));
  assert.ok(!topicMatches('a/+', 'a/b/c'));
  assert.ok(topicMatches('a/#', 'a'));
  assert.ok(topicMatches('a/#', 'a/b/c'));
  assert.ok(!topicMatches('a/#', 'b/c'));
  assert.ok(topicMatches('#', 'a/b'));
  assert.ok(topicMatches('a/b', 'a/b'));
  assert.ok(!topicMatches('a/b', 'a/b/c'));
  assert.ok(topicMatches('pidrive/pi01/drive/+/set', 'pidrive/pi01/drive/d1/set'));
});

test('broker URLs lose their password before they reach a log or a status', () => {
  assert.equal(safeUrl('mqtt://user:secret@broker:1883'), 'mqtt://user:***@broker:1883');
  assert.equal(safeUrl('mqtts://broker.local:8883'), 'mqtts://broker.local:8883');
  assert.equal(safeUrl('not a url //user:secret@x'), 'not a url //***@x');
});
