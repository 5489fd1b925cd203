// Reads and writes of byte ranges of the origin and of snapshots, split into chunks,
// each chunk under its own lock, all chunks of a request in parallel.
//
// Origin write to chunk c: if the origin leaf has its own entry for c (or is the only
// version), write in place. Otherwise the old data still belongs to other versions:
// copy it to a new COW chunk, record it at the nearest entry on the origin's path (or
// at the root), and mark the origin leaf. The origin is not overwritten before a commit
// makes that durable (the copy-out rule): the write is held in the write-back buffer,
// which makes the copy in the background (see write-back.ts), or, with no buffer, the
// write makes the copy (copy-out.ts) and waits for the commit, shared with every write
// waiting then.
//
// Snapshot write to chunk c: a chunk the snapshot made in this transaction is written
// in place; otherwise the snapshot gets a new chunk (the rest copied from what it read
// before), so a committed chunk is never overwritten and its checksum stays true.
import { crc32c } from '@node-rs/crc32';
import { BLOCK_SIZE } from '../../format/layout';
import { chunkKey, ExceptionKind, MARKER, MAX_CHUNKS } from '../../format/records';
import { Found } from '../../snap/exceptions';
import { Version } from '../../snap/version-tree';
import { Core } from '../metadata/core';
import { Reservation } from '../space';
import { Faults } from '../faults';
import { DEFAULT_WRITE_BACK, WriteBack } from './write-back';
import { CopyOut, Merges } from './copy-out';
import { BufferPool } from '../../util/buffer-pool';
import { CowChunks } from './cow-chunks';
import type { Accounting } from '../background/accounting';

export interface Piece {
  chunk: number;
  offset: number; // within the chunk
  length: number;
  at: number; // within the caller's buffer
}

/** A rollback copying into an origin: its hidden source, and the space set aside for its copy-outs. */
export interface Rolling {
  source: Version;
  space: Reservation;
}

export function splitIntoChunks(chunkSize: number, pos: number, length: number): Piece[] {
  const pieces: Piece[] = [];
  for (let at = 0; at < length;) {
    const chunk = Math.floor((pos + at) / chunkSize);
    const offset = (pos + at) % chunkSize;
    const n = Math.min(chunkSize - offset, length - at);
    pieces.push({ chunk, offset, length: n, at });
    at += n;
  }
  return pieces;
}

export class DataPath {
  readonly writeBack: WriteBack;
  private readonly copyOut: CopyOut;
  /** COW chunk reads, checked against their crc32c, and the cache of chunks seen sound. */
  private readonly cowChunks: CowChunks;
  /** Whole chunks read from the origin for copy-outs: the held writes' buffers. */
  private readonly buffers: BufferPool;

  /**
   * `writeBack`: bytes of origin writes held for their copy-out; 0: such writes wait for it.
   * `merges`: the running reclaim pass, which a copy-out asks where its entry goes.
   */
  constructor(
    private readonly core: Core,
    private readonly accounting: Accounting,
    writeBack: number | undefined,
    faults: Faults,
    merges: Merges,
  ) {
    writeBack ??= DEFAULT_WRITE_BACK;
    this.buffers = new BufferPool(core.chunkSize, Math.ceil(writeBack / core.chunkSize));
    this.cowChunks = new CowChunks(core.cow);
    this.copyOut = new CopyOut(core, accounting, this.buffers, merges);
    this.writeBack = new WriteBack(core, writeBack, this.buffers, this.copyOut, faults);
  }

  /** Chunks copied out since the store opened: of origin `o`, or of all origins. */
  copyOuts(o?: number): number {
    return this.copyOut.countOf(o);
  }

  /**
   * Everything written to origin `o` so far is durable: held writes too. The origin's
   * flush is a foreground one: a request waits for it (file-device.ts: a synchronous
   * fdatasync, as a passthrough's, when little was written since the last).
   */
  async syncOrigin(o: number): Promise<void> {
    await this.core.commit();
    await this.writeBack.drain();
    await this.core.origins.device(o).flush('foreground');
  }

  /** Read `buf.length` bytes at `pos` of `reader` (a snapshot leaf; origin reads go straight to the file). */
  async readSnapshot(origin: number, reader: Version, buf: Buffer, pos: number): Promise<void> {
    const pieces = splitIntoChunks(this.core.chunkSize, pos, buf.length);
    await Promise.all(pieces.map((p) => this.readPiece(origin, reader, p, buf)));
  }

