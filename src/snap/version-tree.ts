// The version tree, held in memory (a small record per version) and persisted in the
// version table. Leaves are what users see: each origin's live leaf and every snapshot.
// Taking a snapshot of a leaf freezes it into an interior version with two new leaf
// children, the continuing one and the new snapshot. Ids are never reused, and a child's
// id is always greater than its parent's, also after merges.
//
// Ancestor tests are O(1) through nested interval labels: every version holds an
// interval strictly inside its parent's, disjoint from its siblings'. A split carves the
// children's intervals out of the leaf's; when a leaf's interval is too narrow, the whole
// tree is relabelled (O(versions), rare).
import { randomUUID } from 'crypto';
import { StoreError } from '../errors';
import { VersionKind, VersionRecord, VersionState } from '../format/records';

export interface Version extends VersionRecord {
  parentNode: Version | null;
  children: Version[];
  lo: number;
  hi: number;
  weight: number; // for relabelling: leaves below, origin leaves counting heavily
}

/** Told of the changes to the tree that change who reads what (the space accounting). */
export interface TreeObserver {
  /** Reader `old` was split: it is interior now, and its two new leaves read what it read. */
  readerSplit(old: Version): void;
  /** A reader stopped reading (deleted). */
  lostReader(v: Version): void;
}

const LABEL_SPACE = 2 ** 52;
const NAME_LOG_KEPT = 4096; // changes kept for caches of the list; half are dropped when full

/** A snapshot's name came or changed (`gone` false: it maps to its current version), or went. */
export interface NameChange {
  origin: number;
  name: string;
  gone: boolean;
}

export class VersionTree {
  private readonly byId = new Map<number, Version>();
  private readonly byName = new Map<string, Version>();
  private readonly originLeaves = new Map<number, Version>();
  private readonly changed = new Set<number>(); // ids whose record must be written
  private readonly removed = new Set<number>(); // ids whose record must be deleted
  private readonly notLive = new Set<Version>(); // deleted or being reclaimed
  private readonly sourceUses = new Map<string, number>(); // live snapshots taken of each name
  observer: TreeObserver | null = null;

  constructor(
    records: VersionRecord[],
    public nextId: number,
  ) {
    for (const r of records) this.byId.set(r.id, { ...r, parentNode: null, children: [], lo: 0, hi: 0, weight: 0 });
    for (const v of this.byId.values()) {
      if (v.parent) {
        // ids grow from parent to child: this also rules out cycles in damaged metadata
        if (v.parent >= v.id)
          throw StoreError.corruption(`version ${v.id} names parent ${v.parent}, not an older version`);
        const p = this.byId.get(v.parent);
        if (!p) throw StoreError.corruption(`version ${v.id} names a missing parent ${v.parent}`);
        v.parentNode = p;
        p.children.push(v);
      }
      if (v.kind === VersionKind.ORIGIN) this.originLeaves.set(v.origin, v);
      if (v.state !== VersionState.LIVE) this.notLive.add(v);
      if (v.kind === VersionKind.SNAPSHOT && v.state === VersionState.LIVE)
        this.byName.set(nameKey(v.origin, v.name), v);
    }
    // a snapshot taken of later lives on in a newer leaf: put the names back in the order made
    const made = [...this.byName.entries()].sort(([, a], [, b]) => a.created - b.created || a.id - b.id);
    this.byName.clear();
    for (const [key, v] of made) this.byName.set(key, v);
    for (const v of this.byName.values()) this.countSource(v, 1);
    this.relabel();
  }

  /** The root of a new origin's tree: its leaf, with no snapshots. */
  addOrigin(origin: number, now: number): Version {
    if (this.originLeaves.has(origin)) throw new TypeError(`origin ${origin} has a tree already`);
    const v = this.add({
      parent: 0,
      origin,
      kind: VersionKind.ORIGIN,
      name: '',
      source: '',
      created: now,
      schedule: '',
    });
    this.originLeaves.set(origin, v);
    this.relabel();
    return v;
  }

  /** Every version of `origin`'s tree. */
  ofOrigin(origin: number): Version[] {
    return [...this.byId.values()].filter((v) => v.origin === origin);
  }

  get(id: number): Version | undefined {
    return this.byId.get(id);
  }

  all(): IterableIterator<Version> {
    return this.byId.values();
  }

  get size(): number {
    return this.byId.size;
  }

