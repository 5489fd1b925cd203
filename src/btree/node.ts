// A B-tree node: one metadata block, operated on in place. Entries are kept sorted by
// key; keys and values sit in separate packed arrays so a binary search touches only
// the keys, and inserting or removing shifts both arrays with copyWithin.
//
//   OFFSET        SIZE                  FIELD
//   0             32                    block header (format/layout.ts)
//   32            1                     flags: bit0 = leaf, other bits zero
//   33            1                     reserved, zero
//   34            2                     nrEntries
//   36            2                     valueSize: the tree's value size in a leaf, 8 in an internal node
//   38            2                     maxEntries = floor((4096 - 64) / (12 + valueSize))
//   40            24                    reserved, zero
//   64            12 × maxEntries       keys: k1 (u64), then k2 (u32)
//   64 + 12×max   valueSize × maxEntries values; in an internal node, child block numbers (u64)
//
// Keys are (k1, k2) pairs compared lexicographically. In an internal node
// key[i] <= every key under child i < key[i+1]: key[i] is the smallest key of child i
// when the entry is made, and stays a lower bound as keys are removed below it.
import { BLOCK_SIZE, HEADER_SIZE, readU64, writeU64 } from '../format/layout';

export type Key = [k1: number, k2: number];

export const KEYS_OFFSET = 64;
export const KEY_SIZE = 12;
export const CHILD_SIZE = 8;

const FLAGS = 32;
const RESERVED_1 = 33;
const NR_ENTRIES = 34;
const VALUE_SIZE = 36;
const MAX_ENTRIES = 38;
const RESERVED_2 = 40;
const LEAF = 1;

export function maxEntriesFor(valueSize: number): number {
  return Math.floor((BLOCK_SIZE - KEYS_OFFSET) / (KEY_SIZE + valueSize));
}

/** Format `buf` as an empty node. Clears everything after the block header, so stale bytes of a reused block never show. */
export function initNode(buf: Buffer, leaf: boolean, valueSize: number): void {
  buf.fill(0, HEADER_SIZE);
  buf[FLAGS] = leaf ? LEAF : 0;
  buf.writeUInt16LE(valueSize, VALUE_SIZE);
  buf.writeUInt16LE(maxEntriesFor(valueSize), MAX_ENTRIES);
}

export function isLeaf(buf: Buffer): boolean {
  return (buf[FLAGS] & LEAF) !== 0;
}

export function nrEntries(buf: Buffer): number {
  return buf.readUInt16LE(NR_ENTRIES);
}

function setNrEntries(buf: Buffer, n: number): void {
  buf.writeUInt16LE(n, NR_ENTRIES);
}

export function maxEntries(buf: Buffer): number {
  return buf.readUInt16LE(MAX_ENTRIES);
}

function valueSizeOf(buf: Buffer): number {
  return buf.readUInt16LE(VALUE_SIZE);
}

function keyOffset(i: number): number {
  return KEYS_OFFSET + i * KEY_SIZE;
}

function valueOffset(buf: Buffer, i: number): number {
  return KEYS_OFFSET + maxEntries(buf) * KEY_SIZE + i * valueSizeOf(buf);
}

export function keyK1(buf: Buffer, i: number): number {
  return readU64(buf, keyOffset(i));
}

export function keyK2(buf: Buffer, i: number): number {
  return buf.readUInt32LE(keyOffset(i) + 8);
}

export function keyAt(buf: Buffer, i: number): Key {
  return [keyK1(buf, i), keyK2(buf, i)];
}

export function setKey(buf: Buffer, i: number, k1: number, k2: number): void {
  writeU64(buf, keyOffset(i), k1);
  buf.writeUInt32LE(k2, keyOffset(i) + 8);
}

export function compareKeys(a1: number, a2: number, b1: number, b2: number): number {
  if (a1 !== b1) return a1 < b1 ? -1 : 1;
  return a2 === b2 ? 0 : a2 < b2 ? -1 : 1;
}

/** Compare key i of the node with (k1, k2). */
export function compareKeyAt(buf: Buffer, i: number, k1: number, k2: number): number {
  return compareKeys(keyK1(buf, i), keyK2(buf, i), k1, k2);
}

