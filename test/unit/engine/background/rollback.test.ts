// Rollback, the service: a start that cannot get its space changes nothing and gives back
// what it took; a started one is in the superblock's record until its last chunk is
// copied, so a close part way through is resumed at the next open, and the origin ends
// with the snapshot's content; the origin is read and written while the copying runs.
import { MemoryDevice } from '../../../../src/block/memory-device';
import { Store } from '../../../../src/engine/store';
import { checkStore } from '../../../../src/engine/tools/check';
import { isStoreError } from '../../../../src/errors';

const CHUNK = 4096;
const CHUNKS = 2048; // eight batches of the job's

function pattern(seed: number): Buffer {
  const b = Buffer.alloc(CHUNKS * CHUNK);
  for (let i = 0; i < b.length; i += 4) b.writeUInt32LE((i * 2654435761 + seed) >>> 0, i);
  return b;
}

/** An origin whose writes, while `slow`, go one at a time and take a millisecond each. */
class SlowDevice extends MemoryDevice {
  slow = false;
  private queue: Promise<void> = Promise.resolve();

  override async write(buf: Buffer, pos: number): Promise<void> {
    if (this.slow) {
      const turn = this.queue.then(() => new Promise<void>((r) => setTimeout(r, 1)));
      this.queue = turn;
      await turn;
    }
    return super.write(buf, pos);
  }
}

/** A store on `origin` with snapshot "good" of pattern 1, and the origin at pattern 2 since. */
async function goodThenChanged(origin: MemoryDevice) {
  const cow = new MemoryDevice(64 << 20);
  await Store.format(origin, cow, { chunkSize: CHUNK });
  const store = await Store.open(origin, cow, { commitInterval: 0 });
  const v = store.volume();
  await v.write('origin', pattern(1), 0);
  await v.create('good');
  await v.write('origin', pattern(2), 0);
  return { store, v, cow };
}

