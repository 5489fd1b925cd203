// The transaction manager: the only writer of metadata blocks. It keeps a byte-budgeted
// LRU of clean blocks and a pinned set of the blocks this transaction made, and commits
// in two phases:
//
//   OPEN --commit()--> flush space map --> seal and write new blocks --> flush device
//        --> write superblock (seq & 1) --> flush device --> OPEN (next transaction)
//                     \--- any failure ---> FAILED (sticky; reopen the store)
//
// Until the superblock is durable, the previous commit stays whole on disk: nothing it
// references is overwritten (the space map only hands out blocks free in both the
// committed and the current state). There is no replay: the last commit is the state.
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
  private readonly dirty = new Map<number, { buf: Buffer; type: BlockType }>();
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
    return this.cache.calculatedSize + this.dirty.size * BLOCK_SIZE;
  }

  async read(loc: number, type: BlockType): Promise<Buffer> {
    this.assertOpen();
    const mine = this.dirty.get(loc);
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
    this.assertOpen();
    try {
      await this.spaceMap.flush();
      const seq = this.committedSeq + 1;
      const blocks = [...this.dirty].sort((a, b) => a[0] - b[0]);
      for (const [loc, { buf, type }] of blocks) sealBlock(buf, type, loc, seq);
      for (let i = 0; i < blocks.length; i += WRITE_BATCH) {
        await Promise.all(
          blocks.slice(i, i + WRITE_BATCH).map(([loc, { buf }]) => this.dev.write(buf, loc * BLOCK_SIZE)),
        );
      }
      await this.dev.flush();
      const sb: Superblock = {
        ...fields,
        seq,
        freeBlocks: this.spaceMap.counts().free,
        spaceIndexRoot: this.spaceMap.index.root,
        committed: Date.now(),
      };
      await this.dev.write(packSuperblock(sb), (seq & 1) * BLOCK_SIZE);
      await this.dev.flush();
      for (const [loc, { buf }] of blocks) this.cache.set(loc, buf);
      this.dirty.clear();
      this.committedSeq = seq;
      this.spaceMap.afterCommit();
      debug('commit %d: %d blocks', seq, blocks.length);
      return sb;
    } catch (e) {
      this.failure = new StoreError('FAILED', `a commit failed (${(e as Error).message}); reopen the store`, {
        cause: e,
      });
      throw e instanceof StoreError ? e : this.failure;
    }
  }

  /** Drop every cached block (tests use it to force reads from the device). */
  dropCache(): void {
    this.cache.clear();
  }

  private assertOpen(): void {
    if (this.failure) throw this.failure;
  }
}