/** The first index whose key is >= (k1, k2); nrEntries when there is none. */
export function lowerBound(buf: Buffer, k1: number, k2: number): number {
  let lo = 0;
  let hi = nrEntries(buf);
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareKeyAt(buf, mid, k1, k2) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The last index whose key is <= (k1, k2), i.e. the child that may hold it; -1 when (k1, k2) is below every key. */
export function childIndex(buf: Buffer, k1: number, k2: number): number {
  const i = lowerBound(buf, k1, k2);
  return i < nrEntries(buf) && compareKeyAt(buf, i, k1, k2) === 0 ? i : i - 1;
}

/** A view into the node, valid as long as the buffer is: copy it before keeping it. */
export function valueAt(buf: Buffer, i: number): Buffer {
  const off = valueOffset(buf, i);
  return buf.subarray(off, off + valueSizeOf(buf));
}

export function setValue(buf: Buffer, i: number, value: Buffer): void {
  value.copy(buf, valueOffset(buf, i));
}

export function childAt(buf: Buffer, i: number): number {
  return readU64(buf, valueOffset(buf, i));
}

export function setChild(buf: Buffer, i: number, loc: number): void {
  writeU64(buf, valueOffset(buf, i), loc);
}

/** A child pointer as the value of an internal node's entry. */
export function encodeChild(loc: number): Buffer {
  const value = Buffer.alloc(CHILD_SIZE);
  writeU64(value, 0, loc);
  return value;
}

// Shift entries [pos, nr) up by `count` to make room; the caller fills the gap.
function openGap(buf: Buffer, pos: number, count: number): void {
  const n = nrEntries(buf);
  const vs = valueSizeOf(buf);
  buf.copyWithin(keyOffset(pos + count), keyOffset(pos), keyOffset(n));
  const values = valueOffset(buf, 0);
  buf.copyWithin(values + (pos + count) * vs, values + pos * vs, values + n * vs);
  setNrEntries(buf, n + count);
}

/** Insert one entry at `pos`; the node must not be full. */
export function insertEntry(buf: Buffer, pos: number, k1: number, k2: number, value: Buffer): void {
  openGap(buf, pos, 1);
  setKey(buf, pos, k1, k2);
  setValue(buf, pos, value);
}

/**
 * Insert `count` entries of `src` starting at `srcPos` into `dst` at `dstPos`. Both nodes
 * have the same layout and `dst` has room; `src` is only read, so it may be a read-only
 * buffer.
 */
export function copyEntriesIn(dst: Buffer, dstPos: number, src: Buffer, srcPos: number, count: number): void {
  openGap(dst, dstPos, count);
  src.copy(dst, keyOffset(dstPos), keyOffset(srcPos), keyOffset(srcPos + count));
  const vs = valueSizeOf(src);
  src.copy(dst, valueOffset(dst, dstPos), valueOffset(src, srcPos), valueOffset(src, srcPos) + count * vs);
}

/** Remove `count` entries starting at `pos`, shifting the later ones down. */
export function removeEntries(buf: Buffer, pos: number, count: number): void {
  const n = nrEntries(buf);
  const vs = valueSizeOf(buf);
  buf.copyWithin(keyOffset(pos), keyOffset(pos + count), keyOffset(n));
  const values = valueOffset(buf, 0);
  buf.copyWithin(values + pos * vs, values + (pos + count) * vs, values + n * vs);
  setNrEntries(buf, n - count);
}

/**
 * Split the full node `left` while inserting an entry at `pos`: the upper entries move
 * to `right` (formatted here) so that the two halves differ by at most one entry.
 */
export function splitInsert(left: Buffer, right: Buffer, pos: number, k1: number, k2: number, value: Buffer): void {
  initNode(right, isLeaf(left), valueSizeOf(left));
  const n = nrEntries(left);
  const keep = (n + 2) >> 1; // ceil((n + 1) / 2): the left half's size after the insert
  const from = pos < keep ? keep - 1 : keep;
  copyEntriesIn(right, 0, left, from, n - from);
  removeEntries(left, from, n - from);
  if (pos < keep) insertEntry(left, pos, k1, k2, value);
  else insertEntry(right, pos - keep, k1, k2, value);
}

export interface NodeExpectation {
  /** Whether the node must be a leaf; undefined when either will do. */
  leaf?: boolean;
  /** The tree's value size: a leaf's. Internal nodes always hold CHILD_SIZE values. */
  valueSize: number;
}

/**
 * The cheap checks, done on every node read: flags, value size, capacity, count. Enough
 * to make every accessor above stay inside the block. A one-line description naming the
 * block, or null.
 */
export function headerProblem(buf: Buffer, loc: number, expect: NodeExpectation): string | null {
  const where = `B-tree node ${loc}`;
  const flags = buf[FLAGS];
  if ((flags & ~LEAF) !== 0) return `${where}: unknown flags 0x${flags.toString(16)}`;
  const leaf = isLeaf(buf);
  if (expect.leaf !== undefined && leaf !== expect.leaf) {
    return `${where}: expected ${expect.leaf ? 'a leaf' : 'an internal node'}, found ${leaf ? 'a leaf' : 'an internal node'}`;
  }
  const vs = leaf ? expect.valueSize : CHILD_SIZE;
  if (valueSizeOf(buf) !== vs) return `${where}: value size is ${valueSizeOf(buf)}, should be ${vs}`;
  const max = maxEntries(buf);
  if (max !== maxEntriesFor(vs))
    return `${where}: maxEntries is ${max}, should be ${maxEntriesFor(vs)} for value size ${vs}`;
  const n = nrEntries(buf);
  if (n > max) return `${where}: holds ${n} entries, more than its maximum ${max}`;
  if (!leaf && n === 0) return `${where}: internal node with no children`;
  return null;
}

// A u64 field readU64 would refuse, as a description rather than an exception.
function beyond53(buf: Buffer, off: number): boolean {
  return buf.readUInt32LE(off + 4) >= 0x20_0000;
}

/** Every check of a single node: headerProblem, reserved bytes, and keys strictly increasing. */
export function nodeProblem(buf: Buffer, loc: number, expect: NodeExpectation): string | null {
  const header = headerProblem(buf, loc, expect);
  if (header) return header;
  const where = `B-tree node ${loc}`;
  if (buf[RESERVED_1] !== 0 || buf.subarray(RESERVED_2, KEYS_OFFSET).some((b) => b !== 0)) {
    return `${where}: reserved header bytes are not zero`;
  }
  const n = nrEntries(buf);
  for (let i = 0; i < n; i++) {
    if (beyond53(buf, keyOffset(i))) return `${where}: key ${i} has k1 beyond 2^53`;
    if (!isLeaf(buf) && beyond53(buf, valueOffset(buf, i))) return `${where}: child ${i} is beyond block 2^53`;
    if (i > 0 && compareKeyAt(buf, i, keyK1(buf, i - 1), keyK2(buf, i - 1)) <= 0) {
      return `${where}: key ${i} ${formatKey(keyAt(buf, i))} is not above key ${i - 1} ${formatKey(keyAt(buf, i - 1))}`;
    }
  }
  return null;
}

/**
 * Whether the node's keys lie in [lower, upper), the range its parent gives it (null:
 * unbounded). Keys must already be known to be in order: only the ends are looked at.
 */
export function rangeProblem(buf: Buffer, loc: number, lower: Key | null, upper: Key | null): string | null {
  const n = nrEntries(buf);
  if (n === 0) return null;
  const first = keyAt(buf, 0);
  const last = keyAt(buf, n - 1);
  if (lower && compareKeys(...first, ...lower) < 0) {
    return `B-tree node ${loc}: key ${formatKey(first)} is below its lower bound ${formatKey(lower)}`;
  }
  if (upper && compareKeys(...last, ...upper) >= 0) {
    return `B-tree node ${loc}: key ${formatKey(last)} is not below its upper bound ${formatKey(upper)}`;
  }
  return null;
}

export function formatKey(key: Key): string {
  return `(${key[0]}, ${key[1]})`;
}
