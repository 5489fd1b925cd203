import fc from 'fast-check';
import { BTree, Entry, Key } from '../../../src/btree/btree';
import {
  KEYS_OFFSET,
  KEY_SIZE,
  initNode,
  insertEntry,
  isLeaf,
  keyAt,
  maxEntries,
  maxEntriesFor,
  nodeProblem,
  nrEntries,
  setChild,
  setKey,
} from '../../../src/btree/node';
import { StoreError, isStoreError } from '../../../src/errors';
import { BLOCK_SIZE } from '../../../src/format/layout';
import { BlockTxn, WritableBlock } from '../../../src/txn/block-txn';
import { MemoryTxn } from '../../helpers/memory-txn';

// A value that tells which write made it: `n` spread over every byte.
function val(valueSize: number, n: number): Buffer {
  const buf = Buffer.alloc(valueSize);
  for (let i = 0; i < valueSize; i++) buf[i] = (n * 131 + i * 7 + (n >>> 8)) & 0xff;
  return buf;
}

// Deterministic shuffle (a small LCG), so failures replay.
function shuffled<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let s = seed >>> 0;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

async function collect(gen: AsyncGenerator<Entry>): Promise<Entry[]> {
  const out: Entry[] = [];
  for await (const e of gen) out.push(e);
  return out;
}

// Entries as strings: jest compares long arrays of Buffers slowly.
function show(entries: Entry[]): string[] {
  return entries.map(([k1, k2, value]) => `${k1},${k2}:${value.toString('hex')}`);
}

async function scanned(gen: AsyncGenerator<Entry>): Promise<string[]> {
  return show(await collect(gen));
}

async function reachable(tree: BTree): Promise<Set<number>> {
  const locs = new Set<number>();
  await tree.walk((loc) => {
    locs.add(loc);
  });
  return locs;
}

async function height(tree: BTree): Promise<number> {
  let max = 0;
  await tree.walk((_loc, _buf, depth) => {
    max = Math.max(max, depth + 1);
  });
  return max;
}

// The tree reaches exactly the blocks that are allocated and not freed: no leak, no dangling pointer.
async function expectNoLeak(tree: BTree, txn: MemoryTxn): Promise<void> {
  expect([...(await reachable(tree))].sort((a, b) => a - b)).toEqual([...txn.live()].sort((a, b) => a - b));
}

async function corruptionOf(p: Promise<unknown>): Promise<StoreError> {
  try {
    await p;
  } catch (e) {
    if (isStoreError(e, 'CORRUPTION')) return e;
    throw e;
  }
  throw new Error('expected a CORRUPTION StoreError');
}

// The nodes of a tree with their depth and the key range their parent gives them.
async function nodes(tree: BTree): Promise<{ loc: number; depth: number; lower: Key | null }[]> {
  const out: { loc: number; depth: number; lower: Key | null }[] = [];
  await tree.walk((loc, _buf, depth, lower) => {
    out.push({ loc, depth, lower });
  });
  return out;
}

// Keys 0..n-1 spread over k1 and k2, in ascending order.
function keysUpTo(n: number): Key[] {
  return Array.from({ length: n }, (_, i): Key => [Math.floor(i / 3) * 5, i % 3]);
}

async function build(valueSize: number, keys: Key[], commitEvery = 500): Promise<{ tree: BTree; txn: MemoryTxn }> {
  const txn = new MemoryTxn();
  const tree = await BTree.create(txn, valueSize);
  for (let i = 0; i < keys.length; i++) {
    await tree.insert(keys[i][0], keys[i][1], val(valueSize, keys[i][0] + keys[i][1]));
    if (i % commitEvery === commitEvery - 1) txn.commit();
  }
  txn.commit();
  return { tree, txn };
}

/** Scan bounds around the edges of `keys`: before, inside, at and past the end. */
function scanBounds(keys: Key[]): Key[] {
  const last = keys[keys.length - 1];
  return [
    [0, 0],
    [0, 1],
    [1, 0],
    [4, 9],
    [5, 2],
    [77, 0],
    [500, 1],
    [last[0], last[1]],
    [last[0] + 1, 0],
    [2 ** 40, 0],
  ];
}

const cmp = (a: Key, b: Key): number => a[0] - b[0] || a[1] - b[1];

