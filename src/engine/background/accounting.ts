// Space accounting: per snapshot, the COW bytes it alone holds (what deleting it would
// free) and those it shares; totals for the store. Held in memory, exact, and kept so
// by small steps (see snap/shares.ts for the rule):
//   - a change to one chunk's entries (a copy-out, a snapshot write, reclaim's work on a
//     chunk) takes the chunk's shares before it away and adds those after it;
//   - a snapshot taken of the origin changes nothing: it reads the origin file;
//   - a snapshot taken of snapshot L: what L held alone, L and the new one now share;
//   - a delete changes many chunks' readers at once: a background pass counts every
//     chunk again (one scan of the index, like reclaim's), while the changes to chunks
//     it has passed go into its table too. Until it ends, the figures are those from
//     before the delete, marked as being counted. A pass also runs at open.
import createDebug from 'debug';
import { unpackException } from '../../format/records';
import { chunkShares, ChunkEntry, ChunkShares } from '../../snap/shares';
import { TreeObserver, Version, VersionTree } from '../../snap/version-tree';
import type { ExceptionIndex } from '../../snap/exceptions';
import type { Mutex } from '../../util/locks';
import { Faults } from '../faults';
import { Origins, splitKey } from '../origins';
import { backgroundTurn, sliceEnds } from '../../util/time-slice';

const debug = createDebug('snapfuse:accounting');
const BATCH_CHUNKS = 4096; // chunks counted per turn of the metadata lock

/** Bytes of a snapshot's COW data. */
export interface SnapshotSpace {
  exclusive: number; // only it reads these: deleting it frees them
  shared: number; // it reads these and so does another snapshot
}

/** Bytes of the store's COW data. */
export interface SpaceTotals {
  data: number; // all COW chunks in the index
  exclusive: number; // held by one snapshot each
  shared: number; // read by two or more
  unread: number; // read by none: deleted snapshots' data, until reclaim frees it
}

/** Counts in chunks. */
class Table {
  readonly sole = new Map<number, number>(); // leaf id -> COW entries only it reads
  readonly refs = new Map<number, number>(); // version id -> change to what leaves below reference
  readonly byOrigin = new Map<number, OriginCounts>();

  /** A change to the shares of a chunk of `origin`. */
  apply(s: ChunkShares, sign: 1 | -1, origin: number): void {
    for (const v of s.sole) bump(this.sole, v.id, sign);
    for (const [v, n] of s.refs) bump(this.refs, v.id, sign * n);
    const c = this.counts(origin);
    c.sole += sign * s.sole.length;
    c.shared += sign * s.shared;
    c.unread += sign * s.unread;
  }

  /** `old` was split: what it held alone, its continuation and the new leaf share. */
  split(old: Version): void {
    const alone = this.sole.get(old.id) ?? 0;
    this.sole.delete(old.id);
    const c = this.counts(old.origin);
    c.sole -= alone;
    c.shared += alone;
  }

  /** Of one origin, or of all. */
  total(origin?: number): OriginCounts {
    const out = { sole: 0, shared: 0, unread: 0 };
    for (const [o, c] of this.byOrigin) {
      if (origin !== undefined && o !== origin) continue;
      out.sole += c.sole;
      out.shared += c.shared;
      out.unread += c.unread;
    }
    return out;
  }

  private counts(origin: number): OriginCounts {
    let c = this.byOrigin.get(origin);
    if (!c) this.byOrigin.set(origin, (c = { sole: 0, shared: 0, unread: 0 }));
    return c;
  }
}

interface OriginCounts {
  sole: number;
  shared: number;
  unread: number;
}

function bump(m: Map<number, number>, k: number, by: number): void {
  const n = (m.get(k) ?? 0) + by;
  if (n === 0) m.delete(k);
  else m.set(k, n);
}

/** What the figures are counted from: the store's trees, its origins and its lock. */
export interface Counted {
  readonly versions: VersionTree;
  readonly exceptions: ExceptionIndex;
  readonly origins: Origins;
  readonly meta: Mutex;
  readonly chunkSize: number;
}