  /** Origin `origin`'s live leaf, if it has one (an origin being removed may not). */
  findOriginLeaf(origin: number): Version | undefined {
    return this.originLeaves.get(origin);
  }

  originLeaf(origin: number): Version {
    const v = this.originLeaves.get(origin);
    if (!v) throw StoreError.corruption(`origin ${origin} has no leaf version`);
    return v;
  }

  snapshot(origin: number, name: string): Version | undefined {
    return this.byName.get(nameKey(origin, name));
  }

  // Every change to the list of snapshots, in order, for caches of it to replay: with
  // thousands of snapshots a cache made again on each create or delete costs milliseconds.
  private nameLog: NameChange[] = [];
  private nameLogStart = 0; // the generation of nameLog[0]: older entries are dropped

  /** The generation of the list of snapshots: a key for caches of it. */
  get namesChanged(): number {
    return this.nameLogStart + this.nameLog.length;
  }

  /** The changes after generation `since`, in order; null if they are no longer kept. */
  nameChangesSince(since: number): readonly NameChange[] | null {
    if (since < this.nameLogStart || since > this.namesChanged) return null;
    return this.nameLog.slice(since - this.nameLogStart);
  }

  private logName(origin: number, name: string, gone: boolean): void {
    if (this.nameLog.length >= NAME_LOG_KEPT) {
      this.nameLogStart += this.nameLog.length / 2;
      this.nameLog = this.nameLog.slice(this.nameLog.length / 2);
    }
    this.nameLog.push({ origin, name, gone });
  }

  /** Name `name` comes or goes: the snapshots taken of it show it, or '-', as their parent. */
  private logNameAndDependents(origin: number, name: string, gone: boolean): void {
    this.logName(origin, name, gone);
    if (!this.sourceUses.get(nameKey(origin, name))) return;
    for (const v of this.byName.values())
      if (v.origin === origin && v.source === name) this.logName(origin, v.name, false);
  }

  /** A snapshot's name is mapped (or no longer): count it as taken of its source. */
  private countSource(v: Version, by: number): void {
    const key = nameKey(v.origin, v.source);
    const n = (this.sourceUses.get(key) ?? 0) + by;
    if (n > 0) this.sourceUses.set(key, n);
    else this.sourceUses.delete(key);
  }

  /** Oldest first: the order they were made in, which the map keeps (a split keeps a name's place). */
  snapshots(origin: number): Version[] {
    const out: Version[] = [];
    for (const v of this.byName.values()) if (v.origin === origin) out.push(v);
    return out;
  }

  /**
   * Does v read data as a leaf that may hold COW chunks alone: a live snapshot or hidden
   * leaf (a rollback's source, a snapshot being received). The origin leaf reads the
   * origin file.
   */
  isReader(v: Version): boolean {
    return (
      v.children.length === 0 &&
      v.state === VersionState.LIVE &&
      (v.kind === VersionKind.SNAPSHOT || v.kind === VersionKind.HIDDEN)
    );
  }

  // The readers' labels, sorted: the readers below v are those whose label lies in v's
  // interval, counted by two binary searches (a walk up a chain of 10,000 snapshots on
  // every change cost more than the sorted insert).
  private readerLabels: number[] = [];

  /** How many readers are v or below it. */
  readersBelow(v: Version): number {
    return lowerBound(this.readerLabels, v.hi + 1) - lowerBound(this.readerLabels, v.lo);
  }

  private countReader(v: Version, add: boolean): void {
    const at = lowerBound(this.readerLabels, v.lo);
    if (add) this.readerLabels.splice(at, 0, v.lo);
    else if (this.readerLabels[at] === v.lo) this.readerLabels.splice(at, 1);
  }

  /** True if u is v or one of v's ancestors. */
  isAncestorOrSelf(u: Version, v: Version): boolean {
    return u.lo <= v.lo && v.hi <= u.hi;
  }

  root(v: Version): Version {
    while (v.parentNode) v = v.parentNode;
    return v;
  }