  /**
   * Read `buf.length` bytes at `pos` of the origin: its file, and over it the writes still
   * held. While a rollback copies into it, a chunk not yet copied is read where the
   * rollback's source finds it (`rolling`: a chunk copied, or written since, has a marker
   * there and reads the file; no write is held for a chunk not yet copied).
   */
  async readOrigin(origin: number, buf: Buffer, pos: number, rolling?: Rolling): Promise<void> {
    const held = this.writeBack.overlay(origin, pos, buf.length);
    if (rolling) await this.readSnapshot(origin, rolling.source, buf, pos);
    else await this.core.origins.device(origin).read(buf, pos);
    held(buf);
  }

  /**
   * Write `buf` at `pos` of the origin. While a rollback copies into it (`rolling`), each
   * chunk it has not copied yet is copied first (rollChunk), so the copy never overwrites
   * this write.
   */
  async writeOrigin(origin: number, buf: Buffer, pos: number, rolling?: Rolling): Promise<void> {
    const { core, writeBack } = this;
    // No snapshot, no rollback, nothing held there: no chunk of this write can need a
    // copy (a create waits for the gate the caller holds), so it goes to the file whole,
    // as a passthrough's would. The check and the write are one synchronous step (a
    // foreground write is a writeSync): no hold or release of these chunks comes between,
    // and a copy-out that starts later looks its keeper up again and reads this write.
    if (!rolling && !core.versions.originLeaf(origin).parentNode && !writeBack.holdsAny(origin, pos, buf.length)) {
      if (writeBack.failure) throw writeBack.failure;
      return core.origins.device(origin).write(buf, pos);
    }
    const pieces = splitIntoChunks(core.chunkSize, pos, buf.length);
    // Space for every chunk that may need a copy is set aside first. With room for all of
    // them, each chunk is looked up once, under its lock; near a full store, a first look
    // counts the copies, so a write that needs none is not refused.
    const mayCopy = await this.mayNeedCopy(origin, pieces, !core.space.hasRoomFor(pieces.length));
    const space = core.space.reserveChunks(mayCopy.filter(Boolean).length);
    try {
      const inline = this.writeBack.limit === 0;
      await Promise.all(
        pieces.map((p, i) => this.writeOriginPiece(origin, p, buf, pos, space, mayCopy[i], inline, rolling)),
      );
    } finally {
      space.release();
    }
  }

  /**
   * Which of these chunks may need a copy-out: none while the origin has no snapshot;
   * else, unless `look`, all of them. A chunk that needs none now needs none until the
   * next create, which the caller's hold on the gate keeps out: such chunks are written
   * without another look at the metadata.
   */
  private async mayNeedCopy(origin: number, pieces: Piece[], look: boolean): Promise<boolean[]> {
    const { core } = this;
    if (!core.versions.originLeaf(origin).parentNode) return pieces.map(() => false);
    if (!look) return pieces.map(() => true);
    return core.meta.run(async () => {
      const may: boolean[] = [];
      // a held chunk's copy is its hold's, with the space it holds
      for (const p of pieces) {
        const held = this.writeBack.has(chunkKey(origin, p.chunk));
        may.push(!held && (await this.copyOut.keeper(origin, p.chunk)) !== null);
      }
      return may;
    });
  }

  /** The version that must keep chunk c's old data before the origin overwrites it, or null (copy-out.ts). */
  keeper(origin: number, chunk: number): Promise<Version | null> {
    return this.core.meta.run(() => this.copyOut.keeper(origin, chunk));
  }

  /** How many chunks of `reader` come from the COW: an upper bound of a rollback's copy-outs. */
  async countCowChunks(origin: number, reader: Version): Promise<number> {
    const { core } = this;
    const { keys } = await core.meta.run(() =>
      core.exceptions.chunkKeys(chunkKey(origin, 0), chunkKey(origin + 1, 0), Number.MAX_SAFE_INTEGER),
    );
    let n = 0;
    for (const key of keys) {
      const found = await core.meta.run(() => core.exceptions.nearest(origin, key % MAX_CHUNKS, reader));
      if (found?.exception.kind === ExceptionKind.CHUNK) n++;
    }
    return n;
  }

