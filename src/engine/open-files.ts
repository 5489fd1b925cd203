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
  /** The COW and each origin file, as opened: what a new origin must not be. */
  readonly files: readonly Seen[];
  /**
   * Open origin `o`'s file and add it to the store, refusing a file the store has open
   * already (or its COW). A store of one origin names that one as `first`.
   */
  addOrigin(o: OriginFile, first?: OriginFile): Promise<void>;
  /** Remove origin `name` from the store (its file closed); its space returns in the background. */
  removeOrigin(name: string): Promise<void>;
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

const sameFile = (a: OriginIdentity, b: OriginIdentity) => a.dev === b.dev && a.ino === b.ino && a.rdev === b.rdev;

/** A file (same device and inode) or block device (same number) seen by a store, and what it is there. */
export interface Seen {
  what: string; // "origin a", "the origin", "the COW"
  path: string;
  identity: OriginIdentity;
}

/**
 * Refuse one file as two origins, or the COW as one of its own origins: writes to one
 * would be copy-outs of the other's data, or overwrite the store's own metadata.
 */
function assertDistinct(files: Seen[]): void {
  for (let i = 1; i < files.length; i++) {
    const twin = files.slice(0, i).find((f) => sameFile(f.identity, files[i].identity));
    if (!twin) continue;
    const [a, b] = twin.what === 'the COW' ? [files[i], twin] : [twin, files[i]];
    throw StoreError.invalid(
      b.what === 'the COW'
        ? `${a.what} (${a.path}) is the COW itself: a store cannot hold its own origin`
        : `${b.what} (${b.path}) is the same file as ${a.what} (${a.path})`,
    );
  }
}

const cowSeen = (cow: FileDevice, path: string): Seen => ({ what: 'the COW', path, identity: identityOf(cow) });

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
      assertDistinct([cowSeen(cow, cowPath), { what: 'the origin', path: origins, identity: identityOf(dev) }]);
      await Store.format(dev, cow, { ...opts, originIdentity: identityOf(dev) });
    } else {
      const named = [];
      for (const o of origins) {
        const device = await openOrigin(o.name, o.path);
        opened.push(device);
        named.push({ name: o.name, device, path: resolve(o.path), identity: identityOf(device) });
      }
      assertDistinct([cowSeen(cow, cowPath), ...named.map((o) => ({ what: `origin ${o.name}`, ...o }))]);
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
      const seen: Seen[] = [cowSeen(cow, files.cow)];
      if (files.origin !== undefined) {
        const dev = await FileDevice.open(files.origin);
        opened.push(dev);
        seen.push({ what: 'the origin', path: files.origin, identity: identityOf(dev) });
        assertDistinct(seen);
        store = await Store.open(dev, cow, { ...opts, originIdentity: identityOf(dev) });
      } else {
        const opener: OriginOpener = async (o) => {
          const path = files.paths?.get(o.name) ?? o.path;
          const device = await openOrigin(o.name, path);
          opened.push(device);
          seen.push({ what: `origin ${o.name}`, path, identity: identityOf(device) });
          assertDistinct(seen);
          return { device, identity: identityOf(device) };
        };
        store = await Store.open(opener, cow, opts);
      }
      return {
        store,
        files: seen,
        addOrigin: async (o, first) => {
          const device = await openOrigin(o.name, o.path);
          try {
            const named = { name: o.name, device, path: resolve(o.path), identity: identityOf(device) };
            // a store of one origin names its own as it gets a second
            const known = seen.map((f) =>
              first && f.what === 'the origin' ? { ...f, what: `origin ${first.name}` } : f,
            );
            const added = { what: `origin ${o.name}`, ...named };
            assertDistinct([...known, added]);
            await store.addOrigin(named, first && { name: first.name, path: resolve(first.path) });
            seen.splice(0, seen.length, ...known, added);
          } catch (e) {
            await device.close();
            throw e;
          }
        },
        removeOrigin: async (name) => {
          await store.removeOrigin(name);
          const i = seen.findIndex((f) => f.what === `origin ${name}`);
          if (i >= 0) seen.splice(i, 1);
        },
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
    await opened.addOrigin(o, first);
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
