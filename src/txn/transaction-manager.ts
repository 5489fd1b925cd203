// The transaction manager: the only writer of metadata blocks. It keeps a byte-budgeted
// LRU of clean blocks and a pinned set of the blocks this transaction made, and commits
// in two halves, so that the next transaction need not wait for the disk:
//
//   seal (in memory, under the caller's locks): flush space map --> seal the new blocks;
//        they become read-only, and the next transaction begins
//   write (no locks): write the blocks --> flush device --> write superblock (seq & 1)
//        --> flush device --> the blocks join the clean cache
//   any failure --> FAILED (sticky; reopen the store)
//
// Until the superblock is durable, the previous commit stays whole on disk: nothing it
// references is overwritten (the space map only hands out blocks free in the current,
// the sealed and the durable state). There is no replay: the last commit is the state.
// One commit is written at a time: the next seal waits for the caller to finish it.
import createDebug from 'debug';
import { LRUCache } from 'lru-cache';
import { StoreError } from '../errors';
import { BLOCK_SIZE, BlockType, sealBlock, validateBlock } from '../format/layout';
import { packSuperblock, Superblock } from '../format/superblock';
import { BlockDevice } from '../block/block-device';
import { SpaceMap } from '../alloc/space-map';
import { BlockTxn, WritableBlock } from './block-txn';

const debug = createDebug('snapfuse:txn');
const WRITE_BATCH = 64;

export type CommitFields = Omit<Superblock, 'seq' | 'freeBlocks' | 'spaceIndexRoot' | 'committed'>;

export class TransactionManager implements BlockTxn {
  private readonly cache: LRUCache<number, Buffer>;
  private dirty = new Map<number, { buf: Buffer; type: BlockType }>();
  private writing: Map<number, { buf: Buffer; type: BlockType }> | null = null; // sealed, being written
  private failure: StoreError | null = null;
  /** Set once by the factory that builds the space map over this manager (the knot). */
  spaceMap!: SpaceMap;

  /** Past this many pinned blocks, writers wait for a commit (backpressure). */
  readonly maxDirty: number;

  constructor(
    readonly dev: BlockDevice,
    cacheBytes: number,
    private committedSeq: number,
  ) {
    this.maxDirty = Math.max(64, Math.floor(cacheBytes / BLOCK_SIZE / 4));
    this.cache = new LRUCache<number, Buffer>({
      maxSize: Math.max(cacheBytes, 16 * BLOCK_SIZE),
      sizeCalculation: () => BLOCK_SIZE,
    });
  }

  get seq(): number {
    return this.committedSeq;
  }

  /** Blocks made by this transaction, pinned in memory until it commits. */
  get dirtyBlocks(): number {
    return this.dirty.size;
  }

  get cachedBytes(): number {
    return this.cache.calculatedSize + (this.dirty.size + (this.writing?.size ?? 0)) * BLOCK_SIZE;
  }

  async read(loc: number, type: BlockType): Promise<Buffer> {
    this.assertOpen();
    const mine = this.dirty.get(loc) ?? this.writing?.get(loc);
    if (mine) return mine.buf;
    const cached = this.cache.get(loc);
    if (cached) return cached;
    const buf = Buffer.alloc(BLOCK_SIZE);
    await this.dev.read(buf, loc * BLOCK_SIZE);
    validateBlock(buf, loc, type);
    this.cache.set(loc, buf);
    return buf;
  }

  async shadow(loc: number, type: BlockType): Promise<WritableBlock> {
    const mine = this.dirty.get(loc);
    if (mine) return { loc, buf: mine.buf };
    const old = await this.read(loc, type);
    const copy = await this.alloc(type);
    old.copy(copy.buf);
    await this.spaceMap.free(loc);
    return copy;
  }

  async alloc(type: BlockType): Promise<WritableBlock> {
    this.assertOpen();
    const loc = await this.spaceMap.allocBlock();
    const buf = Buffer.alloc(BLOCK_SIZE);
    this.cache.delete(loc);
    this.dirty.set(loc, { buf, type });
    return { loc, buf };
  }

  async free(loc: number): Promise<void> {
    this.dirty.delete(loc);
    await this.spaceMap.free(loc);
  }

  /**
   * Make everything done since the last commit durable and atomic. Data written to
   * blocks this transaction allocated must have completed before this is called.
   */
  async commit(fields: CommitFields): Promise<Superblock> {
    return (await this.seal(fields))();
  }

  /**
   * The first half of a commit: close this transaction in memory and begin the next.
   * Returns the second half, which writes the sealed one and resolves once it is
   * durable; call it before the next seal. Data written to blocks the sealed
   * transaction allocated must have completed before the seal.
   */
  async seal(fields: CommitFields): Promise<() => Promise<Superblock>> {
    this.assertOpen();
    if (this.writing) throw new Error('a sealed commit is still being written');
    let sb: Superblock;
    let blocks: Array<[number, { buf: Buffer; type: BlockType }]>;
    try {
      await this.spaceMap.flush();
      const seq = this.committedSeq + 1;
      blocks = [...this.dirty].sort((a, b) => a[0] - b[0]);
      for (const [loc, { buf, type }] of blocks) sealBlock(buf, type, loc, seq);
      sb = {
        ...fields,
        seq,
        freeBlocks: this.spaceMap.counts().free,
        spaceIndexRoot: this.spaceMap.index.root,
        committed: Date.now(),
      };
      this.writing = this.dirty;
      this.dirty = new Map();
      this.spaceMap.sealed();
    } catch (e) {
      throw this.fail(e);
    }
    return async () => {
      try {
        const runs = contiguousRuns(blocks);
        for (let i = 0; i < runs.length; i += WRITE_BATCH) {
          await Promise.all(runs.slice(i, i + WRITE_BATCH).map(([loc, buf]) => this.dev.write(buf, loc * BLOCK_SIZE)));
        }
        await this.dev.flush();
        await this.dev.write(packSuperblock(sb), (sb.seq & 1) * BLOCK_SIZE);
        await this.dev.flush();
      } catch (e) {
        throw this.fail(e);
      }
      for (const [loc, { buf }] of blocks) this.cache.set(loc, buf);
      this.writing = null;
      this.committedSeq = sb.seq;
      this.spaceMap.durable();
      debug('commit %d: %d blocks', sb.seq, blocks.length);
      return sb;
    };
  }

  /** Any failure of a commit leaves the manager FAILED; the error to throw. */
  private fail(e: unknown): unknown {
    this.failure = new StoreError('FAILED', `a commit failed (${(e as Error).message}); reopen the store`, {
      cause: e,
    });
    return e instanceof StoreError ? e : this.failure;
  }

  /** Drop every cached block (tests use it to force reads from the device). */
  dropCache(): void {
    this.cache.clear();
  }

  private assertOpen(): void {
    if (this.failure) throw this.failure;
  }
}

/** Sorted blocks as runs of consecutive locations, each one buffer: one write per run. */
function contiguousRuns(blocks: Array<[number, { buf: Buffer }]>): Array<[number, Buffer]> {
  const runs: Array<[number, Buffer]> = [];
  for (let i = 0; i < blocks.length;) {
    let j = i + 1;
    while (j < blocks.length && blocks[j][0] === blocks[j - 1][0] + 1) j++;
    const bufs = blocks.slice(i, j).map(([, b]) => b.buf);
    runs.push([blocks[i][0], bufs.length === 1 ? bufs[0] : Buffer.concat(bufs)]);
    i = j;
  }
  return runs;
}
