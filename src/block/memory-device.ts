// The in-memory twin of FileDevice, for tests. `image()` exposes the bytes so crash and
// damage tests can inspect and alter them.
import { StoreError } from '../errors';
import { BlockDevice } from './block-device';

export class MemoryDevice implements BlockDevice {
  readonly name = 'memory';
  private readonly bytes: Buffer;
  private closed = false;

  constructor(sizeOrImage: number | Buffer) {
    this.bytes = typeof sizeOrImage === 'number' ? Buffer.alloc(sizeOrImage) : sizeOrImage;
  }

  get size(): number {
    return this.bytes.length;
  }

  image(): Buffer {
    return this.bytes;
  }

  async read(buf: Buffer, pos: number): Promise<void> {
    this.check(buf, pos);
    this.bytes.copy(buf, 0, pos, pos + buf.length);
  }

  async write(buf: Buffer, pos: number): Promise<void> {
    this.check(buf, pos);
    buf.copy(this.bytes, pos);
  }

  async flush(): Promise<void> {
    if (this.closed) throw StoreError.io('memory device is closed');
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private check(buf: Buffer, pos: number): void {
    if (this.closed) throw StoreError.io('memory device is closed');
    if (pos < 0 || pos + buf.length > this.bytes.length) {
      throw StoreError.io(`I/O at ${pos}+${buf.length} is past the end of the device (${this.bytes.length})`);
    }
  }
}
