// Receives into this mount: a stream written into receive/<name> (or receive/<name>@origin,
// which then makes the origin the snapshot, as --become-origin) is read by the store's
// receive as it arrives. Each open of the file is one receive, its own session by file
// handle: writes must come in order; the fsync ends the input and answers how the receive
// went (0, or its errno, its message going to the status). A file closed without one ends
// the input too: a sender that was killed leaves a cut receive, kept for a resumed send.
// One receive of a snapshot at a time (the engine refuses a second with EBUSY).
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
  result: Promise<ReceiveSummary>;
  error: StoreError | null; // once the receive failed
}

export class Receives {
  private readonly sessions = new Map<number, Session>(); // by file handle

  constructor(
    private readonly volume: Volume,
    /** A receive that failed: its error, for the status (the fsync's caller gets the errno). */
    private readonly failed: (e: StoreError) => void,
    /** Throws (BUSY) while the origin may not be rolled back: asked as a receive@origin starts its rollback. */
    private readonly mayBecomeOrigin: () => void,
  ) {}

  /** Is file handle `fd` a receive? */
  /** Is a receive session open? */
  get underWay(): boolean {
    return this.sessions.size > 0;
  }

  has(fd: number): boolean {
    return this.sessions.has(fd);
  }

  /** Open handle `fd` of receive/<name>: a receive of snapshot `name` starts. */
  open(fd: number, name: string, becomeOrigin: boolean): void {
    const queue = new ByteQueue(BACKLOG);
    const result = receiveInto(this.volume, queue, { name, becomeOrigin, mayBecomeOrigin: this.mayBecomeOrigin });
    const s: Session = { queue, next: 0, error: null, result };
    result.then(
      (r) => debug('received %s: %d bytes', r.name, r.bytes),
      (e: unknown) => {
        s.error = StoreError.of(e);
        this.failed(s.error);
      },
    );
    // a receive refused early (a stream that does not fit) takes no more: writers must not wait
    result.finally(() => queue.end()).catch(() => undefined);
    this.sessions.set(fd, s);
  }

  /** Bytes at `pos` of handle `fd`'s stream; they must follow the ones before. Resolves once they are taken. */
  async write(fd: number, buf: Buffer, pos: number): Promise<void> {
    const s = this.sessions.get(fd)!;
    if (s.error) throw s.error;
    if (s.queue.isEnded) throw StoreError.invalid('the receive is over: nothing more is read');
    if (pos !== s.next)
      throw StoreError.invalid(`a stream is written in order: byte ${pos} came where ${s.next} was due`);
    s.next += buf.length;
    await s.queue.push(Buffer.from(buf));
  }

  /** The fsync of handle `fd`: the stream is all there; resolves when the receive is done, rejects if it failed. */
  async finish(fd: number): Promise<void> {
    const s = this.sessions.get(fd)!;
    s.queue.end();
    await s.result;
  }

  /** The release of handle `fd`: its input ends, and the session goes (the receive finishes on its own). */
  release(fd: number): void {
    const s = this.sessions.get(fd);
    if (!s) return;
    s.queue.end();
    this.sessions.delete(fd);
  }
}
