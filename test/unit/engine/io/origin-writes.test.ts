// An origin write with no snapshot goes to the origin file as the passthrough's would: one
// write of the whole request, whatever chunks it spans; with a snapshot it is split at
// chunks and held for their copy-outs, and once the last snapshot is gone it is whole again.
// A held chunk reaches the file as the span its writes changed, not as the whole chunk.
import { MemoryDevice } from '../../../../src/block/memory-device';
import { Store } from '../../../../src/engine/store';

const CHUNK = 4096;

/** A memory device that counts its writes. */
class CountingDevice extends MemoryDevice {
  writes: Array<{ pos: number; length: number }> = [];

  override async write(buf: Buffer, pos: number): Promise<void> {
    this.writes.push({ pos, length: buf.length });
    return super.write(buf, pos);
  }
}

/** A store on `origin` and `cow`, given to `body`, and closed after it. */
async function withStore(
  origin: CountingDevice,
  cow: MemoryDevice,
  body: (store: Store) => Promise<void>,
): Promise<void> {
  await Store.format(origin, cow, { chunkSize: CHUNK });
  const store = await Store.open(origin, cow, { commitInterval: 0 });
  try {
    await body(store);
  } finally {
    await store.close();
  }
}

test('with no snapshot, an origin write spanning chunks is one write of the file; with one, the chunks are copied first', async () => {
  const origin = new CountingDevice(Buffer.alloc(16 * CHUNK, 0x11));
  await withStore(origin, new MemoryDevice(8 << 20), async (store) => {
    const v = store.volume();
    const data = Buffer.alloc(3 * CHUNK, 0x22);
    origin.writes = [];
    await v.write('origin', data, CHUNK + 100); // four chunks
    expect(origin.writes).toEqual([{ pos: CHUNK + 100, length: 3 * CHUNK }]);

    await v.create('s');
    origin.writes = [];
    await v.write('origin', Buffer.alloc(3 * CHUNK, 0x33), CHUNK + 100);
    await v.sync(); // the held chunks land after their copy-out's commit, each as what was written of it
    expect([...origin.writes].sort((a, b) => a.pos - b.pos)).toEqual([
      { pos: CHUNK + 100, length: CHUNK - 100 },
      { pos: 2 * CHUNK, length: CHUNK },
      { pos: 3 * CHUNK, length: CHUNK },
      { pos: 4 * CHUNK, length: 100 },
    ]);
    const kept = Buffer.alloc(3 * CHUNK);
    await v.read('s', kept, CHUNK + 100);
    expect(kept.equals(data)).toBe(true);

    await v.delete('s');
    await store.idle();
    origin.writes = [];
    await v.write('origin', Buffer.alloc(3 * CHUNK, 0x44), CHUNK + 100);
    expect(origin.writes).toEqual([{ pos: CHUNK + 100, length: 3 * CHUNK }]);
    const seen = Buffer.alloc(3 * CHUNK);
    await v.read('origin', seen, CHUNK + 100);
    expect(seen.every((b) => b === 0x44)).toBe(true);
  });
});

/** A memory device whose flushes wait while `hold` is set. */
class SlowFlushDevice extends MemoryDevice {
  hold: Promise<void> | null = null;

  override async flush(): Promise<void> {
    await this.hold;
    return super.flush();
  }
}

test('a held chunk reaches the file as the span its writes changed, a write made after its copy-out included', async () => {
  const origin = new CountingDevice(Buffer.alloc(16 * CHUNK, 0x11));
  const cow = new SlowFlushDevice(8 << 20);
  await withStore(origin, cow, async (store) => {
    const v = store.volume();
    await v.create('s');
    origin.writes = [];
    await v.write('origin', Buffer.alloc(100, 0x22), 5 * CHUNK + 200);
    await v.write('origin', Buffer.alloc(100, 0x33), 5 * CHUNK + 1000); // the same chunk, held too

    // the copy-out's commit waits on the COW's flush: a write then changes the copied content
    let go!: () => void;
    cow.hold = new Promise<void>((resolve) => (go = resolve));
    const synced = v.sync();
    while (store.status().copyOuts === 0) await new Promise((r) => setImmediate(r));
    await v.write('origin', Buffer.alloc(100, 0x44), 5 * CHUNK + 3000);
    await v.write('origin', Buffer.alloc(50, 0x55), 5 * CHUNK + 100); // before the first: the span starts here
    expect(origin.writes).toEqual([]); // nothing reaches the file before its copy is durable
    go();
    await synced;

    expect(origin.writes).toEqual([{ pos: 5 * CHUNK + 100, length: 3000 }]);
    const file = origin.image().subarray(5 * CHUNK, 6 * CHUNK);
    const expected = Buffer.alloc(CHUNK, 0x11);
    expected.fill(0x55, 100, 150).fill(0x22, 200, 300).fill(0x33, 1000, 1100).fill(0x44, 3000, 3100);
    expect(file.equals(expected)).toBe(true);
    const kept = Buffer.alloc(CHUNK);
    await v.read('s', kept, 5 * CHUNK);
    expect(kept.every((b) => b === 0x11)).toBe(true);
  });
});
