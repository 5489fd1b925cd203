// A mounted store: the FUSE session over the handlers, and its end. fuse-native is not
// told of a plain `umount`, so the daemon watches /proc/self/mountinfo for its mount
// and, once it is gone, commits, closes the store and lets go of the lock.
import createDebug from 'debug';
import { execFile } from 'child_process';
import { promises as fs } from 'fs';
import { resolve } from 'path';
import { promisify } from 'util';
import Fuse from 'fuse-native';
import { StoreError } from '../errors';
import { openFiles, OpenedStore, StoreFiles } from '../engine/open-files';
import { OpenOptions, Store } from '../engine/store';
import { StoreHandlers } from './router';
import { mounts } from '../util/mountinfo';
import { timedOperations } from '../util/request-times';

const debug = createDebug('snapfuse:mount');
const run = promisify(execFile);
export const FS_TYPE = 'fuse.snapfuse';
/** Largest request: libfuse 2.9 caps reads and writes at 128 KiB. */
export const MAX_REQUEST = 131072;
// fuse-native passes only the options it knows; the rest ride along in fsname, which is
// copied into -o verbatim. big_writes lifts the 4 KiB write size; attr_timeout=0 makes
// every stat of the control file see the current status length.
// SNAPFUSE_FUSE_OPTIONS adds more, for experiments with the kernel's knobs (scripts/ab.ts).
const FSNAME = `snapfuse,big_writes,max_write=${MAX_REQUEST},attr_timeout=0`;
const fsname = () => [FSNAME, process.env.SNAPFUSE_FUSE_OPTIONS].filter(Boolean).join(',');
const WATCH_MS = 200;

/** Mount points of snapfuse mounts. */
export async function snapfuseMounts(): Promise<Set<string>> {
  return new Set((await mounts()).filter((m) => m.fstype === FS_TYPE).map((m) => m.mountpoint));
}

async function isMountPoint(path: string): Promise<boolean> {
  return (await mounts()).some((m) => m.mountpoint === path);
}

export class Mount {
  private watcher: NodeJS.Timeout | null = null;
  private stopping: Promise<void> | null = null;
  private finished!: () => void;
  /** Resolves once the store is closed after the mount went away. */
  readonly done = new Promise<void>((r) => (this.finished = r));

  /** The store this mount serves. */
  get store(): Store {
    return this.opened.store;
  }

  private constructor(
    readonly mountpoint: string,
    private readonly opened: OpenedStore,
    private readonly fuse: Fuse,
    readonly handlers: StoreHandlers,
  ) {}

  static async start(files: StoreFiles, mountpoint: string, opts: OpenOptions = {}): Promise<Mount> {
    const mnt = resolve(mountpoint);
    const st = await fs.stat(mnt).catch(() => null);
    if (!st?.isDirectory()) throw StoreError.invalid(`mountpoint ${mnt} is not a directory`);
    if (await isMountPoint(mnt)) throw new StoreError('BUSY', `mountpoint ${mnt} is busy: something is mounted there`);
    const opened = await openFiles(files, opts);
    const handlers = new StoreHandlers(opened.store, opened);
    const fuse = new Fuse(mnt, timedOperations(handlers.operations()), {
      timeout: false,
      maxRead: MAX_REQUEST,
      fsname: fsname(),
      subtype: 'snapfuse',
    });
    try {
      // fuse-native turns on libfuse's debug mode (foreground, a trace of every request)
      // when DEBUG holds any '*'; it reads DEBUG synchronously inside mount()
      const debugEnv = process.env.DEBUG;
      if (debugEnv) process.env.DEBUG = debugEnv.replace(/\*/g, '');
      const mounted = promisify(fuse.mount.bind(fuse))();
      if (debugEnv !== undefined) process.env.DEBUG = debugEnv;
      await mounted;
    } catch (e) {
      await opened.close();
      throw new StoreError('IO_ERROR', `cannot mount at ${mnt}: ${(e as Error).message}`, { cause: e });
    }
    const m = new Mount(mnt, opened, fuse, handlers);
    await opened.serving(mnt); // once the mount is gone, openers wait for this daemon to close
    m.watch();
    handlers.startSchedules();
    debug('mounted %s at %s', files.cow, mnt);
    return m;
  }

  /** Unmount (as `fusermount -u` would: refused while images are in use, unless lazy). */
  async unmount(lazy = false): Promise<void> {
    await run('fusermount', [lazy ? '-uz' : '-u', this.mountpoint]).catch((e: Error & { stderr?: string }) => {
      throw new StoreError('BUSY', (e.stderr ?? e.message).trim().split('\n')[0]);
    });
    await this.shutdown();
  }

  private watch(): void {
    this.watcher = setInterval(() => {
      snapfuseMounts().then(
        (mounts) => {
          if (!mounts.has(this.mountpoint)) void this.shutdown();
        },
        (e) => debug('mountinfo: %s', e),
      );
    }, WATCH_MS);
  }

  /** The mount is gone: commit, close the store, release the lock. */
  shutdown(): Promise<void> {
    if (!this.stopping) {
      this.stopping = (async () => {
        if (this.watcher) clearInterval(this.watcher);
        debug('unmounted; closing the store');
        await this.opened.closing().catch((e) => debug('lock: %s', e));
        // fuse-native's own unmount is lazy and harmless once the kernel has let go
        await promisify(this.fuse.unmount.bind(this.fuse))().catch(() => undefined);
        await this.handlers.stopSchedules();
        await this.opened.close();
        this.finished();
      })();
    }
    return this.stopping;
  }
}