  /**
   * Freeze `leaf` and hang two new leaves below it: the one that continues it (same
   * kind, name and identity) and a new one. Returns [continuing, new].
   */
  split(
    leaf: Version,
    newKind: VersionKind,
    newName: string,
    source: string,
    now: number,
    schedule = '',
  ): [Version, Version] {
    if (leaf.children.length > 0 || leaf.kind === VersionKind.INTERIOR) throw new TypeError('only leaves split');
    const { origin } = leaf;
    const wasReader = this.isReader(leaf);
    const cont = this.add({
      parent: leaf.id,
      origin,
      kind: leaf.kind,
      name: leaf.name,
      source: leaf.source,
      created: leaf.created,
      schedule: leaf.schedule,
    });
    cont.uuid = leaf.uuid;
    const fresh = this.add({ parent: leaf.id, origin, kind: newKind, name: newName, source, created: now, schedule });
    if (leaf.kind === VersionKind.ORIGIN) this.originLeaves.set(leaf.origin, cont);
    if (leaf.kind === VersionKind.SNAPSHOT) {
      this.byName.set(nameKey(origin, leaf.name), cont);
      this.logName(origin, leaf.name, false);
    }
    if (newKind === VersionKind.SNAPSHOT) {
      this.byName.set(nameKey(origin, newName), fresh);
      this.countSource(fresh, 1);
      this.logNameAndDependents(origin, newName, false);
    }
    leaf.kind = VersionKind.INTERIOR;
    leaf.name = '';
    leaf.schedule = '';
    this.markChanged(leaf);
    if (wasReader) this.observer?.readerSplit(leaf);
    // carve both children out of the leaf's interval. An origin leaf is split again and
    // again (a snapshot every few minutes), so its continuation keeps most of it.
    const inner = leaf.hi - leaf.lo - 2;
    if (inner < 2) this.relabel();
    else {
      const share = cont.kind === VersionKind.ORIGIN ? 255 / 256 : 1 / 2;
      const cut = leaf.lo + 1 + Math.max(0, Math.floor(inner * share) - 1);
      [cont.lo, cont.hi] = [leaf.lo + 1, cut];
      [fresh.lo, fresh.hi] = [cut + 1, leaf.hi - 1];
      if (wasReader) this.countReader(leaf, false);
      for (const c of [cont, fresh]) if (this.isReader(c)) this.countReader(c, true);
    }
    return [cont, fresh];
  }

  /**
   * A hidden leaf becomes snapshot `name` (a received snapshot, once all of it arrived),
   * with the identity and creation time it has where it was made.
   */
  publish(v: Version, name: string, source: string, uuid: Buffer, created: number): void {
    if (v.kind !== VersionKind.HIDDEN || v.state !== VersionState.LIVE)
      throw new TypeError('only live hidden leaves are published');
    Object.assign(v, { kind: VersionKind.SNAPSHOT, name, source, uuid, created, received: 0 });
    this.byName.set(nameKey(v.origin, name), v);
    this.countSource(v, 1);
    this.logNameAndDependents(v.origin, name, false);
    this.markChanged(v);
  }

  /**
   * A hidden leaf becomes a partial receive: the snapshot it will be published as (its
   * name here, identity and creation time), what it is received against (`source`), and
   * how much of it has arrived (`received`, image bytes from 0). Again as more arrives.
   */
  setReceiving(v: Version, name: string, source: string, uuid: Buffer, created: number, received: number): void {
    if (v.kind !== VersionKind.HIDDEN || v.state !== VersionState.LIVE)
      throw new TypeError('only live hidden leaves are received into');
    Object.assign(v, { name, source, uuid, created, received });
    this.markChanged(v);
  }

  /** The live snapshot of `origin` with this identity. */
  snapshotByUuid(origin: number, uuid: Buffer): Version | undefined {
    for (const v of this.byName.values()) if (v.origin === origin && v.uuid.equals(uuid)) return v;
    return undefined;
  }

  /** A full store could not keep `v`'s data: it reads EIO from now on, and can only be deleted. */
  markInvalid(v: Version): void {
    if (v.invalid) return;
    v.invalid = true;
    this.markChanged(v);
    // what the list shows of it changed: its state
    if (v.kind === VersionKind.SNAPSHOT && v.state === VersionState.LIVE) this.logName(v.origin, v.name, false);
  }

  /** A user deletes a snapshot: it vanishes from view now; reclaim removes it later. */
  markDeleted(v: Version): void {
    this.forgetName(v);
    this.setState(v, VersionState.DELETED);
  }

  setState(v: Version, state: VersionState): void {
    const wasReader = this.isReader(v);
    v.state = state;
    if (wasReader !== this.isReader(v)) this.countReader(v, !wasReader);
    if (wasReader && !this.isReader(v)) this.observer?.lostReader(v);
    if (state === VersionState.LIVE) this.notLive.delete(v);
    else this.notLive.add(v);
    this.markChanged(v);
  }

