/**
 * Runs `work` on items with at most `limit` in flight and hands results to `commit` in item order,
 * so memory stays bounded (limit × block size) while hashing and I/O overlap. The first failure
 * stops the intake, waits for what is in flight, and is rethrown.
 */
export async function orderedPipeline<I, R>(
  items: Iterable<I>,
  limit: number,
  work: (item: I) => Promise<R>,
  commit: (result: R, item: I) => void | Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  const inflight: Array<{ item: I; promise: Promise<R> }> = [];
  let failure: unknown = null;
  const settle = async (): Promise<void> => {
    const head = inflight.shift()!;
    try {
      const result = await head.promise;
      if (failure === null) await commit(result, head.item);
    } catch (err) {
      failure ??= err;
    }
  };
  for (const item of items) {
    if (failure !== null) break;
    if (signal?.aborted) {
      failure = signal.reason;
      break;
    }
    const promise = work(item);
    promise.catch(() => {}); // observed in settle(); avoids an unhandled rejection meanwhile
    inflight.push({ item, promise });
    if (inflight.length >= limit) await settle();
  }
  while (inflight.length > 0) await settle();
  if (failure === null && signal?.aborted) failure = signal.reason;
  if (failure !== null) throw failure;
}

/** Serializes async steps (e.g. reads, so the disk sees one sequential stream). */
export function serial(): <T>(step: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(step: () => Promise<T>): Promise<T> => {
    const next = tail.then(step, step);
    tail = next.catch(() => {});
    return next;
  };
}
