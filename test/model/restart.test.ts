// Background work survives a crash at any write: reclaim resumes or redoes its pass and
// never leaks or double-frees; a rollback that returned finishes at the next open.
import { MemoryDevice } from '../../src/block/memory-device';
import { Store } from '../../src/engine/store';
import { checkStore } from '../../src/engine/tools/check';
import { CaptureDevice } from '../helpers/capture-device';
import { Random } from '../helpers/random';

const CHUNK = 4096;
const ORIGIN = 32 * CHUNK;

async function readAll(store: Store, image: string): Promise<Buffer> {
  const buf = Buffer.alloc(ORIGIN);
  await store.volume().read(image, buf, 0);
  return buf;
}

/** A store with a few snapshots that differ from the origin and from each other. */
async function populated(seed: number) {
  const rnd = new Random(seed);
  const origin = new MemoryDevice(rnd.bytes(ORIGIN));
  const cowImage = Buffer.alloc(2 << 20);
  await Store.format(origin, new MemoryDevice(cowImage), { chunkSize: CHUNK });
  const cow = new CaptureDevice(cowImage, [origin]);
  const store = await Store.open(origin, cow, { commitInterval: 0, cacheSize: 16 * 4096 });
  for (const name of ['a', 'b', 'c', 'd']) {
    for (let i = 0; i < 8; i++) await store.volume().write('origin', rnd.bytes(3000), rnd.int(ORIGIN - 3000));
    await store.volume().create(name, rnd.next() < 0.5 || name === 'a' ? 'origin' : 'a');
    await store.volume().write(name, rnd.bytes(5000), rnd.int(ORIGIN - 5000));
  }
  await store.volume().sync();
  const expected = new Map<string, Buffer>();
  for (const image of ['origin', 'a', 'b', 'c', 'd']) expected.set(image, await readAll(store, image));
  return { origin, cow, store, expected };
}

async function reopenAndCheck(state: Buffer[], expected: Map<string, Buffer>, at: number): Promise<void> {
  const [cowImage, originImage] = state;
  const store = await Store.open(new MemoryDevice(Buffer.from(originImage)), new MemoryDevice(Buffer.from(cowImage)), {
    commitInterval: 0,
  });
  try {
    await store.idle();
    const problems = await checkStore(store.internals);
    if (problems.length) throw new Error(`crash at write ${at}: ${problems.slice(0, 3).join('; ')}`);
    const listed = store
      .volume()
      .snapshots()
      .map((s) => s.id);
    expect(listed.sort()).toEqual([...expected.keys()].filter((k) => k !== 'origin').sort());
    for (const [image, want] of expected) {
      if (!(await readAll(store, image)).equals(want)) throw new Error(`crash at write ${at}: ${image} changed`);
    }
  } finally {
    await store.close();
  }
}

/** Let the background work run while capturing every write, then crash at each. */
async function crashAtEveryWriteOfBackgroundWork(cow: CaptureDevice, store: Store, expected: Map<string, Buffer>) {
  cow.capturing = true;
  await store.idle();
  cow.capturing = false;
  await store.close();
  expect(cow.states.length).toBeGreaterThan(5);
  for (let i = 0; i < cow.states.length; i++) await reopenAndCheck(cow.states[i], expected, i);
}

describe('background work survives a crash at every write', () => {
  test('reclaim of deleted snapshots', async () => {
    const { cow, store, expected } = await populated(7);
    await store.volume().delete('b');
    await store.volume().delete('a');
    expected.delete('a');
    expected.delete('b');
    await crashAtEveryWriteOfBackgroundWork(cow, store, expected);
  });

  test('rollback', async () => {
    const { cow, store, expected } = await populated(11);
    await store.volume().rollback('c');
    expected.set('origin', expected.get('c')!);
    await crashAtEveryWriteOfBackgroundWork(cow, store, expected);
  });
});
