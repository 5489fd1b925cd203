// `snapfuse diff`, `send` and `receive`: offline, on a store no mount holds (the lock
// says so), like `check`; `diff` also through a mount, from its diff/ directory. Streams
// go to stdout and come from stdin, never a terminal; progress goes to stderr when that is one.
import { promises as fs } from 'fs';
import { join } from 'path';
import { StoreError } from '../errors';
import { openFiles, OpenedStore, StoreFiles } from '../engine/open-files';
import { Progress, receiveSnapshot, ReceiveSummary, sendSnapshot, SendSummary } from '../engine/replication';
import { ORIGIN_IMAGE } from '../engine/store';
import { parseRanges } from '../control/diff';
import { parseStatus } from '../control/status';
import { readStatus } from './control-client';
import { progressReporter } from './progress';

const MiB = 2 ** 20;

async function withStore<T>(files: StoreFiles, readOnly: boolean, fn: (o: OpenedStore) => Promise<T>) {
  // a mount just unmounted may still be committing: wait for it a few seconds, as DESIGN.md says
  const opened = await openFiles(files, { readOnly, commitInterval: 0 });
  try {
    return await fn(opened);
  } finally {
    await opened.close();
  }
}

/** Progress on stderr; `total` false: the size is not known ahead (a stream coming in), bytes only. */
function progressBar(what: string, total: boolean): { progress: Progress; stop: () => void } {
  const mib = (n: number) => (n / MiB).toFixed(1);
  const reporter = progressReporter(what, (done, all) => (total ? `${mib(done)}/${mib(all)} MiB` : `${mib(done)} MiB`));
  return { progress: (done, all) => reporter.update(total ? done : 0, total ? all : 0), stop: () => reporter.stop() };
}

export interface DiffResult {
  from: string;
  to: string;
  chunkSize: number;
  bytes: number;
  ranges: Array<{ offset: number; length: number }>;
}

function diffResult(from: string, to: string, chunkSize: number, ranges: DiffResult['ranges']): DiffResult {
  return { from, to, chunkSize, bytes: ranges.reduce((n, r) => n + r.length, 0), ranges };
}

export async function runDiff(
  files: StoreFiles,
  origin: string | undefined,
  from: string,
  to: string,
): Promise<DiffResult> {
  return withStore(files, true, async ({ store }) => {
    const ranges = [];
    for await (const r of store.volume(origin).diff(from, to)) ranges.push(r);
    return diffResult(from, to, store.chunkSize, ranges);
  });
}

/** The same, through a mount: the daemon computes it, and <mountpoint>/diff/<from>..<to> holds it. */
export async function runDiffMounted(mountpoint: string, from: string, to: string): Promise<DiffResult> {
  const status = parseStatus(await readStatus(mountpoint));
  for (const id of [from, to]) {
    if (id !== ORIGIN_IMAGE && !status.snapshots.some((s) => s.id === id)) {
      throw new StoreError('NOT_FOUND', `no snapshot ${id}`);
    }
  }
  const text = await fs.readFile(join(mountpoint, 'diff', `${from}..${to}`), 'utf8');
  return diffResult(from, to, status.chunkSize, parseRanges(text));
}

/** Write to stdout, waiting while the pipe is full; a reader gone away is an error. */
function stdoutSink(): (buf: Buffer) => Promise<void> {
  return (buf) =>
    new Promise((resolve, reject) => {
      const onError = (e: Error) => reject(StoreError.io(`cannot write the stream: ${e.message}`, e));
      process.stdout.once('error', onError);
      process.stdout.write(buf, (e) => {
        process.stdout.off('error', onError);
        if (e) onError(e);
        else resolve();
      });
    });
}

export async function runSend(
  files: StoreFiles,
  origin: string | undefined,
  snapshot: string,
  base?: string,
): Promise<SendSummary> {
  if (process.stdout.isTTY)
    throw StoreError.invalid('the stream would go to a terminal: redirect it to a file or pipe');
  const bar = progressBar(`send ${snapshot}`, true);
  try {
    return await withStore(files, true, ({ store }) =>
      sendSnapshot(store, snapshot, stdoutSink(), { base, origin, progress: bar.progress }),
    );
  } finally {
    bar.stop();
  }
}

export async function runReceive(
  files: StoreFiles,
  origin: string | undefined,
  name: string | undefined,
  becomeOrigin: boolean,
): Promise<ReceiveSummary> {
  if (process.stdin.isTTY) throw StoreError.invalid('no stream on stdin: pipe `snapfuse send` into it');
  const bar = progressBar('receive', false);
  try {
    return await withStore(files, false, async ({ store }) => {
      const received = await receiveSnapshot(store, process.stdin, {
        name,
        becomeOrigin,
        origin,
        progress: bar.progress,
      });
      if (becomeOrigin) await store.idle(); // the rollback's copying, done before the store closes
      return received;
    });
  } finally {
    bar.stop();
  }
}

export function describeReceive(r: ReceiveSummary, becomeOrigin: boolean): string {
  const what = r.base ? `the delta from ${r.base}` : 'a whole image';
  const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;
  const origin = becomeOrigin ? '; the origin is now this snapshot' : '';
  return `received ${r.name} (${what}): ${mib(r.bytes)} in the stream, ${mib(r.written)} written${origin}`;
}
