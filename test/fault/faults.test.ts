// Failing devices: an EIO from the origin or the COW during a write, a commit or a
// read comes back to the caller as EIO; the last commit stays intact on disk; what
// does not depend on the failed part keeps working.
import { MemoryDevice } from '../../src/block/memory-device';
import { Store } from '../../src/engine/store';
import { checkStore } from '../../src/engine/tools/check';
import { StoreError } from '../../src/errors';
import { Random } from '../helpers/random';

const CHUNK = 4096;
const ORIGIN = 32 * CHUNK;

/** A memory device that fails chosen calls with EIO, as a dying disk would. */
class FaultyDevice extends MemoryDevice {
  failWrites = false;
  failFlushes = false;
  failReads = false;

  override async write(buf: Buffer, pos: number): Promise<void> {
    if (this.failWrites) throw StoreError.io(`injected write error at ${pos}`);
    return super.write(buf, pos);
  }

  override async flush(): Promise<void> {
    if (this.failFlushes) throw StoreError.io('injected flush error');
    return super.flush();
  }

  override async read(buf: Buffer, pos: number): Promise<void> {
    if (this.failReads) throw StoreError.io(`injected read error at ${pos}`);
    return super.read(buf, pos);
  }
}

async function setup() {
  const rnd = new Random(3);
  const originBytes = rnd.bytes(ORIGIN);
  const cowBytes = Buffer.alloc(2 << 20);
  await Store.format(new MemoryDevice(originBytes), new MemoryDevice(cowBytes), { chunkSize: CHUNK });
  const origin = new FaultyDevice(originBytes);
  const cow = new FaultyDevice(cowBytes);
  const store = await Store.open(origin, cow, { commitInterval: 0, cacheSize: 16 * 4096 });
  await store.volume().create('a');
  await store.volume().write('a', rnd.bytes(9000), 5000);
  await store.volume().write('origin', rnd.bytes(CHUNK), 0);
  await store.volume().sync();
  const read = async (s: Store, id: string) => {
    const b = Buffer.alloc(ORIGIN);
    await s.volume().read(id, b, 0);
    return b;
  };
  const before = { origin: await read(store, 'origin'), a: await read(store, 'a') };
  const reopen = async () => {
    const s = await Store.open(new MemoryDevice(Buffer.from(originBytes)), new MemoryDevice(Buffer.from(cowBytes)), {
      commitInterval: 0,
    });
    expect(await checkStore(s.internals)).toEqual([]);
    return s;
  };
  return { origin, cow, store, before, read, reopen };
}

describe('failing devices', () => {
  // The first write to a chunk since a snapshot is held (acknowledged, as a disk's write
  // cache does) while its copy-out is made and committed: a failure of either comes with
  // the sync, and the origin file keeps its old data.
  test.each([
    ['a COW write', (d: FaultyDevice) => (d.failWrites = true)],
    ['a COW flush', (d: FaultyDevice) => (d.failFlushes = true)],
  ])('%s during a copy-out: EIO at sync, the origin not overwritten, the last commit intact', async (_what, fail) => {
    const { origin, cow, store, before, read, reopen } = await setup();
    fail(cow);
    // chunk 5 was never written since the snapshot: this write needs a copy-out
    await store.volume().write('origin', Buffer.alloc(CHUNK, 0xee), 5 * CHUNK);
    await expect(store.volume().sync()).rejects.toMatchObject({ errno: 'EIO' });
    // and the next write is refused: what it would hold could not reach the origin
    await expect(store.volume().write('origin', Buffer.alloc(CHUNK, 0xef), 6 * CHUNK)).rejects.toMatchObject({
      errno: 'EIO',
    });
    const file = Buffer.alloc(ORIGIN);
    await origin.read(file, 0);
    expect(file.equals(before.origin)).toBe(true);
    const again = await reopen();
    expect((await read(again, 'origin')).equals(before.origin)).toBe(true);
    expect((await read(again, 'a')).equals(before.a)).toBe(true);
    await again.close();
  });

  test('an origin write that fails is EIO and leaves the store serving', async () => {
    const { origin, store, before, read } = await setup();
    origin.failWrites = true;
    await expect(store.volume().write('origin', Buffer.alloc(100, 1), 0)).rejects.toMatchObject({ errno: 'EIO' });
    origin.failWrites = false;
    expect((await read(store, 'a')).equals(before.a)).toBe(true);
    await store.volume().write('origin', Buffer.alloc(100, 2), 0);
    await store.volume().create('b');
    await store.volume().sync();
    await store.close();
  });

  test('a COW read that fails is EIO for that read only', async () => {
    const { cow, store, before, read } = await setup();
    store.internals.tm.dropCache();
    cow.failReads = true;
    await expect(read(store, 'a')).rejects.toMatchObject({ errno: 'EIO' });
    cow.failReads = false;
    expect((await read(store, 'a')).equals(before.a)).toBe(true);
    await store.close();
  });

  test('a failed commit leaves the store failed until reopened, with one clear message', async () => {
    const { cow, store } = await setup();
    cow.failFlushes = true;
    await expect(store.volume().create('b')).rejects.toMatchObject({ errno: 'EIO' });
    cow.failFlushes = false;
    await expect(store.volume().create('c')).rejects.toMatchObject({
      code: 'FAILED',
      message: expect.stringMatching(/reopen the store/),
    });
  });

  // background work fails where no caller waits: the status says so, the store turns
  // read-only, and nothing is thrown at the process
  test('held writes that cannot reach the origin: the fault is the status, the store read-only', async () => {
    const { cow, store } = await setup();
    cow.failWrites = true;
    await store.volume().write('origin', Buffer.alloc(CHUNK, 0xee), 5 * CHUNK); // held for its copy-out
    await expect(store.idle()).rejects.toMatchObject({ errno: 'EIO' });
    cow.failWrites = false;
    const fault = store.volume().status().fault;
    expect(fault).toMatchObject({ errno: 'EIO', message: expect.stringMatching(/^read-only since held writes: /) });
    await expect(store.volume().create('b')).rejects.toMatchObject({ code: 'FAILED' });
  });

  test('rollback copying that fails: the origin answers EIO, the store is read-only, a reopen resumes', async () => {
    const { origin, store, before, reopen, read } = await setup();
    origin.failWrites = true; // the copying writes the snapshot's data to the origin
    await store.volume().rollback('a');
    await expect(store.idle()).rejects.toMatchObject({ errno: 'EIO' });
    const s = store.volume().status();
    expect(s.fault?.message).toMatch(/^read-only since the rollback to a: /);
    expect(s.rollback).toMatchObject({ id: 'a' });
    await expect(read(store, 'origin')).rejects.toMatchObject({ errno: 'EIO' });
    await expect(store.volume().create('b')).rejects.toMatchObject({ code: 'FAILED' });
    origin.failWrites = false;
    await store.close();
    const again = await reopen();
    await again.idle();
    expect((await read(again, 'origin')).equals(before.a)).toBe(true);
    expect((await read(again, 'a')).equals(before.a)).toBe(true);
    await again.close();
  });
});
