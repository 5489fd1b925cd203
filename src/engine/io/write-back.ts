// Origin writes acknowledged before their copy-out, as a disk with a volatile write
// cache does (dm-thin commits on flush or every second).
//
// An origin write to a chunk that must be copied out first does not wait for the copy:
// the write is held here, and the write is done. In the background, held chunks are
// copied out together (old data read from the origin file, which held writes have not
// touched, written to the COW and recorded), one commit makes all those copies durable,
// and only then does each chunk's new content reach the origin file. So the copy-out
// rule holds: the old data is never overwritten before its copy and the entry that
// finds it are durable. Later writes to a held chunk change what is held; origin reads
// see it. What is held is what a crash may lose, as with any disk cache: sync (fsync),
// create, delete, rollback and close drain it first.
//
// Bounded: a write that would hold a new chunk past the limit waits for room.
import createDebug from 'debug';
import { MAX_CHUNKS } from '../../format/records';
import type { Core } from '../metadata/core';
import type { Reservation } from '../space';
import { Faults } from '../faults';
import type { CopyOut } from './copy-out';
import type { BufferPool } from '../../util/buffer-pool';

const debug = createDebug('snapfuse:write-back');

/** Bytes of origin writes held for their copy-out, by default. */
export const DEFAULT_WRITE_BACK = 32 * 1024 * 1024;

/** How long held writes gather before their copy-out, unless the buffer fills or someone waits. */
export const GATHER_MS = 50;

/** One held chunk: the writes made to it, then, once copied out, its whole new content. */
interface Held {
  pieces: Array<{ offset: number; data: Buffer }>; // in order, until the old data is read
  pieceBytes: number;
  content: Buffer | null; // the whole chunk once copied out; later writes change it
  space: Reservation; // the COW chunk its copy will take
  // The span of the chunk that writes changed: only it goes to the origin file, whose
  // other bytes are the old data the content was made of (a 4K write does not rewrite 64K).
  // That rests on every writer of the origin file leaving a held chunk alone: each checks
  // `has`/`holdsAny` under the chunk's lock or in the same synchronous step as its write,
  // and the rollback job skips a chunk held while it copies (it carries the source's marker).
  from: number;
  to: number;
}

/** What the write-back works with. */
export type WriteBackParts = Pick<Core, 'chunks' | 'group' | 'origins' | 'chunkSize'>;

/** Held chunks copied out in one go: their locks are held meanwhile. */
const COPY_BATCH = 64;

/** Room set aside for one chunk: taken by `hold`, or given back by `release`. */
export class Room {
  private open = true;

  constructor(
    private readonly owner: WriteBack,
    readonly length: number,
  ) {}

  /** Give the room back unused (harmless once held). */
  release(): void {
    if (this.open) this.owner.giveBack(this.length);
    this.open = false;
  }

  /** The room now holds a chunk: it comes back when that chunk reaches the origin. */
  take(): void {
    this.open = false;
  }
}

export class WriteBack {
  private readonly held = new Map<number, Held>(); // by chunk key
  private bytes = 0; // held plus set aside
  private waiters: Array<() => void> = [];
  private running: Promise<void> | null = null;
  private hurry: (() => void) | null = null; // ends the current gathering
  private draining = 0; // callers of drain() waiting
  /** Why held writes could not reach the origin; writes and syncs report it from then on. */
  failure: Error | null = null;

  constructor(
    private readonly core: WriteBackParts,
    readonly limit: number,
    private readonly buffers: BufferPool,
    private readonly copyOut: CopyOut,
    private readonly faults: Faults,
  ) {}

  get size(): number {
    return this.held.size;
  }

  /** Is chunk `key` held? Ask under the chunk's lock. */
  has(key: number): boolean {
    return this.held.has(key);
  }

  /** Is any chunk of `length` bytes at `pos` of origin `o` held? */
  holdsAny(o: number, pos: number, length: number): boolean {
    if (this.held.size === 0) return false;
    const size = this.core.chunkSize;
    for (let c = Math.floor(pos / size); c * size < pos + length; c++)
      if (this.held.has(o * MAX_CHUNKS + c)) return true;
    return false;
  }

  /** Set aside room for a chunk of `length` bytes, waiting while the buffer is full. */
  async room(length: number): Promise<Room> {
    while (this.bytes + length > this.limit && this.bytes > 0) {
      if (this.failure) throw this.failure;
      this.hurry?.();
      await new Promise<void>((wake) => this.waiters.push(wake));
    }
    this.bytes += length;
    return new Room(this, length);
  }

  /** @internal for Room */
  giveBack(length: number): void {
    this.bytes -= length;
    this.wake();
  }

  /**
   * Hold a first write to a chunk that needs a copy-out, with the room and the COW
   * space that copy will take. Call under the chunk's exclusive lock.
   */
  hold(key: number, offset: number, data: Buffer, room: Room, space: Reservation): void {
    room.take();
    this.held.set(key, {
      pieces: [{ offset, data: this.keep(data) }],
      pieceBytes: data.length,
      content: null,
      space,
      from: offset,
      to: offset + data.length,
    });
    this.kick();
    if (this.bytes * 2 >= this.limit) this.hurry?.();
  }

  /** A copy of a write's data: a whole chunk's in a pooled buffer, which may become the chunk's content. */
  private keep(data: Buffer): Buffer {
    const copy = this.buffers.take(data.length);
    data.copy(copy);
    return copy;
  }

