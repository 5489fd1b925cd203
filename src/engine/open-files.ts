// Opening a store by path: the lock, the devices and each origin's identity, with
// everything given back if any step fails. A store of one origin is given as its origin
// file and COW; a store of named origins as its COW alone, each origin found at the path
// recorded for it, or at one given in `paths` (an origin that moved).
import { resolve } from 'path';
import { FileDevice } from '../block/file-device';
import { lockStore, StoreLock } from '../block/store-lock';
import { StoreError } from '../errors';
import { FormatOptions, OpenOptions, OriginIdentity, OriginOpener, Store } from './store';

export interface OpenedStore {
  store: Store;
  /** Tell other openers this store serves the mount at `mountpoint`. */
  serving(mountpoint: string): Promise<void>;
  /** Tell other openers this store is being closed: they wait for it instead of refusing. */
  closing(): Promise<void>;
  close(): Promise<void>;
}

/** Where a store's files are. */
export interface StoreFiles {
  cow: string;
  /** The origin file of a store of one origin; absent for a store of named origins. */
  origin?: string;
  /** Named origins found elsewhere than recorded: name -> path. */
  paths?: ReadonlyMap<string, string>;
}

/** A named origin and its file. */
export interface OriginFile {
  name: string;
  path: string;
}

function identityOf(dev: FileDevice): OriginIdentity {
  const s = dev.stat;
  return s.isBlockDevice ? { dev: 0, ino: 0, rdev: s.rdev } : { dev: s.dev, ino: s.ino, rdev: 0 };
}

/** Run `fn` holding the store's lock and its COW open; both are given back if it fails. */
async function withCow<T>(
  cowPath: string,
  fn: (cow: FileDevice, lock: StoreLock, opened: FileDevice[]) => Promise<T>,
  lockWaitMs?: number,
): Promise<T> {
  const lock = await lockStore(cowPath, lockWaitMs);
  const opened: FileDevice[] = [];
  try {
    const cow = await FileDevice.open(cowPath);
    opened.push(cow);
    return await fn(cow, lock, opened);
  } catch (e) {
    await Promise.all(opened.map((d) => d.close().catch(() => undefined)));
    await lock.release();
    throw e;
  }
}

/** Open a named origin's file, saying which origin it is for when it cannot be. */
async function openOrigin(name: string, path: string): Promise<FileDevice> {
  if (!path) throw StoreError.invalid(`no path is recorded for origin ${name}: give it as --origin ${name}=<file>`);
  try {
    return await FileDevice.open(path);
  } catch (e) {
    const why = e instanceof StoreError ? e.message : String(e);
    throw new StoreError('WRONG_ORIGIN', `origin ${name}: ${why} (if it moved, give --origin ${name}=<file>)`);
  }
}

/** Format `cow` for one origin file, or for several named ones. */
export async function formatFiles(
  origins: string | OriginFile[],
  cowPath: string,
  opts: FormatOptions = {},
): Promise<void> {
  await withCow(cowPath, async (cow, lock, opened) => {
    if (typeof origins === 'string') {
      const dev = await FileDevice.open(origins);
      opened.push(dev);
      await Store.format(dev, cow, { ...opts, originIdentity: identityOf(dev) });
    } else {
      const named = [];
      for (const o of origins) {
        const device = await openOrigin(o.name, o.path);
        opened.push(device);
        named.push({ name: o.name, device, path: resolve(o.path), identity: identityOf(device) });
      }
      await Store.format(named, cow, opts);
    }
    await Promise.all(opened.map((d) => d.close()));
    await lock.release();
  });
}

/** `lockWaitMs`: how long to wait for another process to let go of the store. */
export async function openFiles(files: StoreFiles, opts: OpenOptions = {}, lockWaitMs?: number): Promise<OpenedStore> {
  return withCow(
    files.cow,
    async (cow, lock, opened) => {
      let store: Store;
      if (files.origin !== undefined) {
        const dev = await FileDevice.open(files.origin);
        opened.push(dev);
        store = await Store.open(dev, cow, { ...opts, originIdentity: identityOf(dev) });
      } else {
        const opener: OriginOpener = async (o) => {
          const device = await openOrigin(o.name, files.paths?.get(o.name) ?? o.path);
          opened.push(device);
          return { device, identity: identityOf(device) };
        };
        store = await Store.open(opener, cow, opts);
      }
      return {
        store,
        serving: (mountpoint) => lock.serving(mountpoint),
        closing: () => lock.closing(),
        close: async () => {
          try {
            await store.close();
          } finally {
            await lock.release();
          }
        },
      };
    },
    lockWaitMs,
  );
}

/**
 * Add origin `o` to the store on `files.cow` (which no mount holds). A store of one
 * origin names it as `first` and becomes a store of named origins.
 */
export async function addOriginFile(files: StoreFiles, o: OriginFile, first?: OriginFile): Promise<void> {
  const opened = await openFiles(files, { commitInterval: 0 });
  try {
    const device = await openOrigin(o.name, o.path);
    try {
      const named = { name: o.name, device, path: resolve(o.path), identity: identityOf(device) };
      await opened.store.addOrigin(named, first && { name: first.name, path: resolve(first.path) });
    } catch (e) {
      await device.close();
      throw e;
    }
  } finally {
    await opened.close();
  }
}

/** Does the file at `path` hold a store of named origins? False for anything else. */
export async function isNamedStore(path: string): Promise<boolean> {
  const dev = await FileDevice.open(path, { readOnly: true }).catch(() => null);
  if (!dev) return false;
  try {
    return await Store.isNamed(dev);
  } finally {
    await dev.close();
  }
}