  /**
   * A rollback's copy of chunk c into the origin: if its source still reads c from a COW
   * chunk, that data is written over the origin's, copy-out rule and all (other versions
   * keep the old data), out of the rollback's space. True if it copied; the caller then
   * flushes the origin and marks the chunk (markRolled), after which the source reads the
   * origin there and no copy comes again. The caller holds the chunk's lock.
   */
  private async rollChunk(origin: number, chunk: number, rolling: Rolling): Promise<boolean> {
    const { core } = this;
    const found = await core.meta.run(() => core.exceptions.nearest(origin, chunk, rolling.source));
    if (found?.exception.kind !== ExceptionKind.CHUNK) return false;
    const content = await this.readChunk(origin, chunk, found);
    const key = chunkKey(origin, chunk);
    if (await core.meta.run(() => this.copyOut.keeper(origin, chunk))) {
      const [old] = await this.copyOut.run([{ key, space: rolling.space }]);
      this.buffers.give(old);
      await core.group.request(); // the copy-out rule: the old data's copy is durable first
    }
    await core.origins.device(origin).write(content, chunk * core.chunkSize);
    return true;
  }

  /**
   * Before an origin write to chunk c while a rollback copies into the origin: c holds
   * the rollback's content, and its source reads it from the origin with a marker of its
   * own, so neither the copy nor the write's copy-out (which would give the source the
   * old data) comes between. The caller holds the chunk's lock.
   */
  private async rollBeforeWrite(origin: number, chunk: number, rolling: Rolling): Promise<void> {
    const { core } = this;
    const own = await core.meta.run(() => core.exceptions.get(origin, chunk, rolling.source.id));
    if (own?.kind === ExceptionKind.MARKER) return; // marked already
    // copied data must be durable before the marker that says it is there
    if (await this.rollChunk(origin, chunk, rolling)) await core.origins.device(origin).flush();
    await this.markRolled(origin, chunk, rolling.source);
  }

  /** The rollback job's copy of chunk c (it flushes and marks a batch at a time: markJobChunks). */
  async rollJobChunk(origin: number, chunk: number, rolling: Rolling): Promise<boolean> {
    return this.underChunkLock(origin, chunk, () => this.rollChunk(origin, chunk, rolling));
  }

  /** The job's chunks, copied and flushed in the origin: marked, each under its lock. */
  async markJobChunks(origin: number, chunks: readonly number[], source: Version): Promise<void> {
    for (const chunk of chunks) await this.underChunkLock(origin, chunk, () => this.markRolled(origin, chunk, source));
  }

  /**
   * A chunk copied into the origin and flushed there: the rollback's source reads it from
   * the origin from now on (a marker, as the origin leaf has for its own chunks), so
   * neither the job, nor a resume after a crash, copies it again over later writes. A COW
   * chunk the source had of its own (reclaim merged its deleted sibling's into it) is
   * freed. The caller holds the chunk's lock.
   */
  private async markRolled(origin: number, chunk: number, source: Version): Promise<void> {
    const { core } = this;
    await core.meta.run(async () => {
      const own = await core.exceptions.get(origin, chunk, source.id);
      await this.accounting.change(chunkKey(origin, chunk), () =>
        core.exceptions.put(origin, chunk, source.id, MARKER),
      );
      if (own?.kind === ExceptionKind.CHUNK) await core.sm.freeChunk(own.block);
    });
  }

  private async underChunkLock<T>(origin: number, chunk: number, fn: () => Promise<T>): Promise<T> {
    const unlock = await this.core.chunks.acquire(chunkKey(origin, chunk), true);
    try {
      return await fn();
    } finally {
      unlock();
    }
  }

  async writeSnapshot(origin: number, writer: Version, buf: Buffer, pos: number): Promise<void> {
    const pieces = splitIntoChunks(this.core.chunkSize, pos, buf.length);
    const space = this.core.space.reserveChunks(pieces.length);
    try {
      await Promise.all(pieces.map((p) => this.writeSnapshotPiece(origin, writer, p, buf, space)));
    } finally {
      space.release();
    }
    // metadata waiting for a commit is pinned in memory: keep it bounded
    if (this.core.tm.dirtyBlocks > this.core.tm.maxDirty) await this.core.commit();
  }

  /** The data `reader` sees in chunk c, whole. */
  async readChunk(origin: number, chunk: number, found: Found | null): Promise<Buffer> {
    const length = this.core.origins.chunkLength(origin, chunk);
    const e = found?.exception;
    if (e?.kind === ExceptionKind.CHUNK) return this.cowChunks.read(e.block, length, e.crc);
    const buf = this.buffers.take(length);
    await this.core.origins.device(origin).read(buf, chunk * this.core.chunkSize);
    return buf;
  }