export class Accounting implements TreeObserver {
  private table = new Table(); // exact unless `counting`
  private fresh: Table | null = null; // the running pass's table
  private cursor = 0; // chunk keys below it are in `fresh`
  private counting = true; // a pass must end before the figures are exact again
  private losses = 0; // readers lost (deletes): a pass that saw one more starts over
  private running: Promise<void> | null = null;
  private stopping = false;
  private failure: Error | null = null; // the last pass stopped on it: tried again at the next delete or mount
  private referenced: { generation: number; byId: Map<number, number> } | null = null;
  /** Bumped on every change to the figures: a key for caches of them. */
  generation = 0;
  /** Fraction of the running pass done, 0..1, or null. */
  progress: number | null = null;

  /** `faults`: where a failed pass is reported. */
  constructor(
    private readonly core: Counted,
    private readonly faults: Faults,
  ) {
    core.versions.observer = this;
  }

  /** Are the figures being counted again (after a delete, or at open)? */
  get isCounting(): boolean {
    return this.counting;
  }

  /** Is a pass running or due (not one that stopped on an error)? */
  get isBusy(): boolean {
    return this.counting && this.failure === null;
  }

  /**
   * Run `mutate`, a change to the entries of chunk `key`, keeping the figures. Call it
   * under the metadata lock.
   */
  async change<T>(key: number, mutate: () => Promise<T>): Promise<T> {
    const tables = [this.counting ? null : this.table, this.fresh && key < this.cursor ? this.fresh : null];
    if (!tables[0] && !tables[1]) return mutate();
    const before = await this.sharesOf(key);
    const result = await mutate();
    const after = await this.sharesOf(key);
    const { origin } = splitKey(key);
    for (const t of tables) {
      t?.apply(before, -1, origin);
      t?.apply(after, 1, origin);
    }
    this.generation++;
    return result;
  }

  readerSplit(old: Version): void {
    this.table.split(old);
    this.fresh?.split(old);
    this.generation++;
  }

  lostReader(): void {
    this.losses++;
    this.failure = null;
    this.counting = true;
    this.generation++;
    this.kick();
  }