async function expectScan(gen: AsyncGenerator<Entry>, want: Entry[]): Promise<void> {
  expect(await scanned(gen)).toEqual(show(want));
}

describe('B-tree node layout', () => {
  it('fits as many entries as the block holds after the 64-byte node header', () => {
    expect(maxEntriesFor(8)).toBe(201);
    expect(maxEntriesFor(120)).toBe(30);
    expect(maxEntriesFor(1024)).toBe(3);
    expect(KEYS_OFFSET + maxEntriesFor(1) * (KEY_SIZE + 1)).toBeLessThanOrEqual(BLOCK_SIZE);
  });

  it('nodeProblem names the block and what is wrong, or returns null', () => {
    const buf = Buffer.alloc(BLOCK_SIZE);
    initNode(buf, true, 16);
    insertEntry(buf, 0, 1, 0, Buffer.alloc(16));
    insertEntry(buf, 1, 2, 0, Buffer.alloc(16));
    expect(nodeProblem(buf, 7, { leaf: true, valueSize: 16 })).toBeNull();
    expect(nodeProblem(buf, 7, { leaf: false, valueSize: 16 })).toMatch(/^B-tree node 7: expected an internal node/);
    expect(nodeProblem(buf, 7, { valueSize: 24 })).toMatch(/^B-tree node 7: value size is 16, should be 24/);
    buf[50] = 1;
    expect(nodeProblem(buf, 7, { valueSize: 16 })).toBe('B-tree node 7: reserved header bytes are not zero');
    buf[50] = 0;
    setKey(buf, 1, 1, 0);
    expect(nodeProblem(buf, 7, { valueSize: 16 })).toMatch(/^B-tree node 7: key 1 \(1, 0\) is not above key 0/);
    buf.writeUInt16LE(99, 38);
    expect(nodeProblem(buf, 7, { valueSize: 16 })).toMatch(/maxEntries is 99/);
  });
});

