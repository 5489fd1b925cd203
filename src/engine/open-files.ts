// Opening a store by path: the lock, the devices and the origin's identity, with
// everything given back if any step fails.
import { FileDevice } from '../block/file-device';
import { lockStore, StoreLock } from '../block/store-lock';
import { FormatOptions, OpenOptions, OriginIdentity, Store } from './store';

export interface OpenedStore {
  store: Store;
  close(): Promise<void>;
}

function identityOf(dev: FileDevice): OriginIdentity {
  const s = dev.stat;
  return s.isBlockDevice ? { dev: 0, ino: 0, rdev: s.rdev } : { dev: s.dev, ino: s.ino, rdev: 0 };
}

async function withDevices<T>(
  originPath: string,
  cowPath: string,
  fn: (origin: FileDevice, cow: FileDevice, lock: StoreLock) => Promise<T>,
  lockWaitMs?: number,
): Promise<T> {
  const lock = await lockStore(cowPath, lockWaitMs);
  const opened: FileDevice[] = [];
  try {
    const origin = await FileDevice.open(originPath);
    opened.push(origin);
    const cow = await FileDevice.open(cowPath);
    opened.push(cow);
    return await fn(origin, cow, lock);
  } catch (e) {
    await Promise.all(opened.map((d) => d.close().catch(() => undefined)));
    await lock.release();
    throw e;
  }
}

export async function formatFiles(originPath: string, cowPath: string, opts: FormatOptions = {}): Promise<void> {
  await withDevices(originPath, cowPath, async (origin, cow, lock) => {
    await Store.format(origin, cow, { ...opts, originIdentity: identityOf(origin) });
    await Promise.all([origin.close(), cow.close()]);
    await lock.release();
  });
}

/** `lockWaitMs`: how long to wait for another process to let go of the store. */
export async function openFiles(
  originPath: string,
  cowPath: string,
  opts: OpenOptions = {},
  lockWaitMs?: number,
): Promise<OpenedStore> {
  return withDevices(
    originPath,
    cowPath,
    async (origin, cow, lock) => {
      const store = await Store.open(origin, cow, { ...opts, originIdentity: identityOf(origin) });
      return {
        store,
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
