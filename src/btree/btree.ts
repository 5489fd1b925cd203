// A copy-on-write B-tree of fixed-size values keyed by (k1, k2), kept in metadata blocks
// through a BlockTxn and following its contract (txn/block-txn.ts). The node layout is
// in node.ts.
//
// A committed node is never written: a modification shadows the path from the root to
// the nodes it changes, top-down, each node once per operation, so until the commit the
// previous root still describes the previous tree. `root` therefore changes with every
// modification, and the owner persists it with the commit.
import { BlockType } from '../format/layout';
import { BlockTxn, WritableBlock } from '../txn/block-txn';
import { StoreError, isStoreError } from '../errors';
import {
  CHILD_SIZE,
  Key,
  childAt,
  childIndex,
  compareKeyAt,
  compareKeys,
  copyEntriesIn,
  encodeChild,
  formatKey,
  headerProblem,
  initNode,
  insertEntry,
  isLeaf,
  keyAt,
  keyK1,
  keyK2,
  lowerBound,
  maxEntries,
  nodeProblem,
  nrEntries,
  rangeProblem,
  removeEntries,
  setChild,
  setKey,
  setValue,
  splitInsert,
  valueAt,
} from './node';

export type { Key } from './node';
export type Entry = [k1: number, k2: number, value: Buffer];
/** Called for every node by walk. `buf` is the node as read: valid only during the call, and not to be modified. */
export type NodeVisitor = (
  loc: number,
  buf: Buffer,
  depth: number,
  lowerBound: Key | null,
  upperBound: Key | null,
) => void;

export const MAX_VALUE_SIZE = 1024;
// Fan-out is at least 2, so a deeper descent can only be a cycle in a damaged tree.
const MAX_HEIGHT = 64;

// One level of a modifying descent: a node made writable by this operation, and the
// index of the child taken (internal node) or of the first key >= the target (leaf).
interface Step {
  blk: WritableBlock;
  idx: number;
}

// One level of a scan's position: an internal node and the index of the child being scanned.
interface Frame {
  loc: number;
  idx: number;
}

function checkKey(k1: number, k2: number): void {
  if (!Number.isSafeInteger(k1) || k1 < 0) throw new TypeError(`k1 must be an integer in 0..2^53-1, got ${k1}`);
  if (!Number.isInteger(k2) || k2 < 0 || k2 > 0xffff_ffff)
    throw new TypeError(`k2 must be an integer in 0..2^32-1, got ${k2}`);
}

function checkBound(name: string, key: Key | undefined): void {
  if (key === undefined) return;
  if (!Array.isArray(key) || key.length !== 2) throw new TypeError(`${name} must be a [k1, k2] pair`);
  checkKey(key[0], key[1]);
}

function checkValueSize(valueSize: number): void {
  if (!Number.isInteger(valueSize) || valueSize < 1 || valueSize > MAX_VALUE_SIZE) {
    throw new TypeError(`valueSize must be an integer in 1..${MAX_VALUE_SIZE}, got ${valueSize}`);
  }
}

function formatRange(lower: Key | null, upper: Key | null): string {
  return `[${lower ? formatKey(lower) : '-inf'}, ${upper ? formatKey(upper) : '+inf'})`;
}

export class BTree {
  /** The transaction blocks are read and changed through; replace it when a new one starts. */
  txn: BlockTxn;
  readonly valueSize: number;
  /** The root block. Changes with every modification: persist it with the commit. */
  root: number;

  /** Open an existing tree; nothing is read until it is used. */
  constructor(txn: BlockTxn, valueSize: number, root: number) {
    checkValueSize(valueSize);
    if (!Number.isSafeInteger(root) || root < 0) throw new TypeError(`root must be a block number, got ${root}`);
    this.txn = txn;
    this.valueSize = valueSize;
    this.root = root;
  }

  /** Make an empty tree: a single empty leaf. */
  static async create(txn: BlockTxn, valueSize: number): Promise<BTree> {
    checkValueSize(valueSize);
    const blk = await txn.alloc(BlockType.BTREE_NODE);
    initNode(blk.buf, true, valueSize);
    return new BTree(txn, valueSize, blk.loc);
  }

  /** A copy of the value stored under (k1, k2), or null. */
  async lookup(k1: number, k2: number): Promise<Buffer | null> {
    checkKey(k1, k2);
    let buf = await this.readNode(this.root, 0);
    for (let depth = 1; !isLeaf(buf); depth++) {
      const i = childIndex(buf, k1, k2);
      if (i < 0) return null; // below the tree's lower bound
      buf = await this.readNode(childAt(buf, i), depth);
    }
    const pos = lowerBound(buf, k1, k2);
    return pos < nrEntries(buf) && compareKeyAt(buf, pos, k1, k2) === 0 ? Buffer.from(valueAt(buf, pos)) : null;
  }

