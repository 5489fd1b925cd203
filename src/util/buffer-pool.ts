// Chunk-sized buffers, kept for reuse. Each copy-out reads a whole chunk that lives
// until the chunk reaches the origin; allocating them anew costs the collector much
// (external memory) at thousands of copy-outs a second. Bounded: at most `max` kept.

export class BufferPool {
  private readonly free: Buffer[] = [];

  constructor(
    readonly size: number,
    private readonly max: number,
  ) {}

  /** A buffer of `length` bytes (contents undefined). */
  take(length: number): Buffer {
    if (length !== this.size) return Buffer.allocUnsafe(length);
    return this.free.pop() ?? Buffer.allocUnsafe(length);
  }

  /** Give back a buffer nothing refers to any more. */
  give(buf: Buffer): void {
    if (buf.length === this.size && buf.byteOffset === 0 && this.free.length < this.max) this.free.push(buf);
  }
}
