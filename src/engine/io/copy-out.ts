// The copy-out: before the origin overwrites a chunk that another version still reads
// from the origin file, its old data is copied to a new COW chunk and recorded there,
// with a marker on the origin leaf, so the versions that need it find it. The callers
// (an origin write with no write-back, and the write-back's batches) make the copy
// durable with a commit before the origin is written: the copy-out rule.
import { crc32c } from '@node-rs/crc32';
import { StoreError } from '../../errors';
import { BLOCK_SIZE } from '../../format/layout';
import { chunkKey, ExceptionKind, MARKER } from '../../format/records';
import { Version } from '../../snap/version-tree';
import { splitKey } from '../origins';
import type { Core } from '../metadata/core';
import type { Reservation } from '../space';
import type { BufferPool } from '../../util/buffer-pool';
import type { Accounting } from '../background/accounting';

/** What a copy-out works with. */
export type CopyOutParts = Pick<
  Core,
  'pin' | 'meta' | 'space' | 'sm' | 'cow' | 'origins' | 'versions' | 'exceptions' | 'chunkSize'
>;

/** Where a copy-out's entry goes instead of a version the running reclaim pass merges away (the `Reclaimer`). */
export interface Merges {
  /** `v`, or its heir if the running pass merges it away; asked holding the pin. */
  heirOf(v: Version): Version;
}

export class CopyOut {
  private readonly counts = new Map<number, number>(); // origin -> chunks copied out since the store opened

  /** Chunks copied out since the store opened: of origin `o`, or of all origins. */
  countOf(o?: number): number {
    if (o !== undefined) return this.counts.get(o) ?? 0;
    let all = 0;
    for (const n of this.counts.values()) all += n;
    return all;
  }

  /** `buffers`: where the old data is read into (the held writes' buffers). */
  constructor(
    private readonly core: CopyOutParts,
    /** Keeps the snapshots' figures exact around each entry put. */
    private readonly accounting: Accounting,
    private readonly buffers: BufferPool,
    private readonly merges: Merges,
  ) {}

  /**
   * The version that must keep the old data of chunk c before the origin overwrites it,
   * or null when no other version can read the origin's copy. Ask under the metadata lock.
   */
  async keeper(origin: number, chunk: number): Promise<Version | null> {
    const { versions, exceptions } = this.core;
    const leaf = versions.originLeaf(origin);
    if (!leaf.parentNode) return null;
    const found = await exceptions.nearest(origin, chunk, leaf);
    if (found?.version === leaf) return null;
    if (found?.exception.kind === ExceptionKind.CHUNK) {
      throw StoreError.corruption(`chunk ${chunk}: the origin's nearest entry is a COW chunk, not a marker`);
    }
    const keeper = found ? found.version : versions.root(leaf);
    // a version that the running reclaim pass merges away goes to its heir
    const heir = this.merges.heirOf(keeper);
    return heir === leaf ? null : heir;
  }

  /**
   * Copy these chunks out, together: each one's old data, copied for the version that
   * needs it now (none, if no other version reads the origin's copy any more), out of its
   * `space`. One pass under the metadata lock finds the keepers and the new chunks, the
   * data is copied, one more pass records them all. The caller holds the chunks' locks.
   * Returns the old data, free to change (give it back to the pool when done).
   */
  async run(chunks: Array<{ key: number; space: Reservation }>): Promise<Buffer[]> {
    const { core } = this;
    const releasePin = await core.pin.acquireShared();
    try {
      const plans = await core.meta.run(async () => {
        const out: Array<{ origin: number; chunk: number; keeper: Version | null; block: number }> = [];
        for (const { key, space } of chunks) {
          const { origin, chunk } = splitKey(key);
          const keeper = await this.keeper(origin, chunk);
          out.push({ origin, chunk, keeper, block: keeper ? await core.space.allocChunk(space) : -1 });
        }
        return out;
      });
      const olds: Buffer[] = [];
      const crcs: number[] = [];
      try {
        // in parallel, off the event loop: requests are served while the data is copied
        await Promise.all(
          plans.map(async (p, i) => {
            const old = this.buffers.take(core.origins.chunkLength(p.origin, p.chunk));
            olds[i] = old;
            await core.origins.device(p.origin).read(old, p.chunk * core.chunkSize, 'background');
            if (p.keeper) await core.cow.write(old, p.block * BLOCK_SIZE, 'background');
            crcs[i] = p.keeper ? crc32c(old) : 0;
          }),
        );
      } catch (e) {
        for (const old of olds) if (old) this.buffers.give(old);
        await core.meta.run(async () => {
          for (const p of plans) if (p.keeper) await core.sm.freeChunk(p.block);
        });
        throw e;
      }
      await core.meta.run(async () => {
        for (const [i, p] of plans.entries()) {
          if (!p.keeper) continue;
          const leaf = core.versions.originLeaf(p.origin);
          const chunkEntry = { kind: ExceptionKind.CHUNK, block: p.block, crc: crcs[i] };
          await this.accounting.change(chunkKey(p.origin, p.chunk), async () => {
            await core.exceptions.put(p.origin, p.chunk, p.keeper!.id, chunkEntry);
            await core.exceptions.put(p.origin, p.chunk, leaf.id, MARKER);
          });
          this.counts.set(p.origin, (this.counts.get(p.origin) ?? 0) + 1);
        }
      });
      return olds;
    } finally {
      releasePin();
    }
  }
}
