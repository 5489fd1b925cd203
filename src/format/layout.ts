// The on-disk format's common pieces: block size, block types, the header every
// metadata block starts with, and 64-bit fields. Everything on disk is little-endian.
//
// Every metadata block (superblock, B-tree node, space-map bitmap) is BLOCK_SIZE bytes
// and starts with this header, so a block found anywhere says what it is and where it
// belongs, and a misdirected or torn write is caught on read:
//
//   OFFSET SIZE FIELD
//   0      4    checksum: crc32c of bytes 4..BLOCK_SIZE-1, xor the type's salt
//   4      4    type: one of BlockType
//   8      8    location: the block's own number (byte offset / BLOCK_SIZE)
//   16     8    seq: the commit that wrote it
//   24     8    reserved, zero
import { crc32c } from '@node-rs/crc32';
import { StoreError } from '../errors';

export const BLOCK_SIZE = 4096;
export const HEADER_SIZE = 32;

export enum BlockType {
  SUPERBLOCK = 0x53425331, // 'SBS1'
  BTREE_NODE = 0x42544e31, // 'BTN1'
  BITMAP = 0x424d5031, // 'BMP1'
}

const SALT: Record<BlockType, number> = {
  [BlockType.SUPERBLOCK]: 0x9e3779b9,
  [BlockType.BTREE_NODE]: 0x7f4a7c15,
  [BlockType.BITMAP]: 0x2545f491,
};

const TWO_32 = 0x1_0000_0000;

export function readU64(buf: Buffer, off: number): number {
  const hi = buf.readUInt32LE(off + 4);
  if (hi >= 0x20_0000) throw StoreError.corruption(`64-bit field at offset ${off} is beyond 2^53`);
  return hi * TWO_32 + buf.readUInt32LE(off);
}

export function writeU64(buf: Buffer, off: number, value: number): void {
  buf.writeUInt32LE((value % TWO_32) >>> 0, off);
  buf.writeUInt32LE(Math.floor(value / TWO_32), off + 4);
}

export function blockChecksum(buf: Buffer, type: BlockType): number {
  return (crc32c(buf.subarray(4, BLOCK_SIZE)) ^ SALT[type]) >>> 0;
}

/** Fill in the header of a block about to be written: type, location, seq, checksum. */
export function sealBlock(buf: Buffer, type: BlockType, location: number, seq: number): void {
  buf.writeUInt32LE(type, 4);
  writeU64(buf, 8, location);
  writeU64(buf, 16, seq);
  buf.writeUInt32LE(blockChecksum(buf, type), 0);
}

export function blockTypeOf(buf: Buffer): number {
  return buf.readUInt32LE(4);
}

export function blockSeq(buf: Buffer): number {
  return readU64(buf, 16);
}

const TYPE_NAME: Record<number, string> = {
  [BlockType.SUPERBLOCK]: 'superblock',
  [BlockType.BTREE_NODE]: 'B-tree node',
  [BlockType.BITMAP]: 'space-map bitmap',
};

export function typeName(type: number): string {
  return TYPE_NAME[type] ?? `unknown type 0x${type.toString(16)}`;
}

/**
 * Check a block read from `location`: its type, checksum and own location. Returns a
 * one-line description of what is wrong, or null when it is sound.
 */
export function blockProblem(buf: Buffer, location: number, expected: BlockType): string | null {
  const type = blockTypeOf(buf);
  if (type !== expected) {
    return `block ${location}: expected a ${typeName(expected)}, found ${typeName(type)}`;
  }
  const sum = buf.readUInt32LE(0);
  const want = blockChecksum(buf, expected);
  if (sum !== want) {
    return `block ${location}: ${typeName(expected)} checksum is 0x${sum.toString(16)}, should be 0x${want.toString(16)}`;
  }
  const hi = buf.readUInt32LE(12);
  const own = hi * TWO_32 + buf.readUInt32LE(8);
  if (own !== location) {
    return `block ${location}: ${typeName(expected)} says it belongs at block ${own}`;
  }
  return null;
}

export function validateBlock(buf: Buffer, location: number, expected: BlockType): void {
  const problem = blockProblem(buf, location, expected);
  if (problem) throw StoreError.corruption(problem);
}
