// Receives into this mount: a stream written into receive/<name> (or receive/<name>@origin,
// which then makes the origin the snapshot, as --become-origin) is read by the store's
// receive as it arrives. Writes must come in order; the fsync of the file ends the input
// and answers how the receive went (0, or its errno, its message going to the status).
// A file closed without one ends the input too: a sender that was killed leaves a cut
// receive, kept for a resumed send.
import createDebug from 'debug';
import { StoreError } from '../errors';
import type { Volume } from '../engine/store';
import { receiveInto, ReceiveSummary } from '../engine/tools/replication';
import { ByteQueue } from '../util/byte-queue';

const debug = createDebug('snapfuse:receive');

/** Bytes written but not yet read by the receive: a writer waits beyond this. */
const BACKLOG = 4 * 1024 * 1024;

interface Session {
  queue: ByteQueue;
  next: number; // the offset the next write must be at
  opens: number;
  result: Promise<ReceiveSummary>;
  error: StoreError | null; // once the receive failed
}

export class Receives {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly volume: Volume,
    /** A receive that failed: its error, for the status (the fsync's caller gets the errno). */
    private readonly failed: (e: StoreError) => void,
  ) {}

  /** Is a receive under way through `path`? */
  has(path: string): boolean {
    return this.sessions.has(path);
  }

  /** An open of `path` for writing: the first starts a receive of snapshot `name`. */
  open(path: string, name: string, becomeOrigin: boolean): void {
    const running = this.sessions.get(path);
    if (running) return void running.opens++;
    const queue = new ByteQueue(BACKLOG);
    const result = receiveInto(this.volume, queue, { name, becomeOrigin });
    const s: Session = { queue, next: 0, opens: 1, error: null, result };
    result.then(
      (r) => debug('received %s: %d bytes', r.name, r.bytes),
      (e: unknown) => {
        s.error = StoreError.of(e);
        this.failed(s.error);
      },
    );
    // a receive refused early (a stream that does not fit) takes no more: writers must not wait
    result.finally(() => queue.end()).catch(() => undefined);
    this.sessions.set(path, s);
  }

  /** Bytes at `pos` of the stream; they must follow the ones before. Resolves once they are taken. */
  async write(path: string, buf: Buffer, pos: number): Promise<void> {
    const s = this.sessions.get(path);
    if (!s) throw StoreError.invalid('the receive file is not open');
    if (s.error) throw s.error;
    if (s.queue.isEnded) throw StoreError.invalid('the receive is over: nothing more is read');
    if (pos !== s.next)
      throw StoreError.invalid(`a stream is written in order: byte ${pos} came where ${s.next} was due`);
    s.next += buf.length;
    await s.queue.push(Buffer.from(buf));
  }

  /** The fsync of `path`: the stream is all there; resolves when the receive is done, rejects if it failed. */
  async finish(path: string): Promise<void> {
    const s = this.sessions.get(path);
    if (!s) return;
    s.queue.end();
    await s.result;
  }

  /** The release of `path`: the last one ends the input, and the session goes once the receive is done. */
  release(path: string): void {
    const s = this.sessions.get(path);
    if (!s || --s.opens > 0) return;
    s.queue.end();
    s.result.catch(() => undefined).finally(() => this.sessions.delete(path));
  }
}
