// Runs s3rver (the only S3-compatible server installable here) for the backup tests, in a child
// process started with --openssl-legacy-provider: s3rver 3.7.1 makes ListObjectsV2 continuation
// tokens with DES, which OpenSSL 3 only offers through the legacy provider.
import S3rver from 's3rver';

const dir = process.argv[2];
if (!dir) throw new Error('usage: s3rver-main.ts DIRECTORY');
const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir, configureBuckets: [{ name: 'backups', configs: [] }] });
const info = (await server.run()) as { port: number };
process.stdout.write(JSON.stringify({ port: info.port }) + '\n');
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
