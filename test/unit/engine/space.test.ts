// Space: a write reserves every chunk it may need before it changes anything, so it gets
// them all or NO_SPACE; the metadata reserve is never handed to data; what a reservation
// does not take goes back.
import { MemoryDevice } from '../../../src/block/memory-device';
import { BLOCK_SIZE } from '../../../src/format/layout';
import { Store } from '../../../src/engine/store';
import { isStoreError } from '../../../src/errors';

const CHUNK = 64 * 1024;

async function opened(): Promise<Store> {
  const origin = new MemoryDevice(16 * CHUNK);
  const cow = new MemoryDevice(8 << 20);
  await Store.format(origin, cow, { chunkSize: CHUNK });
  return Store.open(origin, cow, { commitInterval: 0 });
}

describe('space', () => {
  test('reservations take what data may use, no more, and give back what they leave', async () => {
    const store = await opened();
    try {
      const { space, sm } = store.internals;
      const chunkBlocks = CHUNK / BLOCK_SIZE;
      const room = Math.floor((sm.counts().allocatable - space.metaReserve()) / chunkBlocks);
      expect(room).toBeGreaterThan(4);
      expect(space.hasRoomFor(room)).toBe(true);
      expect(space.hasRoomFor(room + 1)).toBe(false);

      const all = space.reserveChunks(room);
      expect(space.hasRoomFor(1)).toBe(false);
      let refused: unknown = null;
      try {
        space.reserveChunks(1);
      } catch (e) {
        refused = e;
      }
      expect(isStoreError(refused, 'NO_SPACE')).toBe(true);

      // a piece split off and released returns to the pool; the rest stays promised
      const piece = all.split(2 * chunkBlocks);
      piece.release();
      expect(space.hasRoomFor(2)).toBe(true);
      expect(space.hasRoomFor(3)).toBe(false);

      // a chunk allocated out of a reservation is taken from it, not from the pool again
      const before = sm.counts().allocatable;
      const block = await store.internals.meta.run(() => space.allocChunk(all));
      expect(block).toBeGreaterThanOrEqual(0);
      expect(sm.counts().allocatable).toBe(before - chunkBlocks);
      expect(space.hasRoomFor(2)).toBe(true); // what the reservation held still counts as promised
      expect(() => all.take((room - 2) * chunkBlocks)).toThrow('took more space than it reserved');
      all.release();
      expect(space.hasRoomFor(room - 1)).toBe(true);
      expect(space.hasRoomFor(room)).toBe(false); // the chunk allocated above is used now
      await store.internals.meta.run(async () => store.internals.sm.freeChunk(block));
    } finally {
      await store.close();
    }
  });
});
