// Replication between two stores: diff from the metadata, full and incremental sends; a
// receiver that a cut or damaged stream leaves as it was to anyone looking, keeping what
// arrived whole for a resumed send, which then gives the same snapshot; format 1 streams.
// A failing seed is printed; replay with SEED=<n>.
import { createHash } from 'crypto';
import { MemoryDevice } from '../../../../src/block/memory-device';
import { ORIGIN_IMAGE, Store } from '../../../../src/engine/store';
import { abortReceive, receiveSnapshot, sendSnapshot } from '../../../../src/engine/tools/replication';
import { packResumeToken, unpackResumeToken } from '../../../../src/format/resume-token';
import { STREAM_MAGIC, StreamReader } from '../../../../src/format/stream';
import { StoreError } from '../../../../src/errors';
import { crc32c } from '@node-rs/crc32';
import { checkStoreReport } from '../../../../src/engine/tools/check';
import { ByteRange } from '../../../../src/engine/tools/delta';
import { Random } from '../../../helpers/random';

const CHUNK = 4096;
const CHUNKS = 48;
const SIZE = CHUNKS * CHUNK - 1000; // a short last chunk
const SEEDS = process.env.SEED ? [Number(process.env.SEED)] : [1, 2, 3, 4, 5];

interface Side {
  store: Store;
  origin: MemoryDevice;
  cow: MemoryDevice;
}

async function side(fill?: Random): Promise<Side> {
  const origin = new MemoryDevice(SIZE);
  if (fill) origin.image().set(fill.bytes(SIZE));
  const cow = new MemoryDevice(4 << 20);
  await Store.format(origin, cow, { chunkSize: CHUNK });
  return { store: await Store.open(origin, cow, { commitInterval: 0, writeBack: 2 * CHUNK }), origin, cow };
}

async function image(store: Store, id: string): Promise<Buffer> {
  const buf = Buffer.alloc(SIZE);
  await store.volume().read(id, buf, 0);
  return buf;
}

/** The codes a damaged stream may be refused with, by where the damage is. */
const REFUSED = expect.stringMatching(/^(BAD_STREAM|NEWER_FORMAT|INVALID_ARGUMENT|NOT_FOUND)$/);

const digest = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A stream made by `send` (resumed with `resume`, a token), whole. */
async function send(store: Store, id: string, base?: string, resume?: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  await sendSnapshot(store, id, async (b) => void parts.push(Buffer.from(b)), { base, resume });
  return Buffer.concat(parts);
}

/** The same stream in format 1, as an older snapfuse wrote it: no checksums but the trailer's. */
async function formatOne(stream: Buffer): Promise<Buffer> {
  const reader = new StreamReader(pieces(stream));
  const { version, ...h } = await reader.readHeader();
  const out: Buffer[] = [];
  const json = Buffer.from(JSON.stringify({ ...h, version: 1 }));
  const fixed = Buffer.alloc(16);
  STREAM_MAGIC.copy(fixed);
  fixed.writeUInt32LE(1, 8);
  fixed.writeUInt32LE(json.length, 12);
  out.push(fixed, json);
  let records = 0;
  let dataBytes = 0;
  for (let r = await reader.next(); r; r = await reader.next(), records++) {
    const rec = Buffer.alloc(r.kind === 'data' ? 13 : 17);
    rec[0] = r.kind === 'data' ? 1 : 2;
    rec.writeBigUInt64LE(BigInt(r.offset), 1);
    if (r.kind === 'data') {
      rec.writeUInt32LE(r.data.length, 9);
      out.push(rec, r.data);
      dataBytes += r.data.length;
    } else {
      rec.writeBigUInt64LE(BigInt(r.length), 9);
      out.push(rec);
    }
  }
  expect(version).toBe(2);
  const end = Buffer.alloc(21);
  end[0] = 3;
  end.writeBigUInt64LE(BigInt(records), 1);
  end.writeBigUInt64LE(BigInt(dataBytes), 9);
  end.writeUInt32LE(crc32c(end.subarray(0, 17), crc32c(Buffer.concat(out))), 17);
  return Buffer.concat([...out, end]);
}