  /** Insert (k1, k2) → value, or overwrite its value. */
  async insert(k1: number, k2: number, value: Buffer): Promise<void> {
    checkKey(k1, k2);
    if (!Buffer.isBuffer(value) || value.length !== this.valueSize) {
      throw new TypeError(`value must be a Buffer of ${this.valueSize} bytes`);
    }
    const path = await this.shadowPath(k1, k2);
    const leaf = path[path.length - 1];
    if (leaf.idx < nrEntries(leaf.blk.buf) && compareKeyAt(leaf.blk.buf, leaf.idx, k1, k2) === 0) {
      setValue(leaf.blk.buf, leaf.idx, value);
      return;
    }
    // Every full node from the leaf up splits; allocating their new halves (and a new
    // root when the old one splits) before changing anything means a failure such as
    // NO_SPACE leaves the tree as it was.
    let splits = 0;
    while (splits < path.length && this.isFull(path[path.length - 1 - splits].blk.buf)) splits++;
    const spare = await this.allocNodes(splits === path.length ? splits + 1 : splits);
    this.place(path, k1, k2, value, spare);
  }

  /** Remove (k1, k2); true if it was there. A key that is not there changes nothing, not even the root. */
  async remove(k1: number, k2: number): Promise<boolean> {
    checkKey(k1, k2);
    if ((await this.lookup(k1, k2)) === null) return false;
    const path = await this.shadowPath(k1, k2);
    const leaf = path[path.length - 1];
    removeEntries(leaf.blk.buf, leaf.idx, 1);
    await this.rebalance(path);
    await this.collapseRoot(path);
    return true;
  }

  /**
   * Entries with from <= key < to in ascending order (from: the first key, to: past the
   * last). Arguments are checked on the call. The tree must not change during the scan.
   */
  entries(from?: Key, to?: Key): AsyncGenerator<Entry> {
    checkBound('from', from);
    checkBound('to', to);
    return this.scan(from, true, to);
  }

  /** Entries with downTo <= key <= from in descending order (downTo: the first key). */
  entriesDescending(from: Key, downTo?: Key): AsyncGenerator<Entry> {
    if (from === undefined) throw new TypeError('from is required');
    checkBound('from', from);
    checkBound('downTo', downTo);
    return this.scan(from, false, downTo);
  }

  /** The number of entries, by walking (and so checking) the whole tree. */
  async count(): Promise<number> {
    let n = 0;
    await this.walk((_loc, buf) => {
      if (isLeaf(buf)) n += nrEntries(buf);
    });
    return n;
  }

  /** Free every node. The tree must not be used afterwards. */
  async destroy(): Promise<void> {
    const locs: number[] = [];
    await this.walk((loc) => {
      locs.push(loc);
    });
    for (const loc of locs) await this.txn.free(loc);
  }

  /**
   * Visit every node top-down, depth first, after checking it: the node itself
   * (nodeProblem), its keys within the range its parent gives it, all leaves at the same
   * depth, no node reached twice. Throws StoreError CORRUPTION naming the block, the path
   * of blocks from the root and the key range.
   */
  async walk(visit: NodeVisitor): Promise<void> {
    const seen = new Set<number>();
    let leafDepth: number | null = null;
    const visitNode = async (
      loc: number,
      depth: number,
      lower: Key | null,
      upper: Key | null,
      path: number[],
    ): Promise<void> => {
      const context = `path ${[...path, loc].join(' > ')}, key range ${formatRange(lower, upper)}`;
      if (seen.has(loc)) throw StoreError.corruption(`B-tree node ${loc}: reached twice (${context})`);
      seen.add(loc);
      let buf: Buffer;
      try {
        buf = await this.txn.read(loc, BlockType.BTREE_NODE);
      } catch (e) {
        if (!isStoreError(e, 'CORRUPTION')) throw e;
        throw new StoreError('CORRUPTION', `${e.message} (${context})`, { cause: e });
      }
      const leaf = leafDepth === null ? undefined : depth === leafDepth;
      const problem =
        nodeProblem(buf, loc, { leaf, valueSize: this.valueSize }) ?? rangeProblem(buf, loc, lower, upper);
      if (problem) throw StoreError.corruption(`${problem} (${context})`);
      visit(loc, buf, depth, lower, upper);
      if (isLeaf(buf)) {
        leafDepth = depth;
        return;
      }
      // Take what the children need out of the buffer before the next read.
      const n = nrEntries(buf);
      const children = Array.from({ length: n }, (_, i) => ({
        loc: childAt(buf, i),
        lower: keyAt(buf, i),
        upper: i + 1 < n ? keyAt(buf, i + 1) : upper,
      }));
      for (const child of children) await visitNode(child.loc, depth + 1, child.lower, child.upper, [...path, loc]);
    };
    await visitNode(this.root, 0, null, null, []);
  }

