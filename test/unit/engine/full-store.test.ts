// A full store and its policy: `retire` deletes the oldest scheduled snapshot (never a
// person's) until an origin write fits, then refuses; `invalidate` marks the snapshots
// that would need the copy invalid (they read EIO) and lets the write through; `refuse`
// fails the write with nothing changed. Every snapshot that stays valid reads as it was.
import { MemoryDevice } from '../../../src/block/memory-device';
import { Store, Volume } from '../../../src/engine/store';
import { checkStore } from '../../../src/engine/tools/check';
import { parseWhenFull } from '../../../src/engine/full-store';
import { isStoreError } from '../../../src/errors';

const CHUNK = 4096;
const CHUNKS = 32;
const SIZE = CHUNK * CHUNKS;

function pattern(seed: number): Buffer {
  const b = Buffer.alloc(SIZE);
  for (let i = 0; i < b.length; i += 4) b.writeUInt32LE((i * 2654435761 + seed * 40503) >>> 0, i);
  return b;
}

async function smallStore(cowChunks = 400) {
  const origin = new MemoryDevice(Buffer.from(pattern(0)));
  const cow = new MemoryDevice(cowChunks * CHUNK);
  await Store.format(origin, cow, { chunkSize: CHUNK });
  return { origin, cow, store: await Store.open(origin, cow, { commitInterval: 0 }) };
}

async function image(v: Volume, id: string): Promise<Buffer> {
  const buf = Buffer.alloc(SIZE);
  await v.read(id, buf, 0);
  return buf;
}

describe('a full store', () => {
  test("retire: the oldest scheduled snapshot goes so the write fits; a person's never; then refuse", async () => {
    const { store } = await smallStore();
    const v = store.volume();
    await v.setSchedule({ name: 'auto', every: 60, keep: 1000 });
    expect(store.full.policy).toBe('retire'); // the default with a schedule
    const model = new Map<string, Buffer>([['mine', pattern(0)]]);
    await v.create('mine');
    for (let i = 1; i <= 30; i++) {
      const id = `auto-${String(i).padStart(2, '0')}`;
      await v.create(id, 'origin', 'auto');
      model.set(id, pattern(i - 1));
      await v.write('origin', pattern(i), 0); // never refused
    }
    const left = v.snapshots().map((s) => s.id);
    expect(left).toContain('mine');
    expect(left.length).toBeLessThan(31); // some were retired, the oldest first
    const kept = left.filter((id) => id !== 'mine');
    expect(kept).toEqual([...kept].sort());
    expect(kept.at(-1)).toBe('auto-30');
    expect(Number(kept[0].slice(5))).toBeGreaterThan(1);
    for (const id of left) expect((await image(v, id)).equals(model.get(id)!)).toBe(true);
    expect((await image(v, 'origin')).equals(pattern(30))).toBe(true);
    expect(store.faults.last?.message).toMatch(/^the store is full: retired auto-\d+ \(taken by schedule auto\)/);
    expect(store.faults.last?.errno).toBe('ENOSPC');

    // none a schedule took is left: person's snapshots fill the store, and then it refuses
    for (const id of kept) await v.delete(id);
    await v.removeSchedule('auto');
    await store.full.setPolicy('retire');
    let refused: unknown = null;
    for (let i = 0; i < 20 && !refused; i++) {
      await v.create(`p${i}`).catch((e) => (refused = e));
      if (!refused) await v.write('origin', pattern(100 + i), 0).catch((e) => (refused = e));
    }
    expect(isStoreError(refused, 'NO_SPACE')).toBe(true);
    expect((await image(v, 'mine')).equals(pattern(0))).toBe(true);
    await store.idle();
    expect(await checkStore(store.internals)).toEqual([]);
    await store.close();
  });

  test('invalidate: the snapshots that need the copy turn invalid and read EIO; the write goes through', async () => {
    const { origin, cow, store } = await smallStore();
    const v = store.volume();
    await store.full.setPolicy('invalidate');
    const model = new Map<string, Buffer>();
    for (let i = 1; i <= 12; i++) {
      await v.create(`s${i}`);
      model.set(`s${i}`, pattern(i - 1));
      await v.write(`s${i}`, Buffer.alloc(CHUNK, i), 0); // a chunk of its own, which stays valid data
      model.get(`s${i}`)!.fill(i, 0, CHUNK);
      await v.write('origin', pattern(i), 0); // never refused
    }
    expect((await image(v, 'origin')).equals(pattern(12))).toBe(true);
    const invalid = v.snapshots().filter((s) => s.invalid);
    expect(invalid.length).toBeGreaterThan(0);
    for (const s of v.snapshots()) {
      if (s.invalid) {
        await expect(image(v, s.id)).rejects.toMatchObject({ code: 'IO_ERROR' });
        await expect(v.create(undefined, s.id)).rejects.toMatchObject({ code: 'IO_ERROR' });
      } else {
        expect((await image(v, s.id)).equals(model.get(s.id)!)).toBe(true);
      }
    }
    expect(store.faults.last?.message).toMatch(/^the store is full: snapshot .* marked invalid/);
    await store.idle();
    expect(await checkStore(store.internals)).toEqual([]);
    await store.close();

    // kept in the store: after a reopen they are still invalid, and they delete
    const again = await Store.open(new MemoryDevice(origin.image()), new MemoryDevice(cow.image()), {
      commitInterval: 0,
    });
    const w = again.volume();
    expect(again.full.setting).toBe('invalidate');
    expect(
      w
        .snapshots()
        .filter((s) => s.invalid)
        .map((s) => s.id),
    ).toEqual(invalid.map((s) => s.id));
    for (const s of invalid) await w.delete(s.id);
    await again.idle();
    expect(await checkStore(again.internals)).toEqual([]);
    await again.close();
  });

  test('refuse: the write fails with ENOSPC and nothing changes', async () => {
    const { store } = await smallStore();
    const v = store.volume();
    await store.full.setPolicy('refuse');
    let refused: unknown = null;
    let i = 0;
    const made: number[] = [];
    for (; i < 20 && !refused; i++) {
      // a create needs a little room too: near the end it may be refused first
      if (
        await v.create(`s${i}`).then(
          () => true,
          (e) => (isStoreError(e, 'NO_SPACE') ? false : Promise.reject(e)),
        )
      )
        made.push(i);
      await v.write('origin', pattern(i + 1), 0).catch((e) => (refused = e));
    }
    expect(isStoreError(refused, 'NO_SPACE')).toBe(true);
    expect((await image(v, 'origin')).equals(pattern(i - 1))).toBe(true); // the refused write changed nothing
    for (const k of made) expect((await image(v, `s${k}`)).equals(pattern(k))).toBe(true);
    expect(v.snapshots().some((s) => s.invalid)).toBe(false);
    await store.close();
  });

  test('policies are named and checked', () => {
    expect(parseWhenFull('retire')).toBe('retire');
    expect(() => parseWhenFull('delete-oldest')).toThrow(/bad policy "delete-oldest" for a full store/);
  });
});
