// The records kept in the store's B-trees. Keys are (k1, k2) pairs (see btree/node.ts).
//
// Origin table: key (origin id, 0), value ORIGIN_SIZE bytes:
//   OFFSET SIZE FIELD
//   0      8    origin size in bytes
//   8      8    st_dev of the origin file at format (0 for a block device)
//   16     8    st_ino of the origin file at format (0 for a block device)
//   24     8    st_rdev of a block device origin (0 for a file)
//   32     4    version id of the origin's leaf
//   36     4    flags: 1 being removed (its versions wait for reclaim; then the record goes)
//   40     32   name, zero-padded ("" for a single-origin store)
// Key (origin id, k) for k = 1, 2, ...: the path the origin was given as (stores of named
// origins only), ORIGIN_SIZE bytes of its UTF-8 per entry, the last zero-padded.
//
// Version table: key (version id, 0), value VERSION_SIZE bytes:
//   OFFSET SIZE FIELD
//   0      4    parent version id, 0 for the root
//   4      2    origin id
//   6      1    kind: 0 interior (frozen), 1 origin leaf, 2 snapshot, 3 hidden leaf
//   7      1    state: 0 live, 1 deleted (awaiting reclaim), 2 being reclaimed by the running pass
//   8      8    created, ms since the epoch
//   16     16   uuid (snapshots: the identity two stores compare)
//   32     1    name length
//   33     64   name
//   97     1    source length
//   98     64   source: the image it was taken of ("origin" or a snapshot id)
//   162    1    schedule length
//   163    16   schedule: the class that took it ("" when a person did)
//   179    8    received: a partial receive's hidden leaf, the image bytes from 0 on
//                that arrived whole and are durable (0 for every other version)
//   187    1    flags: 1 invalid (a full store could not keep its data: it reads EIO)
//   188    4    reserved
//
// Exception table: key (origin id * 2^40 + chunk, version id), value EXCEPTION_SIZE bytes:
//   OFFSET SIZE FIELD
//   0      1    kind: 1 a COW chunk, 2 an origin marker ("same as the origin file")
//   1      3    reserved
//   4      4    crc32c of the chunk's data (COW chunks)
//   8      8    first block of the COW chunk (COW chunks)
import { StoreError } from '../errors';
import { readU64, writeU64 } from './layout';

export const ORIGIN_SIZE = 72;
export const VERSION_SIZE = 192;
export const EXCEPTION_SIZE = 16;
export const NAME_MAX = 64;
export const SCHEDULE_NAME_MAX = 16;
export const CHUNK_KEY_BITS = 40;
export const MAX_CHUNKS = 2 ** CHUNK_KEY_BITS;

export interface OriginRecord {
  size: number;
  dev: number;
  ino: number;
  rdev: number;
  leaf: number;
  name: string;
  path: string; // "" in a single-origin store: the origin is given at each open
  removing: boolean;
}

const REMOVING = 1;
export const ORIGIN_PATH_MAX = 4096;

export function packOrigin(o: OriginRecord): Buffer {
  const buf = Buffer.alloc(ORIGIN_SIZE);
  writeU64(buf, 0, o.size);
  writeU64(buf, 8, o.dev);
  writeU64(buf, 16, o.ino);
  writeU64(buf, 24, o.rdev);
  buf.writeUInt32LE(o.leaf, 32);
  buf.writeUInt32LE(o.removing ? REMOVING : 0, 36);
  buf.write(o.name, 40, 32, 'utf8');
  return buf;
}

/** The values of an origin's path entries, keys (id, 1), (id, 2)... */
export function packOriginPath(path: string): Buffer[] {
  const bytes = Buffer.from(path, 'utf8');
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += ORIGIN_SIZE) {
    const piece = Buffer.alloc(ORIGIN_SIZE);
    bytes.copy(piece, 0, at, at + ORIGIN_SIZE);
    out.push(piece);
  }
  return out;
}

export function unpackOriginPath(pieces: Buffer[]): string {
  const bytes = Buffer.concat(pieces);
  return zeroPadded(bytes, 0, bytes.length);
}

