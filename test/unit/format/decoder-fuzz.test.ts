// Hostile metadata: random and mutated blocks, some resealed so that their checksums
// pass and the decoders behind them are what stands. Opening, reading and checking
// such a store ends with a typed StoreError or succeeds; never another exception,
// never a hang. A failure names its seed: SEED=n replays it.
import { MemoryDevice } from '../../../src/block/memory-device';
import { Store } from '../../../src/engine/store';
import { checkStore } from '../../../src/engine/tools/check';
import { BLOCK_SIZE, blockTypeOf, blockSeq, sealBlock } from '../../../src/format/layout';
import { chooseSuperblock } from '../../../src/format/superblock';
import { StoreError } from '../../../src/errors';
import { Random, seeds } from '../../helpers/random';

const ORIGIN = 32 * 4096;

async function sampleStore(): Promise<{ origin: Buffer; cow: Buffer; blocks: number[] }> {
  const rnd = new Random(99);
  const origin = rnd.bytes(ORIGIN);
  const cow = Buffer.alloc(2 << 20);
  await Store.format(new MemoryDevice(origin), new MemoryDevice(cow), { chunkSize: 4096 });
  const store = await Store.open(new MemoryDevice(origin), new MemoryDevice(cow), { commitInterval: 0 });
  for (let i = 0; i < 6; i++) {
    await store.volume().create(`s${i}`, i % 3 === 2 ? `s${i - 1}` : 'origin');
    for (let j = 0; j < 10; j++)
      await store.volume().write(j % 2 ? 'origin' : `s${i}`, rnd.bytes(3000), rnd.int(ORIGIN - 3000));
  }
  await store.volume().delete('s0');
  await store.idle();
  await store.close();
  // the metadata blocks: every block with a known type in its header
  const blocks: number[] = [];
  for (let b = 0; b * BLOCK_SIZE < cow.length; b++) {
    const t = blockTypeOf(cow.subarray(b * BLOCK_SIZE, (b + 1) * BLOCK_SIZE));
    if (t === 0x53425331 || t === 0x42544e31 || t === 0x424d5031) blocks.push(b);
  }
  return { origin, cow, blocks };
}

async function openReadCheck(origin: Buffer, cow: Buffer): Promise<void> {
  const store = await Store.open(new MemoryDevice(Buffer.from(origin)), new MemoryDevice(cow), { readOnly: true });
  try {
    for (const s of [
      'origin',
      ...store
        .volume()
        .snapshots()
        .map((x) => x.id),
    ])
      await store.volume().read(s, Buffer.alloc(ORIGIN), 0);
    await checkStore(store.internals);
  } finally {
    await store.close();
  }
}

describe('hostile metadata', () => {
  let sample: Awaited<ReturnType<typeof sampleStore>>;
  beforeAll(async () => {
    sample = await sampleStore();
  });

  test('random superblock copies are chosen from or refused with a StoreError', () => {
    const rnd = new Random(5);
    for (let i = 0; i < 2000; i++) {
      const a = rnd.next() < 0.5 ? rnd.bytes(BLOCK_SIZE) : Buffer.from(sample.cow.subarray(0, BLOCK_SIZE));
      const b = Buffer.from(sample.cow.subarray(BLOCK_SIZE, 2 * BLOCK_SIZE));
      const seq = blockSeq(b);
      for (let k = rnd.int(8); k > 0; k--) b[rnd.int(BLOCK_SIZE)] = rnd.int(256);
      if (rnd.next() < 0.5) sealBlock(b, 0x53425331, 1, seq);
      try {
        chooseSuperblock([a, b], 'cow');
      } catch (e) {
        expect(e).toBeInstanceOf(StoreError);
      }
    }
  });

  test.each(seeds(40))('seed %i: mutated and resealed metadata blocks', async (seed) => {
    const rnd = new Random(seed);
    const cow = Buffer.from(sample.cow);
    for (let n = 1 + rnd.int(3); n > 0; n--) {
      const b = rnd.pick(sample.blocks);
      const block = cow.subarray(b * BLOCK_SIZE, (b + 1) * BLOCK_SIZE);
      const type = blockTypeOf(block);
      const seq = blockSeq(block);
      for (let k = 1 + rnd.int(16); k > 0; k--) block[32 + rnd.int(BLOCK_SIZE - 32)] = rnd.int(256);
      if (rnd.next() < 0.8) sealBlock(block, type, b, seq); // the checksum passes: the decoders must hold
    }
    try {
      await openReadCheck(sample.origin, cow);
    } catch (e) {
      if (!(e instanceof StoreError)) throw new Error(`seed ${seed}: ${(e as Error).stack}`);
    }
  });
});
