// A backup in its own process, so a test can SIGKILL it at a chosen moment. Prints one JSON line
// per progress step and {"snapshot": id} at the end. It holds still for up to 10 s once it starts
// committing (the index and manifest PUTs take milliseconds), so a kill lands there on any machine.
import { backupImage } from '../../../bridge/backup/backup-image.ts';
import { openRepository } from '../../../bridge/backup/repo-url.ts';

const [url, image, drive] = process.argv.slice(2) as [string, string, string];
const repo = await openRepository(url, { credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
const manifest = await backupImage({
  repo,
  imagePath: image,
  driveId: drive,
  workers: 1,
  onProgress: (p) => {
    process.stdout.write(JSON.stringify(p) + '\n');
    if (p.phase === 'committing') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10_000);
  },
});
process.stdout.write(JSON.stringify({ snapshot: manifest.id }) + '\n');
await repo.close();