  // Read a node and do the cheap checks that keep the accessors inside the block.
  private async readNode(loc: number, depth: number, leaf?: boolean): Promise<Buffer> {
    const buf = await this.txn.read(loc, BlockType.BTREE_NODE);
    this.checkNode(buf, loc, depth, leaf);
    return buf;
  }

  private async shadowNode(loc: number, depth: number): Promise<WritableBlock> {
    const blk = await this.txn.shadow(loc, BlockType.BTREE_NODE);
    this.checkNode(blk.buf, loc, depth);
    return blk;
  }

  private checkNode(buf: Buffer, loc: number, depth: number, leaf?: boolean): void {
    if (depth > MAX_HEIGHT)
      throw StoreError.corruption(`B-tree node ${loc}: more than ${MAX_HEIGHT} levels deep, the tree has a cycle`);
    const problem = headerProblem(buf, loc, { leaf, valueSize: this.valueSize });
    if (problem) throw StoreError.corruption(problem);
  }

  private isFull(buf: Buffer): boolean {
    return nrEntries(buf) === maxEntries(buf);
  }

  // All or nothing: on failure the blocks already allocated go back.
  private async allocNodes(n: number): Promise<WritableBlock[]> {
    const blocks: WritableBlock[] = [];
    try {
      while (blocks.length < n) blocks.push(await this.txn.alloc(BlockType.BTREE_NODE));
    } catch (e) {
      for (const blk of blocks) await this.txn.free(blk.loc);
      throw e;
    }
    return blocks;
  }

  // Make the path to (k1, k2) writable top-down, repointing each parent at its child's
  // shadow. A key below an internal node's key[0] lowers key[0], so that it stays a lower
  // bound once the key is inserted; a key already in the tree never does.
  private async shadowPath(k1: number, k2: number): Promise<Step[]> {
    const path: Step[] = [];
    let blk = await this.shadowNode(this.root, 0);
    this.root = blk.loc;
    while (!isLeaf(blk.buf)) {
      let idx = childIndex(blk.buf, k1, k2);
      if (idx < 0) {
        idx = 0;
        setKey(blk.buf, 0, k1, k2);
      }
      path.push({ blk, idx });
      const child = await this.shadowNode(childAt(blk.buf, idx), path.length);
      setChild(blk.buf, idx, child.loc);
      blk = child;
    }
    path.push({ blk, idx: lowerBound(blk.buf, k1, k2) });
    return path;
  }

  // Insert the entry at the leaf position the path ends on. A full node splits and its
  // new right half goes into the parent, possibly splitting it in turn; a split root gets
  // a new root above it. `spare` holds one block per split (and one for the new root).
  private place(path: Step[], k1: number, k2: number, value: Buffer, spare: WritableBlock[]): void {
    let key: Key = [k1, k2];
    let level = path.length - 1;
    let pos = path[level].idx;
    for (;;) {
      const { blk } = path[level];
      if (!this.isFull(blk.buf)) {
        insertEntry(blk.buf, pos, key[0], key[1], value);
        return;
      }
      const right = takeSpare(spare);
      splitInsert(blk.buf, right.buf, pos, key[0], key[1], value);
      if (level === 0) {
        const root = takeSpare(spare);
        initNode(root.buf, false, CHILD_SIZE);
        insertEntry(root.buf, 0, keyK1(blk.buf, 0), keyK2(blk.buf, 0), encodeChild(blk.loc));
        insertEntry(root.buf, 1, keyK1(right.buf, 0), keyK2(right.buf, 0), encodeChild(right.loc));
        this.root = root.loc;
        return;
      }
      key = keyAt(right.buf, 0);
      value = encodeChild(right.loc);
      level--;
      pos = path[level].idx + 1;
    }
  }