describe('rollback service', () => {
  test('a start without room for its copying is refused and changes nothing', async () => {
    const origin = new MemoryDevice(CHUNKS * CHUNK);
    const cow = new MemoryDevice(64 << 20);
    await Store.format(origin, cow, { chunkSize: CHUNK });
    const store = await Store.open(origin, cow, { commitInterval: 0 });
    try {
      const v = store.volume();
      await v.create('before');
      await v.write('origin', pattern(2), 0); // every chunk of "before" is now a COW chunk
      await store.idle(); // the held writes' copies are made and their space taken
      const core = store.internals;
      const room = Math.floor((core.sm.counts().allocatable - core.space.metaReserve()) / core.chunkBlocks);
      const held = core.space.reserveChunks(room - 10); // too little left for 2048 copies
      const versions = core.versions.size;
      let refused: unknown = null;
      await v.rollback('before').catch((e) => (refused = e));
      expect(isStoreError(refused, 'NO_SPACE')).toBe(true);
      expect(core.record.rollback.value).toEqual({ source: 0, origin: 0, cursor: 0 });
      expect(core.versions.size).toBe(versions);
      expect(v.status().rollback).toBeNull();
      held.release();
      expect(core.space.hasRoomFor(room)).toBe(true); // the refused start kept none of it

      const now = Buffer.alloc(CHUNKS * CHUNK);
      await v.read('origin', now, 0);
      expect(now.equals(pattern(2))).toBe(true);
      expect(await checkStore(core)).toEqual([]);
    } finally {
      await store.close();
    }
  });

  test('a rollback closed part way through goes on at the next open', async () => {
    const origin = new MemoryDevice(CHUNKS * CHUNK);
    const made = await goodThenChanged(origin);
    const { v, cow } = made;
    let { store } = made;
    await v.rollback('good');
    const during = store.internals.record.rollback.value;
    expect(during.source).not.toBe(0); // committed before rollback() returned
    expect(v.status().rollback).toMatchObject({ id: 'good' });
    await store.close(); // stops after the batch it is in
    // the close came before the job's last batch: the record still names it
    const left = await Store.open(new MemoryDevice(Buffer.from(origin.image())), new MemoryDevice(cow.image()), {
      readOnly: true,
    });
    expect(left.internals.record.rollback.value.source).toBe(during.source);
    await left.close();

    store = await Store.open(new MemoryDevice(origin.image()), new MemoryDevice(cow.image()), { commitInterval: 0 });
    try {
      await store.idle();
      expect(store.internals.record.rollback.value).toEqual({ source: 0, origin: 0, cursor: 0 });
      expect(store.volume().status().rollback).toBeNull();
      const now = Buffer.alloc(CHUNKS * CHUNK);
      await store.volume().read('origin', now, 0);
      expect(now.equals(pattern(1))).toBe(true);
      expect(await checkStore(store.internals)).toEqual([]);
    } finally {
      await store.close();
    }
  });

  test('online: the origin reads as the snapshot and takes writes at once; the copy never overwrites them', async () => {
    const origin = new MemoryDevice(CHUNKS * CHUNK);
    const made = await goodThenChanged(origin);
    const { v, cow } = made;
    let { store } = made;
    await v.rollback('good');
    expect(v.status().rollback).toMatchObject({ id: 'good' }); // the copying has begun, not ended
    // the last chunks, which the job reaches last, and a piece of the first
    const tail = pattern(3).subarray(0, 64 * CHUNK);
    const head = pattern(4).subarray(0, 1000);
    await Promise.all([v.write('origin', tail, (CHUNKS - 64) * CHUNK), v.write('origin', head, 100)]);
    expect(v.status().rollback).not.toBeNull(); // written while it copied
    const want = Buffer.from(pattern(1));
    tail.copy(want, (CHUNKS - 64) * CHUNK);
    head.copy(want, 100);
    const now = Buffer.alloc(CHUNKS * CHUNK);
    await v.read('origin', now, 0);
    expect(now.equals(want)).toBe(true);
    await v.sync();
    await store.close(); // part way: the next open goes on with the copying
    store = await Store.open(new MemoryDevice(origin.image()), new MemoryDevice(cow.image()), { commitInterval: 0 });
    try {
      await store.idle();
      expect(store.volume().status().rollback).toBeNull();
      await store.volume().read('origin', now, 0);
      expect(now.equals(want)).toBe(true);
      const snap = Buffer.alloc(CHUNKS * CHUNK);
      await store.volume().read('good', snap, 0);
      expect(snap.equals(pattern(1))).toBe(true); // the snapshot stays as it was
      expect(await checkStore(store.internals)).toEqual([]);
    } finally {
      await store.close();
    }
  });

  test('online, with its target deleted while it copies: writes stay, the merged chunks of the source are freed', async () => {
    const origin = new SlowDevice(CHUNKS * CHUNK);
    const { store, v } = await goodThenChanged(origin);
    try {
      // chunks of the target's own, at the end, which the job reaches last
      const own = pattern(3).subarray(0, 64 * CHUNK);
      await v.write('good', own, (CHUNKS - 64) * CHUNK);
      origin.slow = true; // the job's writes one at a time, a millisecond each: reclaim finishes first
      await v.rollback('good');
      // the target goes: reclaim merges its own chunks into the rollback's hidden source
      await v.delete('good');
      while (store.internals.versions.hasNotLive && v.status().rollback) await new Promise((r) => setImmediate(r));
      expect(v.status().rollback).not.toBeNull(); // the merge came while it still copies
      origin.slow = false;
      const tail = pattern(5).subarray(0, 32 * CHUNK);
      await v.write('origin', tail, (CHUNKS - 32) * CHUNK);
      await v.sync();
      await store.idle();
      const want = Buffer.from(pattern(1));
      own.copy(want, (CHUNKS - 64) * CHUNK);
      tail.copy(want, (CHUNKS - 32) * CHUNK);
      const now = Buffer.alloc(CHUNKS * CHUNK);
      await v.read('origin', now, 0);
      expect(now.equals(want)).toBe(true);
      expect(await checkStore(store.internals)).toEqual([]); // no block leaked
    } finally {
      await store.close();
    }
  });

  test('a snapshot of the origin taken while a rollback copies shows the rolled-back content', async () => {
    const { store, v } = await goodThenChanged(new MemoryDevice(CHUNKS * CHUNK));
    try {
      // asked together: the create is queued behind the rollback's start
      await Promise.all([v.rollback('good'), v.create('after')]);
      const seen = Buffer.alloc(CHUNKS * CHUNK);
      await v.read('after', seen, 0);
      // taken before the rollback (the origin then) or after its copying (the snapshot's): never a mix
      expect(seen.equals(pattern(1)) || seen.equals(pattern(2))).toBe(true);
      await store.idle();
      expect(await checkStore(store.internals)).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
