// A regular file or a block device, through positioned I/O on one FileHandle. Short
// reads and writes are retried until done; a read that hits end-of-file is an error.
import { promises as fs, constants, fdatasyncSync, readSync, writeSync } from 'fs';
import { StoreError } from '../errors';
import { BlockDevice, IoPriority } from './block-device';

/**
 * A foreground flush is a synchronous fdatasync while at most this much was written since
 * the last one (a database's commit: a few hundred µs, where the thread pool's trip cost a
 * third of a 4K write and its fdatasync here); more, or while a flush of the file is in the
 * thread pool (the kernel would make this one wait for it), goes through the thread pool,
 * so that flushing a large write does not hold the event loop (a GiB took 300 ms).
 */
export const SYNC_FLUSH_BYTES = 256 * 1024;

export class FileDevice implements BlockDevice {
  private unflushed = 0; // bytes written since the last flush began
  private flushing = 0; // flushes in the thread pool now: a synchronous one would wait for them

  private constructor(
    readonly name: string,
    private readonly fh: fs.FileHandle,
    readonly size: number,
    readonly stat: { dev: number; ino: number; rdev: number; isBlockDevice: boolean },
  ) {}

  static async open(path: string, opts: { readOnly?: boolean } = {}): Promise<FileDevice> {
    let fh: fs.FileHandle;
    try {
      fh = await fs.open(path, opts.readOnly ? constants.O_RDONLY : constants.O_RDWR);
    } catch (e) {
      throw StoreError.io(`cannot open ${path}: ${(e as Error).message}`, e);
    }
    try {
      const st = await fh.stat();
      if (!st.isFile() && !st.isBlockDevice()) throw StoreError.invalid(`${path} is not a file or block device`);
      const size = st.isBlockDevice() ? await blockDeviceSize(path, st.rdev) : st.size;
      return new FileDevice(path, fh, size, {
        dev: st.dev,
        ino: st.ino,
        rdev: st.rdev,
        isBlockDevice: st.isBlockDevice(),
      });
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  // Foreground reads and writes are synchronous calls: served from the page cache they
  // take a few microseconds, where a trip through libuv's thread pool costs some 30 on a
  // small machine (docs/bench.md, "levers"). Background ones, and flush, which waits for
  // the disk, go through the thread pool unless little is to be flushed.
  async read(buf: Buffer, pos: number, priority: IoPriority = 'foreground'): Promise<void> {
    let done = 0;
    while (done < buf.length) {
      let n: number;
      try {
        n =
          priority === 'foreground'
            ? readSync(this.fh.fd, buf, done, buf.length - done, pos + done)
            : (await this.fh.read(buf, done, buf.length - done, pos + done)).bytesRead;
      } catch (e) {
        throw StoreError.io(`read of ${this.name} at ${pos + done} failed: ${(e as Error).message}`, e);
      }
      if (n === 0) throw StoreError.io(`short read of ${this.name} at ${pos + done}: end of file`);
      done += n;
    }
  }

  async write(buf: Buffer, pos: number, priority: IoPriority = 'foreground'): Promise<void> {
    this.unflushed += buf.length;
    let done = 0;
    while (done < buf.length) {
      try {
        done +=
          priority === 'foreground'
            ? writeSync(this.fh.fd, buf, done, buf.length - done, pos + done)
            : (await this.fh.write(buf, done, buf.length - done, pos + done)).bytesWritten;
      } catch (e) {
        throw StoreError.io(`write of ${this.name} at ${pos + done} failed: ${(e as Error).message}`, e);
      }
    }
  }

  async flush(priority: IoPriority = 'background'): Promise<void> {
    const small = this.unflushed <= SYNC_FLUSH_BYTES && this.flushing === 0;
    this.unflushed = 0;
    try {
      if (priority === 'foreground' && small) return fdatasyncSync(this.fh.fd);
      this.flushing++;
      await this.fh.datasync().finally(() => this.flushing--);
    } catch (e) {
      throw StoreError.io(`sync of ${this.name} failed: ${(e as Error).message}`, e);
    }
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

// Node has no BLKGETSIZE64 ioctl; sysfs gives the size in 512-byte sectors.
async function blockDeviceSize(path: string, rdev: number): Promise<number> {
  const major = Math.floor(rdev / 256) & 0xfff;
  const minor = (rdev & 0xff) | ((Math.floor(rdev / 0x100000) & 0xfff) << 8);
  try {
    const sectors = await fs.readFile(`/sys/dev/block/${major}:${minor}/size`, 'utf8');
    return Number(sectors.trim()) * 512;
  } catch (e) {
    throw StoreError.io(`cannot read the size of block device ${path}`, e);
  }
}