  /** A later write to a held chunk. Call under the chunk's exclusive lock. */
  write(key: number, offset: number, data: Buffer): void {
    const h = this.held.get(key)!;
    h.from = Math.min(h.from, offset);
    h.to = Math.max(h.to, offset + data.length);
    if (h.content) return void data.copy(h.content, offset);
    h.pieces.push({ offset, data: this.keep(data) });
    h.pieceBytes += data.length;
    // pieces beyond the chunk's room: copy it out now rather than keep more
    if (h.pieceBytes > this.core.chunkSize) this.hurry?.();
  }

  /**
   * What the held chunks overlapping `length` bytes at `pos` of origin `o` lay over the
   * origin file's data, copied now: a read of the file, then `apply`, gives the origin's
   * content, even if the chunks reach the file meanwhile (their buffers are reused).
   */
  overlay(o: number, pos: number, length: number): (buf: Buffer) => void {
    if (this.held.size === 0) return () => undefined;
    const size = this.core.chunkSize;
    const layers: Array<{ at: number; data: Buffer }> = [];
    for (let c = Math.floor(pos / size); c * size < pos + length; c++) {
      const h = this.held.get(o * MAX_CHUNKS + c);
      if (h?.content) {
        const from = Math.max(pos - c * size, 0);
        const to = Math.min(pos + length - c * size, h.content.length);
        layers.push({ at: c * size + from, data: Buffer.from(h.content.subarray(from, to)) });
      } else if (h) {
        // copied too: a piece's buffer may become the chunk's content, and go back to the pool
        for (const p of h.pieces) layers.push({ at: c * size + p.offset, data: Buffer.from(p.data) });
      }
    }
    return (buf) => {
      for (const { at, data } of layers) {
        const from = Math.max(at, pos);
        const to = Math.min(at + data.length, pos + buf.length);
        if (from < to) data.copy(buf, from - pos, from - at, to - at);
      }
    };
  }

  /** Resolves when everything held now has reached the origin file (not yet synced). */
  async drain(): Promise<void> {
    this.draining++;
    try {
      while (this.held.size > 0 || this.running) {
        if (this.failure) throw this.failure;
        this.kick();
        this.hurry?.();
        await this.running;
      }
    } finally {
      this.draining--;
    }
    if (this.failure) throw this.failure;
  }

  private kick(): void {
    if (!this.running && !this.failure && this.held.size > 0) {
      this.running = this.run()
        .catch((e: Error) => this.fail(e))
        .finally(() => (this.running = null));
    }
  }

  /**
   * Copy out the held chunks, commit, write them to the origin; again while any are held.
   * Two batches are in flight: while one batch's commit is written (the disk's time), the
   * next batch is copied (the CPU's time). A batch reaches the origin only after its own
   * commit, and after the batch before it.
   */
  private async run(): Promise<void> {
    let landing: Promise<void> = Promise.resolve();
    while (this.held.size > 0 && !this.failure) {
      await this.gather();
      const keys = [...this.held.keys()].filter((key) => !this.held.get(key)!.content);
      if (keys.length === 0) {
        await landing; // all held chunks are copied and wait for their commit
        continue;
      }
      try {
        for (let i = 0; i < keys.length; i += COPY_BATCH) await this.copy(keys.slice(i, i + COPY_BATCH));
      } catch (e) {
        this.fail(e as Error);
        break;
      }
      const committed = this.core.group.request();
      const before = landing;
      await before; // at most two batches in flight
      landing = committed
        .then(() => Promise.all(keys.map((key) => this.release(key))))
        .then(
          () => undefined,
          (e: Error) => this.fail(e),
        );
    }
    await landing;
  }

  private fail(e: Error): void {
    if (!this.failure) this.faults.record('held writes', e, true);
    this.failure ??= e;
    debug('held writes cannot reach the origin: %s', e.message);
    this.wake();
  }

  /**
   * Let held writes gather, so that one commit serves many: until the buffer is half
   * full, someone waits for room or for a drain, or GATHER_MS pass.
   */
  private async gather(): Promise<void> {
    if (this.bytes * 2 >= this.limit || this.waiters.length > 0 || this.draining > 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.hurry?.(), GATHER_MS);
      this.hurry = () => {
        clearTimeout(timer);
        this.hurry = null;
        resolve();
      };
    });
  }

  /** Copy out those of these chunks not yet copied; their writes join the old data. */
  private async copy(keys: number[]): Promise<void> {
    const { chunks } = this.core;
    // only held chunks' locks are taken here, and no holder of one waits for room: no deadlock
    const unlocks = await Promise.all(keys.map((key) => chunks.acquire(key, true)));
    try {
      const todo = keys.filter((key) => !this.held.get(key)!.content);
      const olds = await this.copyOut.run(todo.map((key) => ({ key, space: this.held.get(key)!.space })));
      for (const [i, key] of todo.entries()) {
        const h = this.held.get(key)!;
        let content = olds[i];
        for (const p of h.pieces) {
          // a whole chunk written over the old data: its buffer is the content, no copy
          if (p.offset === 0 && p.data.length === content.length) {
            this.buffers.give(content);
            content = p.data;
          } else p.data.copy(content, p.offset);
        }
        h.content = content;
        h.pieces = [];
        h.space.release();
      }
    } finally {
      for (const unlock of unlocks) unlock();
    }
  }

  private async release(key: number): Promise<void> {
    const { core } = this;
    const unlock = await core.chunks.acquire(key, true);
    try {
      const h = this.held.get(key)!;
      const content = h.content!;
      const chunk = key % MAX_CHUNKS;
      // in the background: the event loop serves requests while the thread pool writes
      const origin = core.origins.device(Math.floor(key / MAX_CHUNKS));
      await origin.write(content.subarray(h.from, h.to), chunk * core.chunkSize + h.from, 'background');
      this.held.delete(key);
      this.giveBack(content.length);
      this.buffers.give(content);
    } finally {
      unlock();
    }
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
