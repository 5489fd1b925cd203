import { BITS_PER_BITMAP, segmentChunks } from '../../../src/alloc/space-map';
import { BlockType } from '../../../src/format/layout';
import { isStoreError } from '../../../src/errors';
import { commitFields, freshStack, reopenStack } from '../../helpers/stack';

describe('space map', () => {
  test('metadata blocks come from the low end, data chunks from the high end in segments, aligned', async () => {
    // 4 segments of 64 chunks of 16 blocks; the last starts at 3072
    const { sm } = await freshStack(4096, 16);
    const meta = await sm.allocBlock();
    expect(meta).toBeLessThan(16);
    const chunk = await sm.allocChunk();
    expect(chunk % 16).toBe(0);
    expect(chunk).toBe(3072);
    // upward within the segment, so chunks copied in order lie in order
    expect(await sm.allocChunk()).toBe(3072 + 16);
    for (let i = 2; i < 64; i++) await sm.allocChunk();
    expect(await sm.allocChunk()).toBe(2048); // then the segment below
  });

  test('segments grow with the store, from 64 chunks to 1,024, at least 16 of them when they can', () => {
    expect(segmentChunks(256)).toBe(64);
    expect(segmentChunks(64 * 16 * 2 - 1)).toBe(64);
    expect(segmentChunks(128 * 16)).toBe(128);
    expect(segmentChunks(1024 * 16)).toBe(1024);
    expect(segmentChunks(10_000_000)).toBe(1024);
  });

  test('a large store hands data out in segments of 1,024 chunks', async () => {
    // 2^20 blocks of 4 KiB in chunks of 16: 65,536 chunks, 64 segments; the last starts at 2^20 - 16,384
    const { sm } = await freshStack(2 ** 20, 16);
    const top = 2 ** 20 - 1024 * 16;
    expect(await sm.allocChunk()).toBe(top);
    for (let i = 1; i < 1024; i++) expect(await sm.allocChunk()).toBe(top + i * 16);
    expect(await sm.allocChunk()).toBe(top - 1024 * 16);
  });

  test('a block freed in a transaction it was not made in is reused only after the commit', async () => {
    const s = await freshStack(64);
    const b = await s.sm.allocBlock();
    await s.tm.commit(commitFields());
    await s.sm.free(b);
    const during: number[] = [];
    for (let i = 0; i < 5; i++) during.push(await s.sm.allocBlock());
    expect(during).not.toContain(b);
    await s.tm.commit(commitFields());
    // the commit also freed the space map's own old blocks; b is among the lowest free
    const after: number[] = [];
    for (let i = 0; i < 4; i++) after.push(await s.sm.allocBlock());
    expect(after).toContain(b);
  });

  test('a block made and dropped in the same transaction is reusable at once', async () => {
    const { sm } = await freshStack(64);
    const b = await sm.allocBlock();
    await sm.free(b);
    expect(await sm.allocBlock()).toBe(b);
  });

  test('double allocation and double free are refused as corruption', async () => {
    const { sm } = await freshStack(64);
    const b = await sm.allocBlock();
    await sm.free(b);
    await expect(sm.free(b)).rejects.toMatchObject({ code: 'CORRUPTION' });
    await expect(sm.markUsed(0)).rejects.toMatchObject({ code: 'CORRUPTION' });
  });

  test('running out of space is NO_SPACE, and counts stay true', async () => {
    const { sm } = await freshStack(48, 16);
    // 48 blocks: chunk groups at 16 and 32; group 0 holds the superblocks and the index
    await sm.allocChunk();
    await sm.allocChunk();
    const err = await sm.allocChunk().catch((e) => e);
    expect(isStoreError(err, 'NO_SPACE')).toBe(true);
    const c = sm.counts();
    expect(c.total).toBe(48);
    expect(c.free).toBe(48 - 32 - 3);
  });

  test('committed state survives a reopen, across several bitmaps', async () => {
    const total = 2 * BITS_PER_BITMAP + 100;
    const s = await freshStack(total, 4);
    const taken = new Set<number>();
    for (let i = 0; i < 50; i++) taken.add(await s.sm.allocChunk());
    for (let i = 0; i < 20; i++) taken.add(await s.sm.allocBlock());
    const sb = await s.tm.commit(commitFields());
    const r = reopenStack(s, sb.seq, sb.spaceIndexRoot, sb.freeBlocks, 4);
    for (const b of taken) expect(await r.sm.isUsed(b)).toBe(true);
    expect(r.sm.counts().free).toBe(s.sm.counts().free);
    // nothing handed out again
    for (let i = 0; i < 20; i++) expect(taken.has(await r.sm.allocBlock())).toBe(false);
    for (let i = 0; i < 20; i++) expect(taken.has(await r.sm.allocChunk())).toBe(false);
  });

  test('the space map stores itself: bitmap blocks are marked used in their own bitmaps', async () => {
    const s = await freshStack(256);
    for (let i = 0; i < 10; i++) await s.sm.allocBlock();
    const sb = await s.tm.commit(commitFields());
    const r = reopenStack(s, sb.seq, sb.spaceIndexRoot, sb.freeBlocks);
    let used = 0;
    for (let b = 0; b < 256; b++) if (await r.sm.isUsed(b)) used++;
    // superblocks, 10 blocks, the index root and one bitmap
    expect(used).toBe(2 + 10 + 1 + 1);
    expect(256 - r.sm.counts().free).toBe(used);
    expect(await r.tm.read(sb.spaceIndexRoot, BlockType.BTREE_NODE)).toBeDefined();
  });
});