  // After a removal, bottom-up: a node under a third full merges with a sibling when
  // both fit in one node (which may leave the parent under-full in turn), or else takes
  // entries from it until they are even (which ends the climb: the parent keeps its count).
  // Prefers the left sibling. A merge keeps the node already in the path, so the sibling
  // is only read and freed; a borrow changes the sibling, so it is shadowed.
  private async rebalance(path: Step[]): Promise<void> {
    for (let level = path.length - 1; level > 0; level--) {
      const node = path[level].blk;
      if (nrEntries(node.buf) * 3 >= maxEntries(node.buf)) return;
      const parent = path[level - 1].blk;
      const idx = path[level - 1].idx;
      if (nrEntries(parent.buf) < 2) return; // a root with one child, collapsed next
      const left = idx > 0;
      const sibIdx = left ? idx - 1 : idx + 1;
      const sibLoc = childAt(parent.buf, sibIdx);
      const sib = await this.readNode(sibLoc, level, isLeaf(node.buf));
      const n = nrEntries(node.buf);
      const s = nrEntries(sib);
      if (n + s <= maxEntries(node.buf)) {
        copyEntriesIn(node.buf, left ? 0 : n, sib, 0, s);
        if (left) setChild(parent.buf, sibIdx, node.loc); // the node takes over the sibling's slot and lower bound
        removeEntries(parent.buf, left ? idx : sibIdx, 1);
        await this.txn.free(sibLoc);
        continue;
      }
      const w = await this.shadowNode(sibLoc, level);
      setChild(parent.buf, sibIdx, w.loc);
      const moved = ((n + s) >> 1) - n;
      if (left) {
        copyEntriesIn(node.buf, 0, w.buf, s - moved, moved);
        removeEntries(w.buf, s - moved, moved);
        setKey(parent.buf, idx, keyK1(node.buf, 0), keyK2(node.buf, 0));
      } else {
        copyEntriesIn(node.buf, n, w.buf, 0, moved);
        removeEntries(w.buf, 0, moved);
        setKey(parent.buf, sibIdx, keyK1(w.buf, 0), keyK2(w.buf, 0));
      }
      return;
    }
  }

  // An internal root with a single child is a level for nothing: the child becomes the
  // root. That child is the next node of the path, since the path runs through it.
  private async collapseRoot(path: Step[]): Promise<void> {
    let level = 0;
    while (!isLeaf(path[level].blk.buf) && nrEntries(path[level].blk.buf) === 1) {
      await this.txn.free(path[level].blk.loc);
      level++;
      this.root = path[level].blk.loc;
    }
  }

  // Both scans: descend once to `start` (or the first/last leaf), keeping the internal
  // nodes on a stack, then step from leaf to leaf through the stack. A leaf's entries in
  // range are copied out before any is yielded, so no node buffer is held while the
  // caller runs. `limit` is exclusive ascending, inclusive descending.
  private async *scan(start: Key | undefined, ascending: boolean, limit: Key | undefined): AsyncGenerator<Entry> {
    const stack: Frame[] = [];
    const step = ascending ? 1 : -1;
    let seek = start;
    let loc: number | null = this.root;
    while (loc !== null) {
      const buf = await this.readNode(loc, stack.length);
      const n = nrEntries(buf);
      if (!isLeaf(buf)) {
        // A start below key[0] still enters child 0: it's where the keys above it begin.
        const idx = seek ? Math.max(0, childIndex(buf, ...seek)) : ascending ? 0 : n - 1;
        stack.push({ loc, idx });
        loc = childAt(buf, idx);
        continue;
      }
      // The start may lie past this leaf's ends (keys below an internal key[i] may have
      // been removed): the position is then off the leaf, and the scan steps on.
      let pos = seek ? (ascending ? lowerBound(buf, ...seek) : childIndex(buf, ...seek)) : ascending ? 0 : n - 1;
      seek = undefined;
      const batch: Entry[] = [];
      for (; pos >= 0 && pos < n; pos += step) {
        const k1 = keyK1(buf, pos);
        const k2 = keyK2(buf, pos);
        const beyond =
          limit !== undefined && (ascending ? compareKeys(k1, k2, ...limit) >= 0 : compareKeys(k1, k2, ...limit) < 0);
        if (beyond) {
          yield* batch;
          return;
        }
        batch.push([k1, k2, Buffer.from(valueAt(buf, pos))]);
      }
      yield* batch;
      loc = await this.nextLeafward(stack, step);
    }
  }

  // Move the stack to the neighbouring subtree: pop the levels that have no next child
  // in the direction `step`, advance the first that has, and return that child; null at
  // the end of the tree.
  private async nextLeafward(stack: Frame[], step: number): Promise<number | null> {
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const buf = await this.readNode(top.loc, stack.length - 1);
      top.idx += step;
      if (top.idx >= 0 && top.idx < nrEntries(buf)) return childAt(buf, top.idx);
      stack.pop();
    }
    return null;
  }
}

// The split cascade allocates ahead exactly what it uses; running out is a bug here.
function takeSpare(spare: WritableBlock[]): WritableBlock {
  const blk = spare.pop();
  if (!blk) throw new Error('B-tree split needs more blocks than were allocated for it');
  return blk;
}
