// The superblock: two copies, at blocks 0 and 1. A commit writes the copy at
// (seq & 1) after everything it points to is durable; open takes the valid copy with
// the highest seq. A torn or damaged copy is ignored in favour of the other one.
//
//   OFFSET SIZE FIELD
//   0      32   block header (type SUPERBLOCK, location 0 or 1, seq)
//   32     8    magic "SNAPFUSE"
//   40     4    format version
//   44     4    flags, reserved
//   48     16   store uuid
//   64     4    block size
//   68     4    chunk size
//   72     8    total blocks on the COW
//   80     8    free blocks
//   88     8    space-map index root
//   96     8    version tree root
//   104    8    exception tree root
//   112    8    origin table root
//   120    4    next version id
//   124    4    reserved
//   128    8    reclaim: chunk key the running pass resumes at
//   136    4    reclaim: pass running (1) or not (0)
//   140    4    rollback: hidden source version, 0 when none runs
//   144    8    rollback: chunk key it resumes at
//   152    8    created, ms since the epoch
//   160    8    committed, ms since the epoch
//   168    4    rollback: origin id
//   172    1    when full: 0 not set (retire with a schedule, else refuse), 1 refuse,
//               2 retire, 3 invalidate (see engine/full-store.ts)
//   173    339  zero
//   512    1    schedules: how many (at most 8 in format 1, 32 in format 2)
//   520    32*n schedule n: 0 u8 name length, 1 name (16, zero-padded), 20 u32 interval in
//               seconds, 24 u32 snapshots kept, 28 u16 origin id, 30 reserved
//   1544   -    zero to the end of the block
//
// Format 1: one origin, given at each open. Format 2: named origins, each with the path
// it was given as (see records.ts); a store becomes format 2 when it gets a second origin.
import { StoreError } from '../errors';
import { BLOCK_SIZE, BlockType, blockProblem, blockSeq, blockTypeOf, readU64, sealBlock, writeU64 } from './layout';

export const MAGIC = Buffer.from('SNAPFUSE', 'latin1');
export const FORMAT_VERSION = 2;
/** The format of a store of one unnamed origin, which older snapfuse reads too. */
export const SINGLE_ORIGIN_FORMAT = 1;
export const MAX_SCHEDULES = 32;
/** Schedules per origin (and so in all, in a format 1 store). */
export const MAX_ORIGIN_SCHEDULES = 8;
const SCHEDULES_AT = 512;

/** Snapshots taken on a timer, named `<name>-YYYYMMDD-HHMMSS`; the oldest beyond `keep` are deleted. */
export interface ScheduleRecord {
  name: string;
  every: number; // seconds
  keep: number;
  origin: number; // the origin it snapshots
}

export interface Superblock {
  seq: number;
  formatVersion: number;
  uuid: Buffer;
  chunkSize: number;
  totalBlocks: number;
  freeBlocks: number;
  spaceIndexRoot: number;
  versionRoot: number;
  exceptionRoot: number;
  originRoot: number;
  nextVersion: number;
  reclaimRunning: boolean;
  reclaimCursor: number;
  rollbackSource: number;
  rollbackOrigin: number;
  rollbackCursor: number;
  created: number;
  committed: number;
  schedules: ScheduleRecord[];
  whenFull: number;
}

