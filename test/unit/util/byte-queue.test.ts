// ByteQueue: what is pushed comes out in order; a writer waits while more than the limit
// is queued and goes on once the reader took it; the end lets the reader finish and a
// waiting writer go.
import { ByteQueue } from '../../../src/util/byte-queue';

describe('byte queue', () => {
  test('order, back-pressure and the end', async () => {
    const q = new ByteQueue(10);
    let pushed = 0;
    const writer = (async () => {
      for (let i = 0; i < 5; i++) {
        await q.push(Buffer.alloc(6, i));
        pushed++;
      }
      q.end();
    })();
    await new Promise((r) => setImmediate(r));
    expect(pushed).toBe(1); // 12 bytes queued after the second push: over the limit, it waits
    const got: number[] = [];
    for await (const b of q) got.push(b[0]);
    await writer;
    expect(got).toEqual([0, 1, 2, 3, 4]);
    expect(pushed).toBe(5);
    await expect(q.push(Buffer.alloc(1))).rejects.toThrow(/after the end/);
  });

  test('an end while a writer waits lets it go', async () => {
    const q = new ByteQueue(1);
    const waiting = q.push(Buffer.alloc(4));
    q.end();
    await waiting;
    const got: Buffer[] = [];
    for await (const b of q) got.push(b);
    expect(got).toHaveLength(1);
  });
});
