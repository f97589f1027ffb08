import { PiDriveError } from '../core/errors.ts';

/** The whole of stdin, minus one trailing newline: `echo secret | pidrive user add bob --password-stdin`. */
export async function passwordFromStdin(stdin: NodeJS.ReadStream = process.stdin): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** Reads a line from the terminal without echoing it. */
function promptHidden(question: string, stdin: NodeJS.ReadStream, out: NodeJS.WriteStream): Promise<string> {
  return new Promise((resolve, reject) => {
    out.write(question);
    let value = '';
    const done = (err?: Error): void => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      out.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (data: Buffer): void => {
      for (const ch of data.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new PiDriveError('bad_request', 'canceled'));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}

/** A new password: from stdin with --password-stdin, else typed twice at a terminal prompt. */
export async function readNewPassword(fromStdin: boolean): Promise<string> {
  if (fromStdin) return passwordFromStdin();
  if (!process.stdin.isTTY) {
    throw new PiDriveError('bad_request', 'no terminal to ask for the password; pipe it in with --password-stdin', { password: 'missing' });
  }
  const first = await promptHidden('New password: ', process.stdin, process.stderr);
  const second = await promptHidden('Repeat it: ', process.stdin, process.stderr);
  if (first !== second) throw new PiDriveError('bad_request', 'the two passwords differ', { password: 'the two entries differ' });
  return first;
}