describe('BTree', () => {
  it('inserts, looks up and overwrites values', async () => {
    const txn = new MemoryTxn();
    const tree = await BTree.create(txn, 16);
    expect(await tree.lookup(1, 2)).toBeNull();
    await tree.insert(1, 2, val(16, 1));
    await tree.insert(0, 7, val(16, 2));
    await tree.insert(2 ** 53 - 1, 0xffff_ffff, val(16, 3));
    expect(await tree.lookup(1, 2)).toEqual(val(16, 1));
    expect(await tree.lookup(0, 7)).toEqual(val(16, 2));
    expect(await tree.lookup(2 ** 53 - 1, 0xffff_ffff)).toEqual(val(16, 3));
    expect(await tree.lookup(1, 3)).toBeNull();
    await tree.insert(1, 2, val(16, 4));
    expect(await tree.lookup(1, 2)).toEqual(val(16, 4));
    expect(await tree.count()).toBe(3);
    txn.commit();
    expect(await tree.lookup(1, 2)).toEqual(val(16, 4));
  });

  it('returns copies: changing a returned value does not change the tree', async () => {
    const txn = new MemoryTxn();
    const tree = await BTree.create(txn, 4);
    await tree.insert(1, 1, val(4, 1));
    txn.commit();
    (await tree.lookup(1, 1))?.fill(0);
    for await (const [, , value] of tree.entries()) value.fill(0);
    expect(await tree.lookup(1, 1)).toEqual(val(4, 1));
  });

  it('rejects malformed keys, values and value sizes with TypeError', async () => {
    const txn = new MemoryTxn();
    const tree = await BTree.create(txn, 8);
    await expect(tree.lookup(-1, 0)).rejects.toThrow(TypeError);
    await expect(tree.lookup(2 ** 53, 0)).rejects.toThrow(TypeError);
    await expect(tree.lookup(1.5, 0)).rejects.toThrow(TypeError);
    await expect(tree.lookup(0, 2 ** 32)).rejects.toThrow(TypeError);
    await expect(tree.insert(0, 0, Buffer.alloc(7))).rejects.toThrow(TypeError);
    await expect(tree.remove(0, -1)).rejects.toThrow(TypeError);
    expect(() => tree.entries([0, 0.5])).toThrow(TypeError);
    expect(() => tree.entriesDescending([NaN, 0])).toThrow(TypeError);
    await expect(BTree.create(txn, 0)).rejects.toThrow(TypeError);
    await expect(BTree.create(txn, 1025)).rejects.toThrow(TypeError);
    expect(() => new BTree(txn, 8, -1)).toThrow(TypeError);
  });

  it('splits leaves and the root until the tree has three levels (value size 8, 201 per leaf)', async () => {
    const keys = keysUpTo(21_000);
    const { tree, txn } = await build(8, keys, 2000);
    expect(await height(tree)).toBe(3);
    expect(await tree.count()).toBe(keys.length);
    for (const [k1, k2] of keys.filter((_, i) => i % 97 === 0))
      expect(await tree.lookup(k1, k2)).toEqual(val(8, k1 + k2));
    await expectNoLeak(tree, txn);
  });

  it('splits with a big value size (120, 30 per leaf) in random order, to three levels', async () => {
    const keys = keysUpTo(5000);
    const { tree, txn } = await build(120, shuffled(keys, 1), 300);
    expect(await height(tree)).toBe(3);
    expect(await scanned(tree.entries())).toEqual(show(keys.map(([k1, k2]) => [k1, k2, val(120, k1 + k2)])));
    await expectNoLeak(tree, txn);
  });

  it('removes with borrow and merge down to an empty tree, the height shrinking back to one', async () => {
    const keys = keysUpTo(5000);
    const { tree, txn } = await build(120, shuffled(keys, 2), 300);
    const heights = [await height(tree)];
    const order = shuffled(keys, 3);
    for (let i = 0; i < order.length; i++) {
      expect(await tree.remove(...order[i])).toBe(true);
      if (i % 250 === 249) {
        txn.commit();
        await expectNoLeak(tree, txn);
        heights.push(await height(tree));
        expect(await tree.count()).toBe(order.length - i - 1);
        expect(await tree.lookup(...order[i])).toBeNull();
        if (i + 1 < order.length)
          expect(await tree.lookup(...order[i + 1])).toEqual(val(120, order[i + 1][0] + order[i + 1][1]));
      }
    }
    txn.commit();
    expect(heights[0]).toBe(3);
    expect(heights).toEqual([...heights].sort((a, b) => b - a));
    expect(await height(tree)).toBe(1);
    expect(await tree.count()).toBe(0);
    expect([...txn.live()]).toEqual([tree.root]);
  });

  it('borrows from a sibling, on either side, when merging would overflow', async () => {
    // Value size 120: 30 entries per leaf, under-full below 10.
    const txn = new MemoryTxn();
    const tree = await BTree.create(txn, 120);
    const leafSizes = async (): Promise<number[]> => {
      const sizes: number[] = [];
      await tree.walk((_loc, buf) => {
        if (isLeaf(buf)) sizes.push(nrEntries(buf));
      });
      return sizes;
    };
    for (let i = 0; i < 31; i++) await tree.insert(i, 0, val(120, i));
    expect(await leafSizes()).toEqual([16, 15]);
    for (let i = 31; i < 45; i++) await tree.insert(i, 0, val(120, i));
    expect(await leafSizes()).toEqual([16, 29]);
    // The leftmost leaf takes from its right sibling.
    for (let i = 0; i < 7; i++) await tree.remove(i, 0);
    expect(await leafSizes()).toEqual([19, 19]);
    txn.commit();
    // A right leaf takes from its left sibling.
    for (let i = 0; i < 7; i++) await tree.insert(i, 0, val(120, i));
    expect(await leafSizes()).toEqual([26, 19]);
    for (let i = 26; i < 36; i++) await tree.remove(i, 0);
    expect(await leafSizes()).toEqual([18, 17]);
    const want = Array.from({ length: 45 }, (_, i): Entry => [i, 0, val(120, i)]).filter(([i]) => i < 26 || i >= 36);
    expect(await scanned(tree.entries())).toEqual(show(want));
    await expectNoLeak(tree, txn);
  });

  it('removing an absent key returns false and changes nothing, not even the root', async () => {
    const { tree, txn } = await build(120, keysUpTo(500));
    const root = tree.root;
    const allocations = txn.allocations;
    expect(await tree.remove(1, 0)).toBe(false);
    expect(await tree.remove(10_000, 0)).toBe(false);
    expect(tree.root).toBe(root);
    expect(txn.allocations).toBe(allocations);
  });

  it('never modifies a committed node: the previous root still reads the previous tree', async () => {
    const keys = keysUpTo(2000);
    const { tree, txn } = await build(120, keys);
    const before = await scanned(tree.entries());
    const oldRoot = tree.root;
    const oldNodes = await reachable(tree);
    for (const [k1, k2] of keys.filter((_, i) => i % 3 === 0)) await tree.remove(k1, k2);
    for (let i = 0; i < 500; i++) await tree.insert(i * 7 + 1, 9, val(120, -i));
    for (const [k1, k2] of keys.filter((_, i) => i % 5 === 1)) await tree.insert(k1, k2, val(120, 0));
    expect(tree.root).not.toBe(oldRoot);
    // Until the commit the old blocks are still there, untouched (reads check their checksums).
    const old = new BTree(txn, 120, oldRoot);
    expect(await scanned(old.entries())).toEqual(before);
    for (const loc of oldNodes) expect(txn.isCommitted(loc)).toBe(true);
    txn.commit(); // checks every committed block's checksum again
    await expectNoLeak(tree, txn);
  });

  it('shadows a node once per transaction: a shadow of a shadow allocates nothing new', async () => {
    const { tree, txn } = await build(120, keysUpTo(2000));
    const levels = await height(tree);
    const base = txn.allocations;
    await tree.insert(3, 0, val(120, 1)); // an overwrite in the first leaf: the path is shadowed
    expect(txn.allocations - base).toBe(levels);
    const root = tree.root;
    await tree.insert(3, 1, val(120, 2));
    await tree.insert(3, 0, val(120, 3));
    expect(txn.allocations - base).toBe(levels);
    expect(tree.root).toBe(root);
    txn.commit();
    await tree.insert(3, 0, val(120, 4));
    expect(txn.allocations - base).toBe(2 * levels);
  });

  it('scans ascending within bounds across leaf boundaries', async () => {
    const keys = keysUpTo(1500);
    const { tree } = await build(120, shuffled(keys, 4));
    const model = keys.map(([k1, k2]): Entry => [k1, k2, val(120, k1 + k2)]);
    await expectScan(tree.entries(), model);
    const bounds = scanBounds(keys);
    for (const from of bounds) {
      await expectScan(
        tree.entries(from),
        model.filter(([k1, k2]) => cmp([k1, k2], from) >= 0),
      );
      for (const to of bounds) {
        const want = model.filter(([k1, k2]) => cmp([k1, k2], from) >= 0 && cmp([k1, k2], to) < 0);
        await expectScan(tree.entries(from, to), want);
      }
    }
    // Stopping early is fine: the generator holds no node.
    const firstThree: Entry[] = [];
    for await (const e of tree.entries([500, 0])) {
      firstThree.push(e);
      if (firstThree.length === 3) break;
    }
    expect(show(firstThree)).toEqual(show(model.filter(([k1]) => k1 >= 500).slice(0, 3)));
  });

  it('scans descending within bounds across leaf boundaries', async () => {
    const keys = keysUpTo(1500);
    const { tree } = await build(120, shuffled(keys, 5));
    const model = keys.map(([k1, k2]): Entry => [k1, k2, val(120, k1 + k2)]).reverse();
    const bounds = scanBounds(keys);
    await expectScan(tree.entriesDescending([2 ** 53 - 1, 0xffff_ffff]), model);
    for (const from of bounds) {
      await expectScan(
        tree.entriesDescending(from),
        model.filter(([k1, k2]) => cmp([k1, k2], from) <= 0),
      );
      for (const downTo of bounds) {
        const want = model.filter(([k1, k2]) => cmp([k1, k2], from) <= 0 && cmp([k1, k2], downTo) >= 0);
        await expectScan(tree.entriesDescending(from, downTo), want);
      }
    }
  });

  it('scans find keys whose internal lower bounds went stale after removals', async () => {
    const keys = keysUpTo(1500);
    const { tree, txn } = await build(120, keys);
    // Remove the first keys of many leaves so internal keys are below their subtree's real minimum.
    const removed = keys.filter((_, i) => i % 20 < 4);
    for (const [k1, k2] of removed) await tree.remove(k1, k2);
    txn.commit();
    const left = keys.filter((_, i) => i % 20 >= 4);
    for (let i = 0; i < keys.length; i += 29) {
      const [k1, k2] = keys[i];
      const asc = left.filter(([a, b]) => a > k1 || (a === k1 && b >= k2));
      expect(await scanned(tree.entries([k1, k2]))).toEqual(show(asc.map(([a, b]) => [a, b, val(120, a + b)])));
      const desc = left.filter(([a, b]) => a < k1 || (a === k1 && b <= k2)).reverse();
      expect(await scanned(tree.entriesDescending([k1, k2]))).toEqual(
        show(desc.map(([a, b]) => [a, b, val(120, a + b)])),
      );
    }
  });

  it('scans an empty tree and yields nothing', async () => {
    const tree = await BTree.create(new MemoryTxn(), 8);
    expect(await collect(tree.entries())).toEqual([]);
    expect(await collect(tree.entriesDescending([5, 5]))).toEqual([]);
  });

  it('walk reports a damaged block (bad checksum) naming the block and its path from the root', async () => {
    const { tree, txn } = await build(120, keysUpTo(5000));
    const leaf = (await nodes(tree)).filter((n) => n.depth === 2)[3];
    txn.tamper(leaf.loc, (buf) => (buf[KEYS_OFFSET + KEY_SIZE + 2] ^= 0x40), false);
    const err = await corruptionOf(tree.walk(() => undefined));
    expect(err.message).toMatch(new RegExp(`^block ${leaf.loc}: B-tree node checksum`));
    expect(err.message).toMatch(new RegExp(`path ${tree.root} > \\d+ > ${leaf.loc}, key range \\[\\(`));
  });

  it('walk reports keys out of order in a well-formed block', async () => {
    const { tree, txn } = await build(120, keysUpTo(5000));
    const leaf = (await nodes(tree)).filter((n) => n.depth === 2)[3];
    txn.tamper(
      leaf.loc,
      (buf) => buf.copy(buf, KEYS_OFFSET, KEYS_OFFSET + 2 * KEY_SIZE, KEYS_OFFSET + 3 * KEY_SIZE),
      true,
    );
    const err = await corruptionOf(tree.walk(() => undefined));
    expect(err.message).toMatch(
      new RegExp(`^B-tree node ${leaf.loc}: key 1 .* is not above key 0 .*path ${tree.root} > \\d+ > ${leaf.loc}`),
    );
  });

  it('walk reports a key outside the range its parent gives it', async () => {
    const { tree, txn } = await build(120, keysUpTo(5000));
    const leaf = (await nodes(tree)).filter((n) => n.depth === 2)[3];
    txn.tamper(leaf.loc, (buf) => setKey(buf, 0, 0, 0), true);
    const err = await corruptionOf(tree.walk(() => undefined));
    const lower = `(${leaf.lower?.[0]}, ${leaf.lower?.[1]})`;
    expect(err.message).toContain(`B-tree node ${leaf.loc}: key (0, 0) is below its lower bound ${lower}`);
  });

  it('walk reports a key at or above the lower bound of the next subtree', async () => {
    const { tree, txn } = await build(120, keysUpTo(5000));
    const leaf = (await nodes(tree)).filter((n) => n.depth === 2)[3];
    txn.tamper(leaf.loc, (buf) => setKey(buf, nrEntries(buf) - 1, 2 ** 40, 0), true);
    const err = await corruptionOf(tree.walk(() => undefined));
    expect(err.message).toMatch(
      new RegExp(`^B-tree node ${leaf.loc}: key \\(${2 ** 40}, 0\\) is not below its upper bound`),
    );
  });

  it('stops descending a damaged tree whose child pointers form a cycle', async () => {
    const { tree, txn } = await build(120, keysUpTo(1000));
    txn.tamper(tree.root, (buf) => setChild(buf, 0, tree.root), true);
    const err = await corruptionOf(tree.lookup(0, 0));
    expect(err.message).toMatch(new RegExp(`^B-tree node ${tree.root}: more than 64 levels deep`));
    expect((await corruptionOf(tree.walk(() => undefined))).message).toMatch(
      new RegExp(`^B-tree node ${tree.root}: reached twice \\(path ${tree.root} > ${tree.root},`),
    );
  });

  it('lookup refuses a node whose header does not fit the tree', async () => {
    const { tree, txn } = await build(120, keysUpTo(10));
    txn.tamper(tree.root, (buf) => buf.writeUInt16LE(8, 36), true);
    const err = await corruptionOf(tree.lookup(0, 0));
    expect(err.message).toMatch(new RegExp(`^B-tree node ${tree.root}: value size is 8, should be 120`));
  });

  it('destroy frees every node', async () => {
    const { tree, txn } = await build(120, keysUpTo(2000));
    await tree.destroy();
    expect(txn.live().size).toBe(0);
    txn.commit();
    expect(txn.live().size).toBe(0);
  });

  it('uses whichever transaction object it is given after a commit', async () => {
    const first = new MemoryTxn();
    const tree = await BTree.create(first, 8);
    await tree.insert(1, 1, val(8, 1));
    first.commit();
    const calls: string[] = [];
    const next: BlockTxn = {
      read: (loc, type) => (calls.push('read'), first.read(loc, type)),
      shadow: (loc, type) => (calls.push('shadow'), first.shadow(loc, type)),
      alloc: (type) => (calls.push('alloc'), first.alloc(type)),
      free: (loc) => (calls.push('free'), first.free(loc)),
    };
    tree.txn = next;
    await tree.insert(2, 2, val(8, 2));
    expect(calls).toContain('shadow');
    expect(await tree.lookup(2, 2)).toEqual(val(8, 2));
  });

  it('leaves the tree as it was when a split cannot allocate', async () => {
    const txn = new MemoryTxn();
    let allowed = Infinity;
    const failing: BlockTxn = {
      read: (loc, type) => txn.read(loc, type),
      shadow: (loc, type) => txn.shadow(loc, type),
      alloc: async (type): Promise<WritableBlock> => {
        if (allowed-- <= 0) throw StoreError.noSpace();
        return txn.alloc(type);
      },
      free: (loc) => txn.free(loc),
    };
    // Value size 1024: 3 entries per leaf. A full root leaf needs two blocks to split:
    // the first is allocated, the second fails, and the first goes back.
    const tree = await BTree.create(failing, 1024);
    for (let i = 0; i < 3; i++) await tree.insert(i * 10, 0, val(1024, i));
    txn.commit();
    const before = await scanned(tree.entries());
    allowed = 1;
    await expect(tree.insert(5, 0, val(1024, 9))).rejects.toThrow(StoreError);
    expect(await scanned(tree.entries())).toEqual(before);
    await expectNoLeak(tree, txn);
    // Deeper: a full leaf under a root with room; shadowing the path needs no alloc here.
    allowed = Infinity;
    for (let i = 3; i < 60; i++) await tree.insert(i * 10, 0, val(1024, i));
    await tree.insert(1, 0, val(1024, 1)); // fills the first leaf: (0, 0), (1, 0), (10, 0)
    txn.commit();
    const full: Key[] = [];
    await tree.walk((_loc, buf) => {
      if (isLeaf(buf) && nrEntries(buf) === maxEntries(buf)) full.push(keyAt(buf, 0));
    });
    expect(full.length).toBeGreaterThan(0);
    const [k1] = full[0];
    const after = await scanned(tree.entries());
    allowed = 0;
    await expect(tree.insert(k1 + 5, 0, val(1024, 9))).rejects.toThrow(StoreError);
    expect(await scanned(tree.entries())).toEqual(after);
    await expectNoLeak(tree, txn);
    allowed = Infinity;
    await tree.insert(k1 + 5, 0, val(1024, 9));
    expect(await tree.lookup(k1 + 5, 0)).toEqual(val(1024, 9));
    await expectNoLeak(tree, txn);
  });
});