/** The origin record alone (path '': see unpackOriginPath). */
export function unpackOrigin(buf: Buffer): OriginRecord {
  return {
    size: readU64(buf, 0),
    dev: readU64(buf, 8),
    ino: readU64(buf, 16),
    rdev: readU64(buf, 24),
    leaf: buf.readUInt32LE(32),
    name: zeroPadded(buf, 40, 32),
    path: '',
    removing: (buf.readUInt32LE(36) & REMOVING) !== 0,
  };
}

export enum VersionKind {
  INTERIOR = 0,
  ORIGIN = 1,
  SNAPSHOT = 2,
  HIDDEN = 3,
}

export enum VersionState {
  LIVE = 0,
  DELETED = 1,
  RECLAIMING = 2,
}

export interface VersionRecord {
  id: number;
  parent: number;
  origin: number;
  kind: VersionKind;
  state: VersionState;
  created: number;
  uuid: Buffer;
  name: string;
  source: string;
  schedule: string;
  received: number;
  /** The store could not keep this snapshot's data (`--when-full invalidate`): it reads EIO. */
  invalid: boolean;
}

const INVALID = 1;

export function packVersion(v: VersionRecord): Buffer {
  const buf = Buffer.alloc(VERSION_SIZE);
  buf.writeUInt32LE(v.parent, 0);
  buf.writeUInt16LE(v.origin, 4);
  buf.writeUInt8(v.kind, 6);
  buf.writeUInt8(v.state, 7);
  writeU64(buf, 8, v.created);
  v.uuid.copy(buf, 16, 0, 16);
  const n = buf.write(v.name, 33, NAME_MAX, 'utf8');
  buf.writeUInt8(n, 32);
  buf.writeUInt8(buf.write(v.source, 98, NAME_MAX, 'utf8'), 97);
  buf.writeUInt8(buf.write(v.schedule, 163, SCHEDULE_NAME_MAX, 'utf8'), 162);
  writeU64(buf, 179, v.received);
  buf.writeUInt8(v.invalid ? INVALID : 0, 187);
  return buf;
}

export function unpackVersion(id: number, buf: Buffer): VersionRecord {
  return {
    id,
    parent: buf.readUInt32LE(0),
    origin: buf.readUInt16LE(4),
    kind: buf.readUInt8(6) as VersionKind,
    state: buf.readUInt8(7) as VersionState,
    created: readU64(buf, 8),
    uuid: Buffer.from(buf.subarray(16, 32)),
    name: buf.toString('utf8', 33, 33 + Math.min(buf.readUInt8(32), NAME_MAX)),
    source: buf.toString('utf8', 98, 98 + Math.min(buf.readUInt8(97), NAME_MAX)),
    schedule: buf.toString('utf8', 163, 163 + Math.min(buf.readUInt8(162), SCHEDULE_NAME_MAX)),
    received: readU64(buf, 179),
    invalid: (buf.readUInt8(187) & INVALID) !== 0,
  };
}

export enum ExceptionKind {
  CHUNK = 1,
  MARKER = 2,
}

export type Exception = { kind: ExceptionKind.CHUNK; block: number; crc: number } | { kind: ExceptionKind.MARKER };

export const MARKER: Exception = { kind: ExceptionKind.MARKER };

export function packException(e: Exception): Buffer {
  const buf = Buffer.alloc(EXCEPTION_SIZE);
  buf.writeUInt8(e.kind, 0);
  if (e.kind === ExceptionKind.CHUNK) {
    buf.writeUInt32LE(e.crc, 4);
    writeU64(buf, 8, e.block);
  }
  return buf;
}

export function unpackException(buf: Buffer): Exception {
  const kind = buf.readUInt8(0);
  if (kind === ExceptionKind.CHUNK) return { kind, crc: buf.readUInt32LE(4), block: readU64(buf, 8) };
  if (kind === ExceptionKind.MARKER) return MARKER;
  throw StoreError.corruption(`exception record of unknown kind ${kind}`);
}

export function chunkKey(origin: number, chunk: number): number {
  return origin * MAX_CHUNKS + chunk;
}

function zeroPadded(buf: Buffer, off: number, len: number): string {
  const end = buf.indexOf(0, off);
  return buf.toString('utf8', off, end < 0 || end > off + len ? off + len : end);
}
