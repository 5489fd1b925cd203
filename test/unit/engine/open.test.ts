// Open refuses, with a typed error and one clear line, anything that is not a sound
// store for this origin; format refuses to overwrite a store unless forced.
import { MemoryDevice } from '../../../src/block/memory-device';
import { Store } from '../../../src/engine/store';
import { BLOCK_SIZE } from '../../../src/format/layout';
import { FORMAT_VERSION } from '../../../src/format/superblock';

const ORIGIN = 64 * 4096;

async function formatted(): Promise<{ origin: MemoryDevice; cow: Buffer }> {
  const origin = new MemoryDevice(ORIGIN);
  const cow = Buffer.alloc(2 << 20);
  await Store.format(origin, new MemoryDevice(cow), { chunkSize: 4096 });
  return { origin, cow };
}

describe('opening a store', () => {
  test('a COW of zeros or junk is not a store', async () => {
    const origin = new MemoryDevice(ORIGIN);
    await expect(Store.open(origin, new MemoryDevice(2 << 20))).rejects.toMatchObject({
      code: 'NOT_A_STORE',
      message: 'memory holds no snapfuse store',
    });
    await expect(Store.open(origin, new MemoryDevice(Buffer.alloc(2 << 20, 0x3c)))).rejects.toMatchObject({
      code: 'NOT_A_STORE',
    });
  });

  test('a store made for an origin of another size is refused', async () => {
    const { cow } = await formatted();
    await expect(Store.open(new MemoryDevice(ORIGIN + 4096), new MemoryDevice(cow))).rejects.toMatchObject({
      code: 'WRONG_ORIGIN',
      message: expect.stringMatching(/another origin.*size is 266240 bytes, the store's origin had 262144/),
    });
  });

  test('a store made for another file of the same size is refused', async () => {
    const origin = new MemoryDevice(ORIGIN);
    const cow = Buffer.alloc(2 << 20);
    await Store.format(origin, new MemoryDevice(cow), { originIdentity: { dev: 2049, ino: 12, rdev: 0 } });
    await expect(
      Store.open(origin, new MemoryDevice(cow), { originIdentity: { dev: 2049, ino: 13, rdev: 0 } }),
    ).rejects.toMatchObject({ code: 'WRONG_ORIGIN', message: expect.stringMatching(/not the same file/) });
    const store = await Store.open(origin, new MemoryDevice(cow), { originIdentity: { dev: 2049, ino: 12, rdev: 0 } });
    await store.close();
  });

  test('junk over one superblock still opens from the other', async () => {
    const { origin, cow } = await formatted();
    cow.fill(0x77, 0, BLOCK_SIZE);
    const store = await Store.open(origin, new MemoryDevice(cow));
    expect(store.volume().snapshots()).toEqual([]);
    await store.close();
  });

  test('a damaged version table is refused, naming the block', async () => {
    const { origin, cow } = await formatted();
    const store = await Store.open(origin, new MemoryDevice(cow));
    await store.volume().create('a');
    const root = store.internals.versionTable.root;
    await store.close();
    cow[root * BLOCK_SIZE + 300] ^= 1;
    await expect(Store.open(origin, new MemoryDevice(cow))).rejects.toMatchObject({
      code: 'CORRUPTION',
      message: expect.stringContaining(`block ${root}`),
    });
  });

  test('a store from a newer format is refused', async () => {
    const { origin, cow } = await formatted();
    // rewrite both superblocks with a higher format version, resealed
    const { chooseSuperblock, packSuperblock } = await import('../../../src/format/superblock');
    const sb = chooseSuperblock([cow.subarray(0, BLOCK_SIZE), cow.subarray(BLOCK_SIZE, 2 * BLOCK_SIZE)], 'cow');
    const newer = packSuperblock({ ...sb, formatVersion: FORMAT_VERSION + 1, seq: sb.seq + 1 });
    newer.copy(cow, ((sb.seq + 1) & 1) * BLOCK_SIZE);
    await expect(Store.open(origin, new MemoryDevice(cow))).rejects.toMatchObject({ code: 'NEWER_FORMAT' });
  });

  test('format refuses a COW that holds a store unless forced, and refuses bad chunk sizes', async () => {
    const { origin, cow } = await formatted();
    await expect(Store.format(origin, new MemoryDevice(cow))).rejects.toMatchObject({ code: 'EXISTS' });
    await Store.format(origin, new MemoryDevice(cow), { force: true, chunkSize: 8192 });
    const store = await Store.open(origin, new MemoryDevice(cow));
    expect(store.chunkSize).toBe(8192);
    await store.close();
    for (const chunkSize of [1024, 3 * 4096, 2 << 20]) {
      await expect(Store.format(origin, new MemoryDevice(1 << 22), { chunkSize })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
    }
    await expect(Store.format(origin, new MemoryDevice(64 * 4096))).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/too small/),
    });
  });
});
