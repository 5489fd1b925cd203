// WriteBack: an origin write that needs a copy-out is acknowledged at once and held; the
// origin file keeps the old data until the copy and its entry are committed (the
// copy-out rule), origin reads see the held data meanwhile, and a drain lands it.
import { MemoryDevice } from '../../../../src/block/memory-device';
import { Store } from '../../../../src/engine/store';
import { checkStore } from '../../../../src/engine/tools/check';

const CHUNK = 4096;

describe('write-back', () => {
  test('held writes reach the origin file only after their copy-out is committed', async () => {
    const before = Buffer.alloc(16 * CHUNK, 0x11);
    const origin = new MemoryDevice(Buffer.from(before));
    const cow = new MemoryDevice(8 << 20);
    await Store.format(origin, cow, { chunkSize: CHUNK });
    const store = await Store.open(origin, cow, { commitInterval: 0, writeBack: 8 * CHUNK });
    try {
      const v = store.volume();
      await v.create('s');
      const commits = store.status().commits;
      const data = Buffer.alloc(3 * CHUNK, 0x22);
      await v.write('origin', data, 2 * CHUNK + 100); // four chunks, none copied yet

      // acknowledged, held: the file is untouched, no commit was waited for
      expect(origin.image().equals(before)).toBe(true);
      expect(store.status().commits).toBe(commits);
      const seen = Buffer.alloc(16 * CHUNK);
      await v.read('origin', seen, 0);
      const expected = Buffer.from(before);
      data.copy(expected, 2 * CHUNK + 100);
      expect(seen.equals(expected)).toBe(true);

      await v.sync(); // drains: copy, commit, then the origin file
      expect(origin.image().equals(expected)).toBe(true);
      expect(store.status().commits).toBeGreaterThan(commits);
      expect(store.status().copyOuts).toBe(4);
      const snap = Buffer.alloc(16 * CHUNK);
      await v.read('s', snap, 0);
      expect(snap.equals(before)).toBe(true);
      expect(await checkStore(store.internals)).toEqual([]);
    } finally {
      await store.close();
    }
  });

  test('a write over a held chunk changes what is held; one copy is made', async () => {
    const origin = new MemoryDevice(Buffer.alloc(4 * CHUNK, 0x11));
    const cow = new MemoryDevice(8 << 20);
    await Store.format(origin, cow, { chunkSize: CHUNK });
    const store = await Store.open(origin, cow, { commitInterval: 0, writeBack: 4 * CHUNK });
    try {
      const v = store.volume();
      await v.create('s');
      await v.write('origin', Buffer.alloc(10, 0x33), 0);
      await v.write('origin', Buffer.alloc(5, 0x44), 5);
      await store.idle();
      const chunk = origin.image().subarray(0, CHUNK);
      expect(chunk.subarray(0, 5).every((b) => b === 0x33)).toBe(true);
      expect(chunk.subarray(5, 10).every((b) => b === 0x44)).toBe(true);
      expect(chunk.subarray(10).every((b) => b === 0x11)).toBe(true);
      expect(store.status().copyOuts).toBe(1);
      const snap = Buffer.alloc(CHUNK);
      await v.read('s', snap, 0);
      expect(snap.every((b) => b === 0x11)).toBe(true);
    } finally {
      await store.close();
    }
  });
});
