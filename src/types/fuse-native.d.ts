// fuse-native 2.2.6 ships no types. Only what snapfuse uses is declared. A callback's
// single number is the result: >= 0 success (bytes for read/write), < 0 a -errno.
declare module 'fuse-native' {
  export interface Stat {
    mode: number;
    size: number;
    uid?: number;
    gid?: number;
    nlink?: number;
    mtime: Date;
    atime: Date;
    ctime: Date;
    blksize?: number;
    blocks?: number;
  }

  export interface StatFs {
    bsize: number;
    frsize: number;
    blocks: number;
    bfree: number;
    bavail: number;
    files: number;
    ffree: number;
    favail: number;
    fsid: number;
    flag: number;
    namemax: number;
  }

  export type ResultCallback = (result: number) => void;

  export interface Operations {
    init?(cb: ResultCallback): void;
    statfs?(path: string, cb: (err: number, stat?: StatFs) => void): void;
    getattr?(path: string, cb: (err: number, stat?: Stat) => void): void;
    fgetattr?(path: string, fd: number, cb: (err: number, stat?: Stat) => void): void;
    readdir?(path: string, cb: (err: number, names?: string[]) => void): void;
    open?(path: string, flags: number, cb: (err: number, fd?: number) => void): void;
    release?(path: string, fd: number, cb: ResultCallback): void;
    read?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: ResultCallback): void;
    write?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: ResultCallback): void;
    flush?(path: string, fd: number, cb: ResultCallback): void;
    fsync?(path: string, datasync: boolean, fd: number, cb: ResultCallback): void;
    truncate?(path: string, size: number, cb: ResultCallback): void;
    ftruncate?(path: string, fd: number, size: number, cb: ResultCallback): void;
    utimens?(path: string, atime: number, mtime: number, cb: ResultCallback): void;
    chmod?(path: string, mode: number, cb: ResultCallback): void;
    unlink?(path: string, cb: ResultCallback): void;
  }

  export interface FuseOptions {
    timeout?: number | false;
    force?: boolean;
    mkdir?: boolean;
    autoUnmount?: boolean;
    maxRead?: number;
    fsname?: string;
    subtype?: string;
    debug?: boolean;
  }

  class Fuse {
    constructor(mnt: string, ops: Operations, opts?: FuseOptions);
    mount(cb: (err: Error | null) => void): void;
    unmount(cb: (err: Error | null) => void): void;
    static unmount(mnt: string, cb: (err: Error | null) => void): void;
    static [errno: string]: unknown;
  }

  export = Fuse;
}
