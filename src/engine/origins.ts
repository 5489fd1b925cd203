// The store's origins: their records, their open devices, and the chunk keys that name a
// chunk of one (origin * MAX_CHUNKS + chunk, so that one index holds every origin's
// entries in origin order). It owns the records' changes until a commit writes them:
// a record put or dropped here is in the origin table after the next commit, and a
// record's `leaf` is read from the version tree as it is written (the tree is the one
// place that knows which version is an origin's live leaf).
import createDebug from 'debug';
import { StoreError } from '../errors';
import { OriginRecord, packOrigin, packOriginPath, MAX_CHUNKS } from '../format/records';
import { BlockDevice } from '../block/block-device';
import { BTree } from '../btree/btree';
import { VersionTree } from '../snap/version-tree';

const debug = createDebug('snapfuse:engine');

/** The origin and the chunk a chunk key names. */
export function splitKey(key: number): { origin: number; chunk: number } {
  return { origin: Math.floor(key / MAX_CHUNKS), chunk: key % MAX_CHUNKS };
}

export class Origins {
  private readonly changed = new Set<number>(); // records to write at the next commit
  private readonly changedPaths = new Set<number>(); // ... and their paths
  private readonly dropped: number[] = []; // records to delete at the next commit

  constructor(
    private readonly records: Map<number, OriginRecord>,
    private readonly devices: Map<number, BlockDevice>,
    private readonly versions: VersionTree,
    private readonly chunkSize: number,
  ) {}

  /** Origin `id`'s record; an unknown id is a caller's mistake. */
  get(id: number): OriginRecord {
    const o = this.records.get(id);
    if (!o) throw StoreError.invalid(`no origin ${id}`);
    return o;
  }

  /** Origin `id`'s record, if the store has it. */
  find(id: number): OriginRecord | undefined {
    return this.records.get(id);
  }

  get size(): number {
    return this.records.size;
  }

  /** Every origin, removing ones too, by id. */
  entries(): IterableIterator<[number, OriginRecord]> {
    return this.records.entries();
  }

  ids(): IterableIterator<number> {
    return this.records.keys();
  }

  // ---- devices -----------------------------------------------------------------------

  device(id: number): BlockDevice {
    const dev = this.devices.get(id);
    if (!dev) throw StoreError.invalid(`origin ${id} is not open`);
    return dev;
  }

  /** The ids of the origins open now. */
  openIds(): number[] {
    return [...this.devices.keys()];
  }

  attach(id: number, dev: BlockDevice): void {
    this.devices.set(id, dev);
  }

  /** Origin `id`'s device, no longer the store's to use (the caller closes it). */
  detach(id: number): BlockDevice | undefined {
    const dev = this.devices.get(id);
    this.devices.delete(id);
    return dev;
  }

  // ---- changes ----------------------------------------------------------------------

  /** Record a new origin, or a change to one; the next commit persists it. */
  put(id: number, o: OriginRecord): void {
    this.records.set(id, o);
    this.changed.add(id);
    this.changedPaths.add(id);
  }

  /** Origins being removed whose versions are all gone: their records go too. */
  dropRemoved(): void {
    for (const [id, o] of this.records) {
      if (!o.removing || this.versions.ofOrigin(id).length > 0) continue;
      this.records.delete(id);
      this.devices.delete(id);
      this.changed.delete(id);
      this.changedPaths.delete(id);
      this.dropped.push(id);
      debug('origin %d (%s) removed', id, o.name);
    }
  }

  /** Has anything changed that the next commit must write? */
  get hasChanges(): boolean {
    return (
      this.changed.size > 0 || this.dropped.length > 0 || [...this.records.keys()].some((id) => this.leafMoved(id))
    );
  }

  /** Write the records changed since the last commit into the origin table (inside meta). */
  async persist(table: BTree): Promise<void> {
    for (const id of this.dropped.splice(0)) {
      const keys: number[] = [];
      for await (const [, k] of table.entries([id, 0], [id + 1, 0])) keys.push(k);
      for (const k of keys) await table.remove(id, k);
    }
    for (const id of this.records.keys()) if (this.leafMoved(id)) this.changed.add(id);
    for (const id of this.changed) {
      const o = this.get(id);
      o.leaf = this.versions.findOriginLeaf(id)?.id ?? o.leaf;
      await table.insert(id, 0, packOrigin(o));
      if (!this.changedPaths.has(id)) continue;
      const path = packOriginPath(o.path);
      for (let k = 0; k < path.length; k++) await table.insert(id, k + 1, path[k]);
    }
    this.changed.clear();
    this.changedPaths.clear();
  }

  /** Has origin `id`'s live leaf changed (a snapshot of it split it) since its record was written? */
  private leafMoved(id: number): boolean {
    const leaf = this.versions.findOriginLeaf(id);
    return leaf !== undefined && leaf.id !== this.records.get(id)!.leaf;
  }

  // ---- chunks -----------------------------------------------------------------------

  /** Bytes of chunk `c` of origin `o` (the last chunk may be short). */
  chunkLength(o: number, c: number): number {
    return Math.min(this.chunkSize, this.get(o).size - c * this.chunkSize);
  }

  /** How far chunk key `key` lies through all origins' chunks, 0..1: a scan's progress. */
  keyProgress(key: number): number {
    const chunks = (id: number) => Math.ceil(this.get(id).size / this.chunkSize);
    let before = 0;
    let total = 0;
    const { origin, chunk } = splitKey(key);
    for (const id of this.records.keys()) {
      total += chunks(id);
      if (id < origin) before += chunks(id);
      else if (id === origin) before += Math.min(chunk, chunks(id));
    }
    return Math.min(1, before / Math.max(1, total));
  }
}
