// Reads of COW chunks, each checked against the crc32c its entry keeps: rotted data is an
// error (EIO), never returned. Chunks seen sound are remembered (by block and crc, so a
// rewritten or reused block is checked again), so that small reads of a chunk need not
// read and check the whole chunk each time.
import { crc32c } from '@node-rs/crc32';
import { LRUCache } from 'lru-cache';
import { StoreError } from '../../errors';
import { BLOCK_SIZE } from '../../format/layout';
import { BlockDevice } from '../../block/block-device';

export class CowChunks {
  private readonly verified = new LRUCache<number, number>({ max: 65536 }); // block -> crc seen sound

  constructor(private readonly cow: BlockDevice) {}

  /** The chunk at `block`, `length` bytes, checked against `crc`. */
  async read(block: number, length: number, crc: number, into?: Buffer): Promise<Buffer> {
    const buf = into ?? Buffer.allocUnsafe(length);
    await this.cow.read(buf, block * BLOCK_SIZE);
    const sum = crc32c(buf);
    if (sum !== crc) {
      throw StoreError.corruption(
        `COW chunk at block ${block}: data checksum is 0x${sum.toString(16)}, should be 0x${crc.toString(16)}`,
      );
    }
    this.verified.set(block, crc);
    return buf;
  }

  /** Was the chunk at `block` seen sound with this crc (so a piece of it may be read unchecked)? */
  isVerified(block: number, crc: number): boolean {
    return this.verified.get(block) === crc;
  }
}
