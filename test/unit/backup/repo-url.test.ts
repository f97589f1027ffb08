import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRepoUrl } from '../../../bridge/backup/repo-url.ts';

test('file:// URLs name a local folder', () => {
  assert.deepEqual(parseRepoUrl('file:///srv/backups/pidrive'), { kind: 'folder', path: '/srv/backups/pidrive' });
  assert.deepEqual(parseRepoUrl('file:///mnt/nas%20share/x'), { kind: 'folder', path: '/mnt/nas share/x' });
});

test('s3:// URLs: with an endpoint, path-style and WHEN_REQUIRED checksums by default; AWS otherwise', () => {
  assert.deepEqual(parseRepoUrl('s3://backups/pi/one?endpoint=http://nas:9000&region=eu-west-1'), {
    kind: 's3',
    bucket: 'backups',
    prefix: 'pi/one',
    endpoint: 'http://nas:9000',
    region: 'eu-west-1',
    pathStyle: true,
    checksums: 'when_required',
  });
  assert.deepEqual(parseRepoUrl('s3://my-bucket'), {
    kind: 's3',
    bucket: 'my-bucket',
    prefix: '',
    endpoint: undefined,
    region: 'us-east-1',
    pathStyle: false,
    checksums: 'when_supported',
  });
  const custom = parseRepoUrl('s3://b-1/p?endpoint=https://s3.example&path_style=false&checksums=when_supported');
  assert.equal(custom.kind === 's3' && custom.pathStyle, false);
  assert.equal(custom.kind === 's3' && custom.checksums, 'when_supported');
});

test('bad repository URLs are refused naming the url field', () => {
  const cases: Array<[string, RegExp]> = [
    ['/srv/backups', /must be a URL/],
    ['http://example.com/x', /file:\/\/ or s3:\/\//],
    ['file:///', /root/],
    ['file://otherhost/x', /local path/],
    ['s3://B/x', /bucket name/],
    ['s3://bucket/a//b', /prefix/],
    ['s3://bucket/x?endpoint=ftp://h', /http/],
    ['s3://bucket/x?foo=1', /unknown parameter "foo"/],
    ['s3://bucket/x?path_style=yes', /true or false/],
    ['s3://bucket/x?checksums=always', /when_required/],
  ];
  for (const [url, message] of cases) {
    assert.throws(() => parseRepoUrl(url), (err: Error & { fields?: Record<string, string> }) => {
      assert.match(err.message, message, url);
      assert.ok(err.fields && 'url' in err.fields);
      return true;
    });
  }
});
