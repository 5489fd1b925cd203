// A copy-out in flight while a reclaim pass starts (found by the model through the real
// mount): two snapshots of the origin, the older deleted, then an origin write to a chunk
// nobody wrote since. The copy-out chooses the version that keeps the old data (the one
// the pass is about to merge into the younger snapshot) and is held, here by an origin
// read that waits, while the pass plans, walks the index and ends. Its entry must not be
// left on a version the pass removed: the younger snapshot must still read the old data.
import { MemoryDevice } from '../../../../src/block/memory-device';
import { IoPriority } from '../../../../src/block/block-device';
import { checkStore } from '../../../../src/engine/tools/check';
import { Store } from '../../../../src/engine/store';
import { Random } from '../../../helpers/random';

const CHUNK = 4096;

/** A gate that calls wait on while it is held; it counts who waits. */
class Gate {
  private held: Promise<void> | null = null;
  private open: () => void = () => undefined;
  waiting = 0;

  hold(): void {
    this.held = new Promise((r) => (this.open = r));
  }

  release(): void {
    this.held = null;
    this.open();
  }

  async pass(): Promise<void> {
    if (!this.held) return;
    this.waiting++;
    await this.held;
  }
}

/** An origin whose background reads (a copy-out's) wait at a gate. */
class GatedOrigin extends MemoryDevice {
  readonly reads = new Gate();
  override async read(buf: Buffer, pos: number, priority?: IoPriority): Promise<void> {
    if (priority === 'background') await this.reads.pass();
    return super.read(buf, pos);
  }
}

/** A COW whose flushes (a commit's) wait at a gate. */
class GatedCow extends MemoryDevice {
  readonly flushes = new Gate();
  override async flush(): Promise<void> {
    await this.flushes.pass();
    return super.flush();
  }
}

const until = async (cond: () => boolean) => {
  for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
};

test('a copy-out that a reclaim pass overtakes keeps the old data for the snapshots that read it', async () => {
  const rnd = new Random(11);
  const before = rnd.bytes(16 * CHUNK);
  const origin = new GatedOrigin(Buffer.from(before));
  const cow = new GatedCow(2 << 20);
  await Store.format(origin, cow, { chunkSize: CHUNK });
  const store = await Store.open(origin, cow, { commitInterval: 0 });
  const v = store.volume();
  await v.create('a');
  await v.create('b');
  await store.idle();

  // the delete is durable; the pass it starts commits its start next, and that commit is
  // held in its write...
  await v.delete('a');
  cow.flushes.hold();
  await until(() => cow.flushes.waiting === 1);
  // ...and meanwhile an origin write's copy-out chooses who keeps the old data, and is
  // held in its read of it
  origin.reads.hold();
  await v.write('origin', Buffer.alloc(CHUNK, 0xee), 5 * CHUNK);
  await until(() => origin.reads.waiting === 1);
  cow.flushes.release(); // the pass goes on: it plans and walks the index
  await new Promise((r) => setTimeout(r, 50));
  origin.reads.release();
  await store.idle();

  const seen = Buffer.alloc(16 * CHUNK);
  await v.read('b', seen, 0);
  expect(seen.equals(before)).toBe(true);
  expect(await checkStore(store.internals)).toEqual([]);
  await store.close();
});