async function* pieces(stream: Buffer, rnd = new Random(7)): AsyncGenerator<Buffer> {
  for (let at = 0; at < stream.length;) {
    const n = 1 + rnd.int(9000);
    yield stream.subarray(at, at + n);
    at += n;
  }
}

/** Random writes to the origin (or a snapshot), a few whole chunks and a few pieces, some zeros. */
async function scribble(store: Store, rnd: Random, id = ORIGIN_IMAGE, n = 12): Promise<void> {
  for (let i = 0; i < n; i++) {
    const pos = rnd.int(SIZE - 1);
    const len = 1 + rnd.int(Math.min(3 * CHUNK, SIZE - pos));
    await store.volume().write(id, rnd.int(4) === 0 ? Buffer.alloc(len) : rnd.bytes(len), pos);
  }
}

/** What anyone can see of a store: its snapshots and every image's content. */
async function visible(store: Store): Promise<string> {
  const images = [
    ORIGIN_IMAGE,
    ...store
      .volume()
      .snapshots()
      .map((s) => s.id),
  ];
  return (await Promise.all(images.map(async (id) => `${id}:${digest(await image(store, id))}`))).join(' ');
}

/** What a store shows: every image's content, and its space once background work is done. */
async function state(store: Store): Promise<string> {
  await store.idle();
  const images = [
    ORIGIN_IMAGE,
    ...store
      .volume()
      .snapshots()
      .map((s) => s.id),
  ];
  const parts = await Promise.all(images.map(async (id) => `${id}:${digest(await image(store, id))}`));
  return `${parts.join(' ')} used ${store.status().usedBytes}`;
}