export function packSuperblock(sb: Superblock): Buffer {
  const buf = Buffer.alloc(BLOCK_SIZE);
  MAGIC.copy(buf, 32);
  buf.writeUInt32LE(sb.formatVersion, 40);
  sb.uuid.copy(buf, 48, 0, 16);
  buf.writeUInt32LE(BLOCK_SIZE, 64);
  buf.writeUInt32LE(sb.chunkSize, 68);
  writeU64(buf, 72, sb.totalBlocks);
  writeU64(buf, 80, sb.freeBlocks);
  writeU64(buf, 88, sb.spaceIndexRoot);
  writeU64(buf, 96, sb.versionRoot);
  writeU64(buf, 104, sb.exceptionRoot);
  writeU64(buf, 112, sb.originRoot);
  buf.writeUInt32LE(sb.nextVersion, 120);
  writeU64(buf, 128, sb.reclaimCursor);
  buf.writeUInt32LE(sb.reclaimRunning ? 1 : 0, 136);
  buf.writeUInt32LE(sb.rollbackSource, 140);
  writeU64(buf, 144, sb.rollbackCursor);
  writeU64(buf, 152, sb.created);
  writeU64(buf, 160, sb.committed);
  buf.writeUInt32LE(sb.rollbackOrigin, 168);
  buf.writeUInt8(sb.whenFull, 172);
  buf.writeUInt8(sb.schedules.length, SCHEDULES_AT);
  sb.schedules.forEach((r, i) => {
    const at = SCHEDULES_AT + 8 + 32 * i;
    buf.writeUInt8(buf.write(r.name, at + 1, 16, 'utf8'), at);
    buf.writeUInt32LE(r.every, at + 20);
    buf.writeUInt32LE(r.keep, at + 24);
    buf.writeUInt16LE(r.origin, at + 28);
  });
  sealBlock(buf, BlockType.SUPERBLOCK, sb.seq & 1, sb.seq);
  return buf;
}

export function unpackSuperblock(buf: Buffer): Superblock {
  return {
    seq: blockSeq(buf),
    formatVersion: buf.readUInt32LE(40),
    uuid: Buffer.from(buf.subarray(48, 64)),
    chunkSize: buf.readUInt32LE(68),
    totalBlocks: readU64(buf, 72),
    freeBlocks: readU64(buf, 80),
    spaceIndexRoot: readU64(buf, 88),
    versionRoot: readU64(buf, 96),
    exceptionRoot: readU64(buf, 104),
    originRoot: readU64(buf, 112),
    nextVersion: buf.readUInt32LE(120),
    reclaimCursor: readU64(buf, 128),
    reclaimRunning: buf.readUInt32LE(136) === 1,
    rollbackSource: buf.readUInt32LE(140),
    rollbackCursor: readU64(buf, 144),
    created: readU64(buf, 152),
    committed: readU64(buf, 160),
    rollbackOrigin: buf.readUInt32LE(168),
    whenFull: buf.readUInt8(172),
    schedules: Array.from({ length: Math.min(MAX_SCHEDULES, buf.readUInt8(SCHEDULES_AT)) }, (_, i) => {
      const at = SCHEDULES_AT + 8 + 32 * i;
      return {
        name: buf.toString('utf8', at + 1, at + 1 + Math.min(16, buf.readUInt8(at))),
        every: buf.readUInt32LE(at + 20),
        keep: buf.readUInt32LE(at + 24),
        origin: buf.readUInt16LE(at + 28),
      };
    }),
  };
}

function hasMagic(buf: Buffer): boolean {
  return buf.subarray(32, 40).equals(MAGIC);
}

/**
 * Choose the superblock to open from the two copies: the sound one with the highest
 * seq. Refuses, with a typed error, a device that holds no store, a store from a newer
 * format, or one whose two copies are both damaged.
 */
export function chooseSuperblock(copies: Buffer[], deviceName: string): Superblock {
  const sound: Superblock[] = [];
  const problems: string[] = [];
  copies.forEach((buf, loc) => {
    const problem = blockProblem(buf, loc, BlockType.SUPERBLOCK);
    if (problem) problems.push(problem);
    else if (!hasMagic(buf)) problems.push(`block ${loc}: superblock has no snapfuse magic`);
    else sound.push(unpackSuperblock(buf));
  });
  if (sound.length === 0) {
    const anyMagic = copies.some((b) => hasMagic(b) || blockTypeOf(b) === BlockType.SUPERBLOCK);
    if (!anyMagic) throw new StoreError('NOT_A_STORE', `${deviceName} holds no snapfuse store`);
    throw StoreError.corruption(`${deviceName}: both superblocks are damaged (${problems.join('; ')})`);
  }
  const best = sound.reduce((a, b) => (b.seq > a.seq ? b : a));
  if (best.formatVersion > FORMAT_VERSION) {
    throw new StoreError(
      'NEWER_FORMAT',
      `${deviceName} was made by a newer snapfuse (format ${best.formatVersion}; this one reads up to ${FORMAT_VERSION})`,
    );
  }
  return best;
}
