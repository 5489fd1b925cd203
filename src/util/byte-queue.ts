// Bytes handed over from one side (FUSE writes) to a reader that pulls them as an async
// iterable (a stream reader), with a bound: a writer waits while `limit` bytes are queued
// and not yet taken, so a fast writer cannot fill memory.

export class ByteQueue implements AsyncIterable<Buffer> {
  private readonly queued: Buffer[] = [];
  private bytes = 0;
  private ended = false;
  private wakeReader: (() => void) | null = null;
  private wakeWriters: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  /** Queue `buf` (kept as given: pass a copy if its memory is reused); resolves once there is room for more. */
  async push(buf: Buffer): Promise<void> {
    if (this.ended) throw new Error('pushed after the end');
    this.queued.push(buf);
    this.bytes += buf.length;
    this.wake();
    while (this.bytes > this.limit && !this.ended) await new Promise<void>((r) => this.wakeWriters.push(r));
  }

  /** No more bytes come: the reader sees the end once it has taken what is queued. */
  end(): void {
    this.ended = true;
    this.wake();
    this.releaseWriters();
  }

  get isEnded(): boolean {
    return this.ended;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (;;) {
      const next = this.queued.shift();
      if (next) {
        this.bytes -= next.length;
        if (this.bytes <= this.limit) this.releaseWriters();
        yield next;
      } else if (this.ended) return;
      else await new Promise<void>((r) => (this.wakeReader = r));
    }
  }

  private wake(): void {
    const w = this.wakeReader;
    this.wakeReader = null;
    w?.();
  }

  private releaseWriters(): void {
    const ws = this.wakeWriters;
    this.wakeWriters = [];
    for (const w of ws) w();
  }
}