describe.each(SEEDS)('replication, seed %i', (seed) => {
  let rnd: Random;
  beforeEach(() => (rnd = new Random(seed)));
  const withSeed = async (fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (e) {
      throw new Error(`seed ${seed} (replay: SEED=${seed}): ${(e as Error).message}`, { cause: e });
    }
  };

  test('diff names every chunk whose content differs, and only chunks that have entries', () =>
    withSeed(async () => {
      const { store } = await side(rnd);
      await store.volume().create('a');
      await scribble(store, rnd);
      await store.volume().create('b', 'a');
      await scribble(store, rnd, 'b', 4);
      await store.volume().create('c');
      await scribble(store, rnd);
      const ids = [ORIGIN_IMAGE, 'a', 'b', 'c'];
      for (const x of ids) {
        for (const y of ids) {
          const ranges: ByteRange[] = [];
          for await (const r of store.volume().diff(x, y)) ranges.push(r);
          const [bx, by] = [await image(store, x), await image(store, y)];
          const covered = (c: number) => ranges.some((r) => r.offset <= c * CHUNK && c * CHUNK < r.offset + r.length);
          for (let c = 0; c < CHUNKS; c++) {
            const [from, to] = [c * CHUNK, Math.min((c + 1) * CHUNK, SIZE)];
            if (!bx.subarray(from, to).equals(by.subarray(from, to))) {
              expect({ x, y, chunk: c, covered: covered(c) }).toEqual({ x, y, chunk: c, covered: true });
            }
          }
          for (const r of ranges) {
            expect(r.offset % CHUNK).toBe(0);
            expect(r.offset + r.length).toBeLessThanOrEqual(SIZE);
          }
          if (x === y) expect(ranges).toEqual([]);
        }
      }
      await store.close();
    }));

  test('a full send, then incremental ones, give the receiver the same snapshots', () =>
    withSeed(async () => {
      const src = await side(rnd);
      const dst = await side(rnd); // another origin content: the receiver's own data
      await src.store.volume().create('s1');
      const r1 = await receiveSnapshot(dst.store, pieces(await send(src.store, 's1')));
      expect(r1).toMatchObject({ name: 's1', base: null });
      let prev = 's1';
      for (const next of ['s2', 's3']) {
        await scribble(src.store, rnd);
        await src.store.volume().create(next);
        const stream = await send(src.store, next, prev);
        const r = await receiveSnapshot(dst.store, pieces(stream, new Random(seed)));
        expect(r).toMatchObject({ name: next, base: prev });
        prev = next;
      }
      for (const id of ['s1', 's2', 's3']) {
        expect(digest(await image(dst.store, id))).toBe(digest(await image(src.store, id)));
        expect(dst.store.volume().snapshot(id)!.uuid).toBe(src.store.volume().snapshot(id)!.uuid);
        expect(dst.store.volume().snapshot(id)!.created).toEqual(src.store.volume().snapshot(id)!.created);
      }
      // the delta carries only what changed: far less than the image
      await src.store.volume().write(ORIGIN_IMAGE, Buffer.alloc(10, 1), 5 * CHUNK);
      await src.store.volume().create('s4');
      expect((await send(src.store, 's4', 's3')).length).toBeLessThan(2 * CHUNK + 1024);
      for (const s of [src, dst]) {
        await s.store.idle();
        expect((await checkStoreReport(s.store.internals)).problems).toEqual([]);
        await s.store.close();
      }
    }));

  test('a stream cut or damaged anywhere keeps what arrived whole, hidden; resumed, it gives the same snapshot', () =>
    withSeed(async () => {
      const src = await side(rnd);
      const dst = await side(rnd);
      await src.store.volume().create('s1');
      await receiveSnapshot(dst.store, pieces(await send(src.store, 's1')));
      await scribble(src.store, rnd);
      await src.store.volume().create('s2');
      const stream = await send(src.store, 's2', 's1');
      const want = digest(await image(src.store, 's2'));
      for (let i = 0; i < 6; i++) {
        const before = await visible(dst.store);
        const cut = rnd.int(stream.length);
        const flipped = Buffer.from(stream);
        flipped[rnd.int(stream.length)] ^= 1 << rnd.int(8);
        for (const [what, bad] of [
          [`cut at byte ${cut}`, stream.subarray(0, cut)],
          ['a flipped byte', flipped],
        ] as const) {
          const e = (await receiveSnapshot(dst.store, pieces(bad)).catch((err: unknown) => err)) as StoreError;
          expect({ what, code: e.code }).toEqual({
            what,
            code: REFUSED,
          });
          expect(await visible(dst.store)).toBe(before); // nothing anyone can see
          const token = /resume token ([A-Za-z0-9_-]+)$/.exec(e.message)?.[1];
          if (!token) {
            // refused before anything was kept: the header itself was cut or damaged
            expect(dst.store.volume().staging.partials()).toEqual([]);
            continue;
          }
          if (what.startsWith('cut')) expect(e.message).toMatch(/^stream cut after \d+ bytes; resume token /);
          expect(dst.store.volume().staging.partials()).toHaveLength(1);
          const rest = await send(src.store, 's2', 's1', token);
          expect(rest.length).toBeLessThanOrEqual(stream.length + 64);
          await receiveSnapshot(dst.store, pieces(rest));
          expect(digest(await image(dst.store, 's2'))).toBe(want);
          expect(dst.store.volume().staging.partials()).toEqual([]);
          await dst.store.volume().delete('s2'); // for the next round
        }
      }
      await dst.store.idle();
      expect((await checkStoreReport(dst.store.internals)).problems).toEqual([]);
      await src.store.close();
      await dst.store.close();
    }));

  test('a stream of format 1, cut or damaged, changes nothing; whole, it goes in', () =>
    withSeed(async () => {
      const src = await side(rnd);
      const dst = await side(rnd);
      await src.store.volume().create('s1');
      const old = await formatOne(await send(src.store, 's1'));
      const before = await state(dst.store);
      for (let i = 0; i < 4; i++) {
        const cut = old.subarray(0, rnd.int(old.length));
        await expect(receiveSnapshot(dst.store, pieces(cut))).rejects.toMatchObject({
          code: 'BAD_STREAM',
          message: expect.stringMatching(/nothing was received, the store is as it was$/),
        });
        expect(await state(dst.store)).toBe(before);
        const flipped = Buffer.from(old);
        flipped[rnd.int(old.length)] ^= 1 << rnd.int(8);
        await expect(receiveSnapshot(dst.store, pieces(flipped))).rejects.toMatchObject({
          code: REFUSED,
        });
        expect(await state(dst.store)).toBe(before);
        expect(dst.store.volume().staging.partials()).toEqual([]);
      }
      await receiveSnapshot(dst.store, pieces(old));
      expect(digest(await image(dst.store, 's1'))).toBe(digest(await image(src.store, 's1')));
      await src.store.close();
      await dst.store.close();
    }));
});

