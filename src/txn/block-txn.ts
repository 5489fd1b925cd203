// The contract between the structures kept in metadata blocks (B-trees, bitmaps) and
// the transaction manager that owns those blocks.
//
// - A committed block is never written again: to change it, `shadow` it. The shadow is
//   a new block holding a copy; the old one is freed, and becomes reusable only once the
//   commit that stops referencing it is durable.
// - Shadowing a block that this transaction made (by `alloc` or an earlier `shadow`)
//   returns that same block: a shadow of a shadow is free.
// - Only blocks returned by `alloc` or `shadow` may be modified, and only until the
//   next commit. `read` returns the current content (this transaction's if it has one);
//   its buffer must not be modified or kept across a commit.
// - The transaction manager writes the header (type, location, seq, checksum) at commit;
//   users own the bytes after HEADER_SIZE.
import { BlockType } from '../format/layout';

export interface WritableBlock {
  loc: number;
  buf: Buffer;
}

export interface BlockTxn {
  read(loc: number, type: BlockType): Promise<Buffer>;
  shadow(loc: number, type: BlockType): Promise<WritableBlock>;
  alloc(type: BlockType): Promise<WritableBlock>;
  free(loc: number): Promise<void>;
}
