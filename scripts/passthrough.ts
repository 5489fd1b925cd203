// A bare fuse-native passthrough of one file, with the same mount options as snapfuse:
// the ceiling a Node FUSE filesystem can reach, for the benchmarks to compare with. By
// default its reads and writes are synchronous (`fs.readSync`/`fs.writeSync` in the
// callback, as snapfuse's hot path is): the binding's real ceiling, 1.2-2x the libuv
// thread pool's here (issue 21). `--async` serves through `fs.promises` instead.
//
// `--options a,b` adds FUSE options to the mount's (scripts/ab.ts tries the kernel's knobs).
//
//   npx tsx scripts/passthrough.ts <file> <mountpoint> [--async] [--options a,b]   (serves <mountpoint>/file.img)
import { promises as fs, constants, fdatasyncSync, readSync, writeSync } from 'fs';
import { constants as os } from 'os';
import Fuse from 'fuse-native';
import { timedOperations } from '../src/util/request-times';

const [file, mnt] = process.argv.slice(2);
const ASYNC = process.argv.includes('--async');
const EXTRA = process.argv.includes('--options') ? process.argv[process.argv.indexOf('--options') + 1] : '';
const E = (name: keyof typeof os.errno) => -os.errno[name];

async function main(): Promise<void> {
  const fh = await fs.open(file, constants.O_RDWR);
  const size = (await fh.stat()).size;
  const now = new Date();
  const dir = { mode: 0o040755, size: 4096, mtime: now, atime: now, ctime: now, nlink: 2 };
  const img = { mode: 0o100600, size, mtime: now, atime: now, ctime: now };
  const fuse = new Fuse(
    mnt,
    timedOperations({
      getattr: (path, cb) => (path === '/' ? cb(0, dir) : path === '/file.img' ? cb(0, img) : cb(E('ENOENT'))),
      readdir: (path, cb) => (path === '/' ? cb(0, ['file.img']) : cb(E('ENOTDIR'))),
      open: (_path, _flags, cb) => cb(0, 1),
      release: (_path, _fd, cb) => cb(0),
      read: (_path, _fd, buf, len, pos, cb) => {
        const n = Math.max(0, Math.min(len, size - pos));
        if (!ASYNC) return cb(sync(() => readSync(fh.fd, buf, 0, n, pos)));
        fh.read(buf, 0, n, pos).then(
          (r) => cb(r.bytesRead),
          () => cb(E('EIO')),
        );
      },
      write: (_path, _fd, buf, len, pos, cb) => {
        if (!ASYNC) return cb(sync(() => writeSync(fh.fd, buf, 0, len, pos)));
        fh.write(buf, 0, len, pos).then(
          (r) => cb(r.bytesWritten),
          () => cb(E('EIO')),
        );
      },
      fsync: (_path, _d, _fd, cb) => {
        if (!ASYNC) return cb(sync(() => (fdatasyncSync(fh.fd), 0)));
        fh.datasync().then(
          () => cb(0),
          () => cb(E('EIO')),
        );
      },
      truncate: (_path, _size, cb) => cb(0),
      ftruncate: (_path, _fd, _size, cb) => cb(0),
    }),
    {
      timeout: false,
      maxRead: 131072,
      fsname: ['passthrough,big_writes,max_write=131072,attr_timeout=0', EXTRA].filter(Boolean).join(','),
      subtype: 'passthrough',
    },
  );
  fuse.mount((err) => {
    if (err) {
      console.error(`passthrough: ${err.message}`);
      process.exit(1);
    }
    console.log('ready');
  });
  const stop = () => fuse.unmount(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/** A synchronous call's result, or EIO. */
function sync(call: () => number): number {
  try {
    return call();
  } catch {
    return E('EIO');
  }
}

void main();