describe('resuming', () => {
  test('is refused for another snapshot, another base, a gap, or no cut receive; abort drops one', async () => {
    const rnd = new Random(21);
    const src = await side(rnd);
    const dst = await side(rnd);
    await src.store.volume().create('s1');
    await scribble(src.store, rnd);
    await src.store.volume().write(ORIGIN_IMAGE, Buffer.alloc(CHUNK), 8 * CHUNK); // records end there
    await src.store.volume().create('s2');
    const whole = await send(src.store, 's2');
    const e = (await receiveSnapshot(dst.store, pieces(whole.subarray(0, whole.length / 2))).catch(
      (err: unknown) => err,
    )) as StoreError;
    const token = /resume token ([A-Za-z0-9_-]+)$/.exec(e.message)![1];
    const t = unpackResumeToken(token);
    expect(t).toMatchObject({ snapshot: src.store.volume().snapshot('s2')!.uuid, base: null });
    expect(t.offset).toBeGreaterThan(0);

    // the sender sends only what its own arguments name
    await expect(send(src.store, 's1', undefined, token)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/the token is for another snapshot/),
    });
    await expect(send(src.store, 's2', 's1', token)).rejects.toMatchObject({
      message: expect.stringMatching(/the token is for a whole snapshot: give the --from it was made for/),
    });
    // one character changed (its six bits are all data; the crc32c finds any such burst):
    // the last ones were replaced with 'AA' once, which left the token as it was 1 time in 256
    const mistyped = token.slice(0, 10) + (token[10] === 'A' ? 'B' : 'A') + token.slice(11);
    await expect(send(src.store, 's2', undefined, mistyped)).rejects.toMatchObject({
      message: expect.stringMatching(/not a resume token/),
    });
    // a token asking for more than arrived would leave a gap
    const ahead = packResumeToken({ ...t, offset: t.offset + CHUNK });
    await expect(
      receiveSnapshot(dst.store, pieces(await send(src.store, 's2', undefined, ahead))),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/resumes at byte \d+ of the image, but only \d+ arrived/),
    });
    // a fresh send of the same snapshot is refused while the cut one is kept
    await expect(receiveSnapshot(dst.store, pieces(whole))).rejects.toMatchObject({
      code: 'EXISTS',
      message: expect.stringMatching(/was cut and is kept as s2: resume it \(send --resume \S+\) or drop it/),
    });
    const before = await state(dst.store);
    await abortReceive(dst.store, 's2');
    expect(dst.store.volume().staging.partials()).toEqual([]);
    await expect(abortReceive(dst.store, 's2')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await state(dst.store)).not.toBe(before); // its space came back
    // nothing to resume now
    await expect(
      receiveSnapshot(dst.store, pieces(await send(src.store, 's2', undefined, token))),
    ).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringMatching(/holds no cut receive of s2/) });
    await receiveSnapshot(dst.store, pieces(whole));
    expect(digest(await image(dst.store, 's2'))).toBe(digest(await image(src.store, 's2')));
    await src.store.close();
    await dst.store.close();
  });

  test('a full target refuses with NO_SPACE, keeps what fitted, and takes the rest once there is room', async () => {
    const rnd = new Random(23);
    const src = await side(rnd);
    // a small target, most of whose room a snapshot of its own takes
    const origin = new MemoryDevice(rnd.bytes(SIZE));
    const cow = new MemoryDevice(600 * 1024);
    await Store.format(origin, cow, { chunkSize: CHUNK });
    const dst = await Store.open(origin, cow, { commitInterval: 0, writeBack: 0 });
    await dst.volume().create('mine');
    await dst.volume().write(ORIGIN_IMAGE, rnd.bytes(SIZE), 0); // every chunk copied out for it
    await src.store.volume().create('s1');
    const whole = await send(src.store, 's1');
    const e = (await receiveSnapshot(dst, pieces(whole)).catch((err: unknown) => err)) as StoreError;
    expect(e.code).toBe('NO_SPACE');
    expect(e.message).toMatch(/full; resume token [A-Za-z0-9_-]+$/);
    expect(
      dst
        .volume()
        .snapshots()
        .map((x) => x.id),
    ).toEqual(['mine']);
    expect(dst.volume().staging.partials()).toHaveLength(1);
    const token = /resume token ([A-Za-z0-9_-]+)$/.exec(e.message)![1];
    // room made: the rest goes in, and the snapshot is the sender's
    await dst.volume().delete('mine');
    await dst.idle();
    await receiveSnapshot(dst, pieces(await send(src.store, 's1', undefined, token)));
    const buf = Buffer.alloc(SIZE);
    await dst.volume().read('s1', buf, 0);
    expect(digest(buf)).toBe(digest(await image(src.store, 's1')));
    await dst.close();
    await src.store.close();
  });

  test('one receive of a snapshot at a time; one under way is not dropped; a bad or taken name keeps nothing', async () => {
    const rnd = new Random(24);
    const src = await side(rnd);
    const dst = await side(rnd);
    await src.store.volume().create('s1');
    const whole = await send(src.store, 's1');
    // a stream that stops half way and waits: a receive under way
    let go: () => void = () => undefined;
    const held = new Promise<void>((r) => (go = r));
    async function* slow(): AsyncGenerator<Buffer> {
      yield whole.subarray(0, whole.length / 2);
      await held;
      yield whole.subarray(whole.length / 2);
    }
    const first = receiveSnapshot(dst.store, slow());
    await new Promise((r) => setTimeout(r, 50));
    await expect(receiveSnapshot(dst.store, pieces(whole))).rejects.toMatchObject({
      code: 'BUSY',
      message: 'a receive of s1 is under way already',
    });
    await expect(abortReceive(dst.store, 's1')).rejects.toMatchObject({ code: 'BUSY' });
    go();
    await first;
    expect(digest(await image(dst.store, 's1'))).toBe(digest(await image(src.store, 's1')));

    await src.store.volume().create('s2');
    const next = await send(src.store, 's2');
    await expect(receiveSnapshot(dst.store, pieces(next), { name: 'bad name' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    expect(dst.store.volume().staging.partials()).toEqual([]);
    // the name taken while the stream arrives: dropped, nothing kept
    async function* taking(): AsyncGenerator<Buffer> {
      yield next.subarray(0, next.length - 30);
      await dst.store.volume().create('s2');
      yield next.subarray(next.length - 30);
    }
    await expect(receiveSnapshot(dst.store, taking())).rejects.toMatchObject({
      code: 'EXISTS',
      message: expect.stringMatching(/nothing was received/),
    });
    expect(dst.store.volume().staging.partials()).toEqual([]);
    await src.store.close();
    await dst.store.close();
  });

  test('a cut receive survives a reopen and is resumed after it', async () => {
    const rnd = new Random(22);
    const src = await side(rnd);
    const dst = await side(rnd);
    await src.store.volume().write(ORIGIN_IMAGE, Buffer.alloc(CHUNK), 20 * CHUNK); // records end there
    await src.store.volume().create('s1');
    const whole = await send(src.store, 's1');
    const e = (await receiveSnapshot(dst.store, pieces(whole.subarray(0, (whole.length * 2) / 3))).catch(
      (err: unknown) => err,
    )) as StoreError;
    const token = /resume token ([A-Za-z0-9_-]+)$/.exec(e.message)![1];
    await dst.store.close();
    const again = await Store.open(new MemoryDevice(dst.origin.image()), new MemoryDevice(dst.cow.image()), {
      commitInterval: 0,
    });
    expect(
      again
        .volume()
        .staging.partials()
        .map((p) => [p.name, p.received]),
    ).toEqual([['s1', 21 * CHUNK]]);
    await receiveSnapshot(again, pieces(await send(src.store, 's1', undefined, token)));
    const buf = Buffer.alloc(SIZE);
    await again.volume().read('s1', buf, 0);
    expect(digest(buf)).toBe(digest(await image(src.store, 's1')));
    expect((await checkStoreReport(again.internals)).problems).toEqual([]);
    await again.close();
    await src.store.close();
  });
});

describe('receive refuses, before anything changes,', () => {
  test('a delta whose base it lacks, a snapshot it holds, a name taken, another image size', async () => {
    const rnd = new Random(11);
    const src = await side(rnd);
    const dst = await side(rnd);
    await src.store.volume().create('s1');
    await src.store.volume().create('s2');
    const before = await state(dst.store);
    await expect(receiveSnapshot(dst.store, pieces(await send(src.store, 's2', 's1')))).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringMatching(/lacks the stream's base snapshot s1/),
    });
    expect(await state(dst.store)).toBe(before);
    const full = await send(src.store, 's1');
    await receiveSnapshot(dst.store, pieces(full));
    await expect(receiveSnapshot(dst.store, pieces(full), { name: 'other' })).rejects.toMatchObject({
      code: 'EXISTS',
      message: 'this store already holds snapshot s1, as s1',
    });
    await dst.store.volume().create('taken');
    await expect(
      receiveSnapshot(dst.store, pieces(await send(src.store, 's2')), { name: 'taken' }),
    ).rejects.toMatchObject({ code: 'EXISTS' });
    const small = new MemoryDevice(SIZE - CHUNK);
    const cow = new MemoryDevice(4 << 20);
    await Store.format(small, cow, { chunkSize: CHUNK });
    const other = await Store.open(small, cow, { commitInterval: 0 });
    await expect(receiveSnapshot(other, pieces(full))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await other.close();
    await src.store.close();
    await dst.store.close();
  });

  test('not a stream at all', async () => {
    const dst = await side();
    await expect(receiveSnapshot(dst.store, pieces(Buffer.from('hello, this is not a stream')))).rejects.toMatchObject({
      code: 'BAD_STREAM',
      message: expect.stringMatching(/not a snapfuse stream/),
    });
    await dst.store.close();
  });
});

describe('receive --become-origin', () => {
  test("the receiver's origin becomes the snapshot; its own snapshots keep their data", async () => {
    const rnd = new Random(21);
    const src = await side(rnd);
    const dst = await side(rnd);
    await dst.store.volume().create('mine');
    const mine = await image(dst.store, 'mine');
    await scribble(src.store, rnd);
    await src.store.volume().create('s1');
    await receiveSnapshot(dst.store, pieces(await send(src.store, 's1')), { becomeOrigin: true });
    await dst.store.idle();
    expect(digest(await image(dst.store, ORIGIN_IMAGE))).toBe(digest(await image(src.store, 's1')));
    expect(await image(dst.store, 'mine')).toEqual(mine);
    await src.store.close();
    await dst.store.close();
  });
});

describe('a crash while the origin becomes the received snapshot', () => {
  test('the next open finishes it: the origin is the snapshot', async () => {
    const rnd = new Random(41);
    const src = await side(rnd);
    const dst = await side(rnd);
    await src.store.volume().create('s1');
    await receiveSnapshot(dst.store, pieces(await send(src.store, 's1')), { becomeOrigin: true });
    // the rollback's copying has begun, not ended: the process dies now
    expect(dst.store.volume().status().rollback).not.toBeNull();
    const [origin, cow] = [Buffer.from(dst.origin.image()), Buffer.from(dst.cow.image())];
    const again = await Store.open(new MemoryDevice(origin), new MemoryDevice(cow), { commitInterval: 0 });
    await again.idle();
    expect(digest(await image(again, ORIGIN_IMAGE))).toBe(digest(await image(src.store, 's1')));
    expect(digest(await image(again, 's1'))).toBe(digest(await image(src.store, 's1')));
    await again.close();
    await dst.store.close();
    await src.store.close();
  });
});

describe('a receive cut by a crash', () => {
  test('leaves a staged snapshot that the next open drops', async () => {
    const rnd = new Random(31);
    const dst = await side(rnd);
    const usedBefore = (await dst.store.idle(), dst.store.status().usedBytes);
    const staged = await dst.store.volume().staging.stage(ORIGIN_IMAGE);
    await dst.store.volume().staging.write(staged, rnd.bytes(3 * CHUNK), 0);
    await dst.store.volume().sync();
    // the process dies here: reopen what the devices hold
    const again = await Store.open(dst.origin, new MemoryDevice(Buffer.from(dst.cow.image())), { commitInterval: 0 });
    await again.idle();
    expect(again.volume().snapshots()).toEqual([]);
    expect(again.status().usedBytes).toBe(usedBefore);
    expect((await checkStoreReport(again.internals)).problems).toEqual([]);
    await again.close();
  });
});