  /** A new COW chunk holding `data`, out of `space`; freed again if the write fails. */
  private async newChunk(data: Buffer, space: Reservation): Promise<number> {
    const { core } = this;
    const block = await core.meta.run(() => core.space.allocChunk(space));
    try {
      await core.cow.write(data, block * BLOCK_SIZE);
      return block;
    } catch (e) {
      await core.meta.run(() => core.sm.freeChunk(block));
      throw e;
    }
  }

  // ---- pieces ----------------------------------------------------------------------

  private async readPiece(origin: number, reader: Version, p: Piece, buf: Buffer): Promise<void> {
    const { core } = this;
    const unlock = await core.chunks.acquire(chunkKey(origin, p.chunk), false);
    try {
      const found = await core.meta.run(() => core.exceptions.nearest(origin, p.chunk, reader));
      const target = buf.subarray(p.at, p.at + p.length);
      const e = found?.exception;
      if (e?.kind === ExceptionKind.CHUNK) {
        const length = core.origins.chunkLength(origin, p.chunk);
        if (this.cowChunks.isVerified(e.block, e.crc)) await core.cow.read(target, e.block * BLOCK_SIZE + p.offset);
        else if (p.length === length) await this.cowChunks.read(e.block, length, e.crc, target);
        else {
          const whole = await this.cowChunks.read(e.block, length, e.crc);
          whole.copy(target, 0, p.offset, p.offset + p.length);
        }
      } else {
        await core.origins.device(origin).read(target, p.chunk * core.chunkSize + p.offset);
      }
    } finally {
      unlock();
    }
  }

  private async writeOriginPiece(
    origin: number,
    p: Piece,
    buf: Buffer,
    pos: number,
    space: Reservation,
    mayCopy: boolean,
    inline: boolean,
    rolling?: Rolling,
  ): Promise<void> {
    const { core, writeBack } = this;
    const key = chunkKey(origin, p.chunk);
    const unlock = await core.chunks.acquire(key, true);
    try {
      if (writeBack.failure) throw writeBack.failure;
      const piece = buf.subarray(p.at, p.at + p.length);
      if (writeBack.has(key)) return writeBack.write(key, p.offset, piece);
      if (rolling) await this.rollBeforeWrite(origin, p.chunk, rolling);
      // looked at again under the chunk lock: a write just before may have made the copy
      const keeper = mayCopy ? await core.meta.run(() => this.copyOut.keeper(origin, p.chunk)) : null;
      if (keeper && !inline) {
        // waiting here for room holds this chunk's lock, never a held chunk's: the drain goes on
        const room = await writeBack.room(core.origins.chunkLength(origin, p.chunk));
        return writeBack.hold(key, p.offset, piece, room, space.split(core.chunkBlocks));
      }
      if (keeper) {
        const [old] = await this.copyOut.run([{ key, space }]);
        this.buffers.give(old);
        await core.group.request();
      }
      await core.origins.device(origin).write(piece, pos + p.at);
    } finally {
      unlock();
    }
  }

  private async writeSnapshotPiece(
    origin: number,
    writer: Version,
    p: Piece,
    buf: Buffer,
    space: Reservation,
  ): Promise<void> {
    const { core } = this;
    const unlock = await core.chunks.acquire(chunkKey(origin, p.chunk), true);
    const releasePin = await core.pin.acquireShared();
    try {
      const found = await core.meta.run(() => core.exceptions.nearest(origin, p.chunk, writer));
      const own = found?.version === writer && found.exception.kind === ExceptionKind.CHUNK ? found.exception : null;
      const length = core.origins.chunkLength(origin, p.chunk);
      const piece = buf.subarray(p.at, p.at + p.length);
      const whole = p.offset === 0 && p.length === length;
      const data = whole ? Buffer.from(piece) : await this.readChunk(origin, p.chunk, found);
      if (!whole) piece.copy(data, p.offset);
      const crc = crc32c(data);

      if (own && (await core.meta.run(() => core.sm.isNew(own.block)))) {
        await core.cow.write(piece, own.block * BLOCK_SIZE + p.offset);
        await core.meta.run(() =>
          core.exceptions.put(origin, p.chunk, writer.id, { kind: ExceptionKind.CHUNK, block: own.block, crc }),
        );
        return;
      }
      const block = await this.newChunk(data, space);
      await core.meta.run(async () => {
        const entry = { kind: ExceptionKind.CHUNK, block, crc } as const;
        await this.accounting.change(chunkKey(origin, p.chunk), () =>
          core.exceptions.put(origin, p.chunk, writer.id, entry),
        );
        if (own) await core.sm.freeChunk(own.block);
      });
    } finally {
      releasePin();
      unlock();
    }
  }
}
