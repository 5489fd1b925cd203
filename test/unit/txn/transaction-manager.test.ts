import { BLOCK_SIZE, BlockType, readU64 } from '../../../src/format/layout';
import { chooseSuperblock } from '../../../src/format/superblock';
import { BTree } from '../../../src/btree/btree';
import { StoreError } from '../../../src/errors';
import { commitFields, freshStack, reopenStack } from '../../helpers/stack';

describe('transaction manager', () => {
  test('a commit makes the tree durable; the superblock alternates between the two copies', async () => {
    const s = await freshStack(512);
    const tree = await BTree.create(s.tm, 8);
    for (let i = 0; i < 300; i++) await tree.insert(i, 0, Buffer.alloc(8, i));
    const first = await s.tm.commit({ ...commitFields(), versionRoot: tree.root });
    await tree.insert(1000, 0, Buffer.alloc(8, 1));
    const second = await s.tm.commit({ ...commitFields(), versionRoot: tree.root });
    expect(second.seq).toBe(first.seq + 1);
    const img = s.dev.image();
    const chosen = chooseSuperblock([img.subarray(0, BLOCK_SIZE), img.subarray(BLOCK_SIZE, 2 * BLOCK_SIZE)], 'cow');
    expect(chosen.seq).toBe(second.seq);
    expect(chosen.versionRoot).toBe(tree.root);

    const r = reopenStack(s, chosen.seq, chosen.spaceIndexRoot, chosen.freeBlocks);
    const again = new BTree(r.tm, 8, chosen.versionRoot);
    expect(await again.count()).toBe(301);
    expect(await again.lookup(299, 0)).toEqual(Buffer.alloc(8, 299));
  });

  test('a transaction begun while the sealed one is written takes no block that it or the durable commit uses', async () => {
    const s = await freshStack(2048);
    const tree = await BTree.create(s.tm, 8);
    const fields = () => ({ ...commitFields(), versionRoot: tree.root });
    /** Every block a state reaches: the tree, the space map's index and its bitmaps. */
    const reached = async () => {
      const blocks = new Set<number>([0, 1]);
      await tree.walk((loc) => void blocks.add(loc));
      await s.sm.index.walk((loc) => void blocks.add(loc));
      for await (const [, , value] of s.sm.index.entries()) blocks.add(readU64(value, 0));
      return blocks;
    };
    for (let i = 0; i < 600; i++) await tree.insert(i, 0, Buffer.alloc(8, i));
    await s.tm.commit(fields());
    // a second commit frees the first one's (low) blocks, so that the next transaction
    // takes blocks low again and frees the durable commit's, above it
    for (let i = 0; i < 600; i += 4) await tree.remove(i, 0);
    await s.tm.commit(fields());
    const durable = await reached();
    for (let i = 2; i < 600; i += 4) await tree.remove(i, 0); // frees blocks the durable commit uses
    const write = await s.tm.seal(fields());
    const sealed = await reached();
    const taken: number[] = [];
    for (let i = 0; i < 300; i++) taken.push(await s.sm.allocBlock());
    expect(taken.filter((b) => durable.has(b) || sealed.has(b))).toEqual([]);
    await write();
    // once the sealed commit is durable, what only the older one used is handed out again
    const later: number[] = [];
    for (let i = 0; i < 300; i++) later.push(await s.sm.allocBlock());
    expect(later.filter((b) => sealed.has(b))).toEqual([]);
    expect(later.some((b) => durable.has(b))).toBe(true);
  });

  test('what was not committed is not on disk after a reopen', async () => {
    const s = await freshStack(256);
    const tree = await BTree.create(s.tm, 8);
    await tree.insert(1, 0, Buffer.alloc(8, 1));
    const sb = await s.tm.commit({ ...commitFields(), versionRoot: tree.root });
    await tree.insert(2, 0, Buffer.alloc(8, 2)); // never committed
    const r = reopenStack(s, sb.seq, sb.spaceIndexRoot, sb.freeBlocks);
    const again = new BTree(r.tm, 8, sb.versionRoot);
    expect(await again.lookup(2, 0)).toBeNull();
    expect(await again.lookup(1, 0)).toEqual(Buffer.alloc(8, 1));
  });

  test('a small cache evicts clean blocks and reads them back from the device, checked', async () => {
    const s = await freshStack(2048, 1, 16 * BLOCK_SIZE);
    const tree = await BTree.create(s.tm, 64);
    for (let i = 0; i < 3000; i++) await tree.insert(i, 0, Buffer.alloc(64, i & 0xff));
    await s.tm.commit({ ...commitFields(), versionRoot: tree.root });
    expect(s.tm.cachedBytes).toBeLessThanOrEqual(16 * BLOCK_SIZE);
    for (let i = 0; i < 3000; i += 7) expect((await tree.lookup(i, 0))![0]).toBe(i & 0xff);
  });

  test('a damaged block is refused on read with its location', async () => {
    const s = await freshStack(256);
    const tree = await BTree.create(s.tm, 8);
    await tree.insert(1, 0, Buffer.alloc(8, 1));
    await s.tm.commit({ ...commitFields(), versionRoot: tree.root });
    s.tm.dropCache();
    s.dev.image()[tree.root * BLOCK_SIZE + 100] ^= 0x10;
    await expect(tree.lookup(1, 0)).rejects.toThrow(new RegExp(`block ${tree.root}: B-tree node checksum`));
  });

  test('a failed commit leaves the last commit whole and the manager failed until reopened', async () => {
    const s = await freshStack(256);
    const tree = await BTree.create(s.tm, 8);
    await tree.insert(1, 0, Buffer.alloc(8, 1));
    const sb = await s.tm.commit({ ...commitFields(), versionRoot: tree.root });
    await tree.insert(2, 0, Buffer.alloc(8, 2));
    const flush = s.dev.flush.bind(s.dev);
    s.dev.flush = async () => {
      throw StoreError.io('injected');
    };
    await expect(s.tm.commit({ ...commitFields(), versionRoot: tree.root })).rejects.toThrow('injected');
    await expect(s.tm.read(tree.root, BlockType.BTREE_NODE)).rejects.toMatchObject({ code: 'FAILED' });
    s.dev.flush = flush;
    const img = s.dev.image();
    const chosen = chooseSuperblock([img.subarray(0, BLOCK_SIZE), img.subarray(BLOCK_SIZE, 2 * BLOCK_SIZE)], 'cow');
    expect(chosen.seq).toBe(sb.seq);
    const r = reopenStack(s, chosen.seq, chosen.spaceIndexRoot, chosen.freeBlocks);
    expect(await new BTree(r.tm, 8, chosen.versionRoot).lookup(1, 0)).toEqual(Buffer.alloc(8, 1));
  });
});
