// The store's free space as the writers see it: what is free, less what writes in flight
// were promised, less a reserve kept for metadata. A write reserves all the data chunks it
// may need before it changes anything, so it either finds them all or fails with
// NO_SPACE having changed nothing; the reserve lets the commits that follow always find
// blocks for their metadata.
import { StoreError } from '../errors';
import { SpaceMap } from '../alloc/space-map';

/** Blocks kept free for metadata: data allocation stops short of them. */
const META_RESERVE_MIN = 64;

export class Space {
  private reserved = 0; // blocks promised to writes in flight

  constructor(
    private readonly sm: SpaceMap,
    private readonly totalBlocks: number,
    private readonly chunkBlocks: number,
  ) {}

  /** Blocks data may not take: kept for the metadata of the commits to come. */
  metaReserve(): number {
    return Math.max(META_RESERVE_MIN, Math.ceil(this.totalBlocks / 512));
  }

  /** Refuse, before anything changes, an operation that needs `blocks` more than the reserve. */
  require(blocks: number): void {
    if (!this.hasRoom(blocks)) throw StoreError.noSpace();
  }

  /** Is there room for `chunks` more data chunks beyond what is promised? */
  hasRoomFor(chunks: number): boolean {
    return this.hasRoom(chunks * this.chunkBlocks);
  }

  /**
   * Set aside room for `chunks` data chunks, so that a write either finds all the space it
   * may need or fails with NO_SPACE before it changes anything. Release what is left
   * when the write is done.
   */
  reserveChunks(chunks: number): Reservation {
    const blocks = chunks * this.chunkBlocks;
    this.require(blocks);
    this.reserved += blocks;
    return new Reservation((n) => (this.reserved -= n), blocks);
  }

  /** A new COW chunk for data, out of `reservation`; call inside meta, holding the pin. */
  async allocChunk(reservation: Reservation): Promise<number> {
    reservation.take(this.chunkBlocks);
    return this.sm.allocChunk();
  }

  private hasRoom(blocks: number): boolean {
    return this.sm.counts().allocatable - this.reserved >= blocks + this.metaReserve();
  }
}

/** Blocks promised to one write (or job): taken as it allocates, the rest given back. */
export class Reservation {
  constructor(
    private readonly giveBack: (blocks: number) => void,
    private left: number,
  ) {}

  take(blocks: number): void {
    if (blocks > this.left) throw new Error('a write took more space than it reserved');
    this.left -= blocks;
    this.giveBack(blocks);
  }

  release(): void {
    this.giveBack(this.left);
    this.left = 0;
  }

  /** Move `blocks` of this reservation into a new one. */
  split(blocks: number): Reservation {
    if (blocks > this.left) throw new Error('a write took more space than it reserved');
    this.left -= blocks;
    return new Reservation(this.giveBack, blocks);
  }
}