  /** Versions deleted or being reclaimed, without a walk over all of them. */
  withState(state: VersionState): Version[] {
    return [...this.notLive].filter((v) => v.state === state);
  }

  get hasNotLive(): boolean {
    return this.notLive.size > 0;
  }

  /** Take `v` out of the tree; its children move up to its parent. */
  remove(v: Version): void {
    const p = v.parentNode;
    if (p) p.children = p.children.filter((c) => c !== v);
    for (const c of v.children) {
      c.parentNode = p;
      c.parent = p ? p.id : 0;
      if (p) p.children.push(c);
      this.markChanged(c);
    }
    this.byId.delete(v.id);
    if (this.originLeaves.get(v.origin) === v) this.originLeaves.delete(v.origin);
    this.notLive.delete(v);
    this.forgetName(v);
    this.changed.delete(v.id);
    this.removed.add(v.id);
    this.generation++;
  }

  private forgetName(v: Version): void {
    if (this.byName.get(nameKey(v.origin, v.name)) !== v) return;
    this.byName.delete(nameKey(v.origin, v.name));
    this.countSource(v, -1);
    this.logNameAndDependents(v.origin, v.name, true);
  }

  markChanged(v: Version): void {
    this.changed.add(v.id);
    this.generation++;
  }

  /** Bumped by every change to a version (removals too): a key for caches of what is made from them. */
  generation = 0;

  get hasChanges(): boolean {
    return this.changed.size > 0 || this.removed.size > 0;
  }

  /** Ids to write and ids to delete since the last call; the caller persists them. */
  takeChanges(): { changed: Version[]; removed: number[] } {
    const changed = [...this.changed].map((id) => this.byId.get(id)!).filter(Boolean);
    const removed = [...this.removed];
    this.changed.clear();
    this.removed.clear();
    return { changed, removed };
  }

  private add(r: Omit<VersionRecord, 'id' | 'uuid' | 'state' | 'received' | 'invalid'>): Version {
    const id = this.nextId++;
    const parentNode = r.parent ? this.byId.get(r.parent)! : null;
    const v: Version = {
      ...r,
      received: 0,
      invalid: false,
      id,
      uuid: uuidBytes(),
      state: VersionState.LIVE,
      parentNode,
      children: [],
      lo: 0,
      hi: 0,
      weight: 0,
    };
    this.byId.set(id, v);
    if (parentNode) parentNode.children.push(v);
    this.markChanged(v);
    return v;
  }

  /**
   * Give every version a fresh interval: each leaf an equal share, except origin leaves,
   * which get as much as all the others together since they split most.
   */
  private relabel(): void {
    const originWeight = this.byId.size;
    // parents before children (a parent's id is smaller), then weights bottom-up
    const order = [...this.byId.values()].sort((a, b) => a.id - b.id);
    for (let i = order.length - 1; i >= 0; i--) {
      const v = order[i];
      let w = v.kind === VersionKind.ORIGIN ? originWeight : 1;
      for (const c of v.children) w += c.weight;
      v.weight = w;
    }
    const roots = order.filter((v) => !v.parentNode);
    const total = roots.reduce((n, r) => n + r.weight, 0);
    const unit = Math.floor(LABEL_SPACE / total);
    let at = 0;
    for (const r of roots) {
      r.lo = at;
      r.hi = at + r.weight * unit - 1;
      at += r.weight * unit;
    }
    for (const v of order) {
      // children share the inside of the parent's interval, a gap between each
      let inner = v.lo + 1;
      const span = v.hi - v.lo - 1;
      const n = v.weight - 1;
      for (const c of v.children) {
        const width = Math.floor((span * c.weight) / n);
        c.lo = inner;
        c.hi = inner + width - 2;
        inner += width;
      }
    }
    this.readerLabels = [...this.byId.values()]
      .filter((v) => this.isReader(v))
      .map((v) => v.lo)
      .sort((a, b) => a - b);
  }
}

/** The first index of sorted `a` whose value is at least `x`. */
function lowerBound(a: number[], x: number): number {
  let [lo, hi] = [0, a.length];
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function nameKey(origin: number, name: string): string {
  return `${origin}\0${name}`;
}

function uuidBytes(): Buffer {
  return Buffer.from(randomUUID().replace(/-/g, ''), 'hex');
}