// The model: a Map keyed by "k1,k2", sorted on demand.
type Op =
  | { op: 'insert'; k1: number; k2: number }
  | { op: 'insertRun'; k1: number; k2: number; count: number }
  | { op: 'remove'; k1: number; k2: number }
  | { op: 'removeRun'; k1: number; k2: number; count: number }
  | { op: 'lookup'; k1: number; k2: number }
  | { op: 'scan'; from: Key; to: Key }
  | { op: 'commit' };

describe('BTree against a sorted-map model', () => {
  const K1_SPACE = 1500;
  const k1 = fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: K1_SPACE }));
  const k2 = fc.integer({ min: 0, max: 2 });
  const key = fc.tuple(k1, k2).map(([a, b]): Key => [a, b]);
  const op: fc.Arbitrary<Op> = fc.oneof(
    { arbitrary: fc.record({ op: fc.constant('insert' as const), k1, k2 }), weight: 6 },
    {
      arbitrary: fc.record({ op: fc.constant('insertRun' as const), k1, k2, count: fc.integer({ min: 1, max: 700 }) }),
      weight: 1,
    },
    { arbitrary: fc.record({ op: fc.constant('remove' as const), k1, k2 }), weight: 5 },
    {
      arbitrary: fc.record({ op: fc.constant('removeRun' as const), k1, k2, count: fc.integer({ min: 1, max: 700 }) }),
      weight: 1,
    },
    { arbitrary: fc.record({ op: fc.constant('lookup' as const), k1, k2 }), weight: 3 },
    { arbitrary: fc.record({ op: fc.constant('scan' as const), from: key, to: key }), weight: 1 },
    { arbitrary: fc.constant({ op: 'commit' as const }), weight: 2 },
  );

  it('matches the model over random inserts, removes, lookups, scans and commits, leaking no block', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(1024, 120, 8, 1),
        fc.nat({ max: 1200 }),
        fc.array(op, { maxLength: 60 }),
        async (valueSize, prefill, ops) => {
          const txn = new MemoryTxn();
          const tree = await BTree.create(txn, valueSize);
          const model = new Map<string, Entry>();
          const sorted = (): Entry[] => [...model.values()].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
          let writes = 0;
          const insert = async (a: number, b: number): Promise<void> => {
            const value = val(valueSize, ++writes);
            await tree.insert(a, b, value);
            model.set(`${a},${b}`, [a, b, value]);
          };
          const remove = async (a: number, b: number): Promise<void> => {
            expect(await tree.remove(a, b)).toBe(model.delete(`${a},${b}`));
          };
          const check = async (): Promise<void> => {
            const all = sorted();
            expect(await scanned(tree.entries())).toEqual(show(all));
            expect(await scanned(tree.entriesDescending([2 ** 53 - 1, 0xffff_ffff]))).toEqual(show([...all].reverse()));
            await expectNoLeak(tree, txn);
          };
          // A prefilled tree starts deep enough (three levels at value size 1024) for
          // internal nodes to split, borrow and merge.
          for (let i = 0; i < prefill; i++) await insert(i * 2, i % 3);
          txn.commit();
          for (const o of ops) {
            switch (o.op) {
              case 'insert':
                await insert(o.k1, o.k2);
                break;
              case 'insertRun':
                for (let i = 0; i < o.count; i++) await insert(o.k1 + i, o.k2);
                break;
              case 'remove':
                await remove(o.k1, o.k2);
                break;
              case 'removeRun':
                for (let i = 0; i < o.count; i++) await remove(o.k1 + i, o.k2);
                break;
              case 'lookup':
                expect(await tree.lookup(o.k1, o.k2)).toEqual(model.get(`${o.k1},${o.k2}`)?.[2] ?? null);
                break;
              case 'scan': {
                const all = sorted();
                const cmp = (e: Entry, key: Key): number => e[0] - key[0] || e[1] - key[1];
                const asc = all.filter((e) => cmp(e, o.from) >= 0 && cmp(e, o.to) < 0);
                expect(await scanned(tree.entries(o.from, o.to))).toEqual(show(asc));
                // Descending from `to` down to `from`, both inclusive.
                const desc = all.filter((e) => cmp(e, o.from) >= 0 && cmp(e, o.to) <= 0).reverse();
                expect(await scanned(tree.entriesDescending(o.to, o.from))).toEqual(show(desc));
                break;
              }
              case 'commit':
                txn.commit();
                await check();
                break;
            }
          }
          txn.commit();
          await check();
          expect(await tree.count()).toBe(model.size);
        },
      ),
      { numRuns: 300 },
    );
  });
});
