// An origin write with no snapshot goes to the origin file as the passthrough's would: one
// write of the whole request, whatever chunks it spans; with a snapshot it is split at
// chunks and held for their copy-outs, and once the last snapshot is gone it is whole again.
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

test('with no snapshot, an origin write spanning chunks is one write of the file; with one, the chunks are copied first', async () => {
  const origin = new CountingDevice(Buffer.alloc(16 * CHUNK, 0x11));
  const cow = new MemoryDevice(8 << 20);
  await Store.format(origin, cow, { chunkSize: CHUNK });
  const store = await Store.open(origin, cow, { commitInterval: 0 });
  try {
    const v = store.volume();
    const data = Buffer.alloc(3 * CHUNK, 0x22);
    origin.writes = [];
    await v.write('origin', data, CHUNK + 100); // four chunks
    expect(origin.writes).toEqual([{ pos: CHUNK + 100, length: 3 * CHUNK }]);

    await v.create('s');
    origin.writes = [];
    await v.write('origin', Buffer.alloc(3 * CHUNK, 0x33), CHUNK + 100);
    await v.sync(); // the held chunks land after their copy-out's commit, each whole
    expect(origin.writes.map((w) => w.length)).toEqual([CHUNK, CHUNK, CHUNK, CHUNK]);
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
  } finally {
    await store.close();
  }
});
