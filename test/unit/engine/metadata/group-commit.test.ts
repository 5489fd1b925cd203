import { MemoryDevice } from '../../../../src/block/memory-device';
import { Store } from '../../../../src/engine/store';

/** A memory device whose flushes wait, while held, until released. */
class HeldFlushDevice extends MemoryDevice {
  private gate: Promise<void> | null = null;
  private open: () => void = () => undefined;

  hold(): void {
    this.gate = new Promise((r) => (this.open = r));
  }

  release(): void {
    this.gate = null;
    this.open();
  }

  override async flush(): Promise<void> {
    if (this.gate) await this.gate;
    return super.flush();
  }
}

async function store(): Promise<Store> {
  const origin = new MemoryDevice(Buffer.alloc(64 * 4096, 1));
  const cow = new MemoryDevice(4 << 20);
  await Store.format(origin, cow, { chunkSize: 4096 });
  return Store.open(origin, cow, { commitInterval: 0 });
}

describe('copy-out and group commit', () => {
  test('concurrent first writes after a snapshot share a commit instead of one each', async () => {
    const s = await store();
    await s.volume().create('a');
    const before = s.status();
    await Promise.all(Array.from({ length: 32 }, (_, c) => s.volume().write('origin', Buffer.alloc(100, 2), c * 4096)));
    await s.volume().sync();
    const after = s.status();
    expect(after.copyOuts - before.copyOuts).toBe(32);
    expect(after.commits - before.commits).toBeLessThanOrEqual(2);
    const old = Buffer.alloc(4096);
    await s.volume().read('a', old, 5 * 4096);
    expect(old.equals(Buffer.alloc(4096, 1))).toBe(true);
    await s.close();
  });

  test('one copy serves every snapshot: the copy-out count does not grow with snapshots', async () => {
    const s = await store();
    for (let i = 0; i < 200; i++) await s.volume().create();
    const before = s.status().copyOuts;
    for (let c = 0; c < 64; c++) await s.volume().write('origin', Buffer.alloc(4096, 3), c * 4096);
    await s.volume().sync();
    expect(s.status().copyOuts - before).toBe(64);
    // and a second write to the same chunks copies nothing
    for (let c = 0; c < 64; c++) await s.volume().write('origin', Buffer.alloc(4096, 4), c * 4096);
    await s.volume().sync();
    expect(s.status().copyOuts - before).toBe(64);
    await s.close();
  });

  test('first writes after a snapshot are held, not waiting for their copy; the origin file changes after the commit', async () => {
    const originBytes = Buffer.alloc(64 * 4096, 1);
    const origin = new MemoryDevice(originBytes);
    const cow = new HeldFlushDevice(4 << 20);
    await Store.format(origin, cow, { chunkSize: 4096 });
    const s = await Store.open(origin, cow, { commitInterval: 0 });
    await s.volume().create('a');
    const before = s.status();
    // the COW's flushes wait until let go: the copy-out's commit cannot end before that,
    // whatever the timing, so the writes below return while it is still to come
    cow.hold();
    await s.volume().write('origin', Buffer.alloc(100, 2), 7 * 4096 + 50);
    await s.volume().write('origin', Buffer.alloc(100, 3), 7 * 4096 + 100); // a second write to the held chunk
    expect(s.status().commits).toBe(before.commits);
    const file = () => originBytes.subarray(7 * 4096, 8 * 4096); // the device's own bytes
    expect(file().equals(Buffer.alloc(4096, 1))).toBe(true);
    const expected = Buffer.alloc(4096, 1);
    expected.fill(2, 50, 100);
    expected.fill(3, 100, 200);
    const seen = Buffer.alloc(4096);
    await s.volume().read('origin', seen, 7 * 4096);
    expect(seen.equals(expected)).toBe(true);
    const synced = s.volume().sync();
    await new Promise((r) => setTimeout(r, 20));
    expect(file().equals(Buffer.alloc(4096, 1))).toBe(true); // still not: its commit is not durable
    cow.release();
    await synced;
    expect(s.status().copyOuts - before.copyOuts).toBe(1);
    expect(file().equals(expected)).toBe(true);
    await s.volume().read('a', seen, 7 * 4096);
    expect(seen.equals(Buffer.alloc(4096, 1))).toBe(true);
    await s.close();
  });

  test('with no snapshot, origin writes touch no metadata', async () => {
    const s = await store();
    const before = s.status();
    for (let c = 0; c < 64; c++) await s.volume().write('origin', Buffer.alloc(4096, 3), c * 4096);
    await s.volume().sync();
    const after = s.status();
    expect(after.copyOuts).toBe(before.copyOuts);
    expect(after.commits).toBe(before.commits);
    expect(after.usedBytes).toBe(before.usedBytes);
    await s.close();
  });
});
