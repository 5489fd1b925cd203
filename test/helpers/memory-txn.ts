// An in-memory BlockTxn that enforces the contract in src/txn/block-txn.ts instead of
// trusting it, so tests catch a structure that breaks it:
// - committed blocks are sealed (sealBlock) at commit and checked (validateBlock) on
//   every read and at every commit, so a write to a committed buffer shows up as a bad
//   checksum;
// - a shadow of a block made in this transaction is that block; a shadow of a committed
//   block is a new block and frees the old one;
// - a freed block becomes reusable only after the commit; freeing a block twice, or one
//   that was never allocated, throws;
// - `live()` is every allocated, not freed block, to compare with what a tree reaches.
import { BLOCK_SIZE, BlockType, sealBlock, validateBlock } from '../../src/format/layout';
import { BlockTxn, WritableBlock } from '../../src/txn/block-txn';

interface Block {
  buf: Buffer;
  type: BlockType;
}

export class MemoryTxn implements BlockTxn {
  /** Blocks allocated (by alloc or by shadowing a committed block) since construction. */
  allocations = 0;
  private seq = 0;
  private nextLoc: number;
  private readonly committed = new Map<number, Block>();
  private readonly made = new Map<number, Block>(); // allocated in this transaction
  private readonly freedCommitted = new Set<number>(); // committed blocks freed in this transaction
  private readonly freedMade: number[] = []; // blocks made and freed in this transaction
  private readonly reusable: number[] = [];

  /** `firstLoc`: the first block number handed out, so block 0 is never a node. */
  constructor(firstLoc = 1) {
    this.nextLoc = firstLoc;
  }

  async read(loc: number, type: BlockType): Promise<Buffer> {
    const made = this.made.get(loc);
    if (made) {
      if (made.type !== type)
        throw new Error(`read of block ${loc} as type 0x${type.toString(16)}, made as 0x${made.type.toString(16)}`);
      return made.buf;
    }
    // A committed block freed in this transaction is still on disk until the commit:
    // the previous root's tree stays readable.
    const block = this.committed.get(loc);
    if (!block) throw new Error(`read of block ${loc}, which holds nothing`);
    validateBlock(block.buf, loc, type);
    return block.buf;
  }

  async shadow(loc: number, type: BlockType): Promise<WritableBlock> {
    const made = this.made.get(loc);
    if (made) return { loc, buf: made.buf };
    if (this.freedCommitted.has(loc)) throw new Error(`shadow of block ${loc}, freed in this transaction`);
    const old = await this.read(loc, type);
    const blk = await this.alloc(type);
    old.copy(blk.buf);
    await this.free(loc);
    return blk;
  }

  async alloc(type: BlockType): Promise<WritableBlock> {
    const loc = this.reusable.pop() ?? this.nextLoc++;
    // Garbage, as a reused block on disk would hold: users must format what they get.
    const buf = Buffer.alloc(BLOCK_SIZE, 0xa5);
    this.made.set(loc, { buf, type });
    this.allocations++;
    return { loc, buf };
  }

  async free(loc: number): Promise<void> {
    if (this.made.delete(loc)) {
      this.freedMade.push(loc);
    } else if (this.committed.has(loc) && !this.freedCommitted.has(loc)) {
      this.freedCommitted.add(loc);
    } else {
      throw new Error(`free of block ${loc}, which is not allocated (double free, or never allocated)`);
    }
  }

  /** Seal this transaction's blocks into the committed state; freed blocks become reusable. */
  commit(): void {
    for (const [loc, block] of this.committed) validateBlock(block.buf, loc, block.type);
    this.seq++;
    for (const [loc, block] of this.made) {
      sealBlock(block.buf, block.type, loc, this.seq);
      this.committed.set(loc, block);
    }
    for (const loc of this.freedCommitted) {
      this.committed.delete(loc);
      this.reusable.push(loc);
    }
    this.reusable.push(...this.freedMade);
    this.made.clear();
    this.freedCommitted.clear();
    this.freedMade.length = 0;
  }

  /** Every block allocated and not freed: committed ones not freed since, and this transaction's. */
  live(): Set<number> {
    const live = new Set<number>(this.made.keys());
    for (const loc of this.committed.keys()) if (!this.freedCommitted.has(loc)) live.add(loc);
    return live;
  }

  /** Whether a block is committed, i.e. read-only. */
  isCommitted(loc: number): boolean {
    return this.committed.has(loc);
  }

  /**
   * Change a committed block behind the transaction's back, as a torn write (reseal
   * false: the checksum no longer matches) or a bug that wrote a well-formed but wrong
   * block (reseal true).
   */
  tamper(loc: number, change: (buf: Buffer) => void, reseal: boolean): void {
    const block = this.committed.get(loc);
    if (!block) throw new Error(`tamper with block ${loc}, which is not committed`);
    change(block.buf);
    if (reseal) sealBlock(block.buf, block.type, loc, this.seq);
  }
}