  /** Start a pass if the figures need one and none runs. */
  kick(): void {
    if (this.running || this.stopping || !this.counting || this.failure) return;
    this.running = this.pass()
      .catch((e: Error) => {
        this.failure = e;
        this.faults.record('the space recount', e, false);
      })
      .finally(() => {
        this.running = null;
        this.progress = null;
      });
  }

  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.idle();
  }

  /** A snapshot leaf's figures, in bytes. */
  of(leaf: Version): SnapshotSpace {
    return this.figures(leaf, this.table.sole, this.referencedById());
  }

  /**
   * Every snapshot leaf's figures as they are now, to be read later: a status made in
   * slices, while reclaim moves the figures between them, shows one moment's. Made in
   * slices of background time too (the walk down 20,000 versions takes some 10 ms).
   */
  async view(): Promise<(leaf: Version) => SnapshotSpace> {
    const sole = new Map(this.table.sole);
    const byId = await this.referencedInSlices();
    return (leaf) => this.figures(leaf, sole, byId);
  }

  private figures(leaf: Version, sole: Map<number, number>, referencedById: Map<number, number>): SnapshotSpace {
    const size = this.core.chunkSize;
    const exclusive = Math.max(0, sole.get(leaf.id) ?? 0);
    const referenced = referencedById.get(leaf.id) ?? 0;
    return { exclusive: exclusive * size, shared: Math.max(0, referenced - exclusive) * size };
  }

  /** Of one origin's snapshots, or of the whole store. */
  totals(origin?: number): SpaceTotals {
    const size = this.core.chunkSize;
    const t = this.table.total(origin);
    return {
      data: (t.sole + t.shared + t.unread) * size,
      exclusive: t.sole * size,
      shared: t.shared * size,
      unread: t.unread * size,
    };
  }

  // ---- helpers ---------------------------------------------------------------------

  private async sharesOf(key: number): Promise<ChunkShares> {
    const { versions, exceptions } = this.core;
    const entries: ChunkEntry[] = [];
    for await (const [, vid, value] of exceptions.tree.entries([key, 0], [key + 1, 0]))
      this.addEntry(entries, vid, value);
    return chunkShares(versions, entries);
  }

  /** An index entry of version `vid`, for chunkShares (one of a version no longer in the tree reads as none). */
  private addEntry(into: ChunkEntry[], vid: number, value: Buffer): void {
    const version = this.core.versions.get(vid);
    if (version) into.push({ version, kind: unpackException(value).kind });
  }

  /** What each version's leaves reference, summed down the tree: one walk per change. */
  private referencedById(): Map<number, number> {
    if (this.referenced?.generation === this.generation) return this.referenced.byId;
    const walk = this.referencedWalk(this.table.refs);
    walk(() => false);
    this.referenced = { generation: this.generation, byId: walk.byId };
    return walk.byId;
  }

  /** The same walk in slices of background time, over the references of this moment. */
  private async referencedInSlices(): Promise<Map<number, number>> {
    if (this.referenced?.generation === this.generation) return this.referenced.byId;
    const walk = this.referencedWalk(new Map(this.table.refs));
    do await backgroundTurn();
    while (!walk(sliceEnds()));
    return walk.byId;
  }

  /** A walk down the version tree that goes on until `enough()`; true once it is done. */
  private referencedWalk(
    refs: Map<number, number>,
  ): ((enough: () => boolean) => boolean) & { byId: Map<number, number> } {
    const byId = new Map<number, number>();
    const stack: Array<[Version, number]> = [];
    for (const v of this.core.versions.all()) if (!v.parentNode) stack.push([v, 0]);
    const walk = (enough: () => boolean) => {
      while (stack.length && !enough()) {
        const [v, above] = stack.pop()!;
        const sum = above + (refs.get(v.id) ?? 0);
        if (v.children.length === 0) byId.set(v.id, sum);
        for (const c of v.children) stack.push([c, sum]);
      }
      return stack.length === 0;
    };
    return Object.assign(walk, { byId });
  }

  private async pass(): Promise<void> {
    const { core } = this;
    while (this.counting && !this.stopping) {
      const losses = this.losses;
      const fresh = new Table();
      this.fresh = fresh;
      this.cursor = 0;
      try {
        while (this.cursor < Infinity && this.losses === losses && !this.stopping) {
          await backgroundTurn();
          if (this.losses !== losses || this.stopping) break;
          await core.meta.run(() => this.countBatch(fresh));
          this.progress = this.cursor === Infinity ? 1 : core.origins.keyProgress(this.cursor);
          await new Promise((r) => setImmediate(r));
        }
      } finally {
        this.fresh = null;
      }
      if (this.losses === losses && !this.stopping) {
        this.table = fresh;
        this.counting = false;
        this.generation++;
        debug('counted');
      }
    }
  }

  /** Count the next chunks from the cursor into `into`; the cursor moves past them. */
  private async countBatch(into: Table): Promise<void> {
    const { versions, exceptions } = this.core;
    let key = -1;
    let group: ChunkEntry[] = [];
    let n = 0;
    const enough = sliceEnds();
    for await (const [k1, vid, value] of exceptions.tree.entries([this.cursor, 0], [Number.MAX_SAFE_INTEGER, 0])) {
      if (k1 !== key) {
        if (group.length) into.apply(chunkShares(versions, group), 1, splitKey(key).origin);
        group = [];
        if (++n > BATCH_CHUNKS || (n > 1 && enough())) {
          this.cursor = k1;
          return;
        }
        key = k1;
      }
      this.addEntry(group, vid, value);
    }
    if (group.length) into.apply(chunkShares(versions, group), 1, splitKey(key).origin);
    this.cursor = Infinity;
  }
}
