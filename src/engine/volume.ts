// One origin of a store and its snapshots: the images a mount shows under one origin
// (its origin.img, snapshots/ and control), with everything done to them. A store of
// one origin has one volume; a store of several has one per named origin, all sharing
// the store's space, metadata and commits.
import { StoreError } from '../errors';
import { ScheduleRecord } from '../format/superblock';
import { BLOCK_SIZE } from '../format/layout';
import { VersionKind } from '../format/records';
import { Version } from '../snap/version-tree';
import { Core } from './metadata/core';
import { Fault, Faults } from './faults';
import { Access } from './access';
import { DataPath } from './io/data-path';
import { Reclaimer } from './background/reclaim';
import { Rollback, RollbackProgress } from './background/rollback';
import { ByteRange, chunkRanges, differingChunks } from './tools/delta';
import { Accounting, SnapshotSpace, SpaceTotals } from './background/accounting';
import { withSchedule } from './background/schedule';
import { checkSnapshotId as checkId, ORIGIN_IMAGE } from './snapshot-id';
import { Staging } from './staging';
import type { FullStore, WhenFull } from './full-store';

export interface SnapshotInfo {
  id: string;
  parent: string; // the image it was taken of: "origin" or a snapshot id (which may since be gone)
  created: Date;
  uuid: string;
  schedule: string; // the schedule that took it, "" if a person did
  invalid: boolean; // a full store could not keep its data (--when-full invalidate): it reads EIO
}

export interface VolumeStatus {
  originSize: number;
  chunkSize: number;
  totalBytes: number;
  freeBytes: number;
  usedBytes: number;
  snapshotCount: number;
  reclaim: number | null; // fraction done of the running reclaim pass (the store's)
  rollback: RollbackProgress | null; // this origin's running rollback: its snapshot, fraction done
  fault: Fault | null; // the newest failure of the store's background work
  space: SpaceTotals; // of this origin's snapshots
  accounting: number | null; // fraction done while the space figures are counted again, else null
  whenFull: WhenFull; // what an origin write that finds the store full does (the store's)
  copyOuts: number; // this origin's chunks copied out since the store opened
  commits: number; // the store's commits since it opened
  faults: number; // the store's background failures since it opened
}

/** The store's owners a volume works through: they are shared by all its volumes. */
export interface VolumeHost {
  readonly core: Core;
  readonly data: DataPath;
  readonly access: Access;
  readonly accounting: Accounting;
  readonly reclaimer: Reclaimer;
  readonly rollback: Rollback;
  readonly full: FullStore;
  readonly faults: Faults;
}

export class Volume {
  // the live snapshots by name, in the list's order, following the version tree's log
  private listed: { key: number; byName: Map<string, SnapshotInfo>; list: readonly SnapshotInfo[] | null } | null =
    null;
  private readonly infoOf = new WeakMap<Version, SnapshotInfo>();
  private bySchedule: { key: number; lists: Map<string, SnapshotInfo[]> } | null = null;

  /** Snapshots that arrive in pieces (receive): staged hidden, then published or dropped. */
  readonly staging: Staging;

  constructor(
    private readonly host: VolumeHost,
    /** The origin's id in the store's tables. */
    readonly origin: number,
  ) {
    this.staging = new Staging(host, origin, {
      leafOf: (image) => this.dataOf(image),
      checkRange: (buf, pos) => this.checkRange(buf, pos),
      assertPresent: () => this.assertPresent(),
      holds: (uuid) => this.snapshotByUuid(uuid) !== null,
    });
  }

  private get core(): Core {
    return this.host.core;
  }

  /** The origin's name; "" in a store of one origin. */
  get name(): string {
    return this.core.origins.get(this.origin).name;
  }

  get originSize(): number {
    return this.core.origins.get(this.origin).size;
  }

  get chunkSize(): number {
    return this.core.chunkSize;
  }

  /** The store's identity, which a replication stream names as its source. */
  get storeUuid(): string {
    return this.core.sb.uuid.toString('hex');
  }

  // ---- snapshots -------------------------------------------------------------------

  /** Throws NOT_FOUND unless snapshot `id` exists. */
  snapshotExists(id: string): void {
    this.leafOf(id);
  }

  /** One snapshot's facts, or null: O(1), for the mount's per-request lookups. */
  snapshot(id: string): SnapshotInfo | null {
    const v = id === ORIGIN_IMAGE ? undefined : this.core.versions.snapshot(this.origin, id);
    return v ? this.info(v) : null;
  }

  /** Live snapshots, oldest first. The list is shared until the next change: do not modify it. */
  snapshots(): readonly SnapshotInfo[] {
    const listed = this.followList();
    return (listed.list ??= [...listed.byName.values()]);
  }

  /** How many live snapshots there are: O(1) between changes. */
  get snapshotCount(): number {
    return this.followList().byName.size;
  }

  /**
   * The changes to the list after generation `since` (`snapshotsChanged`), in order: a
   * name and its snapshot now, or null where it is gone. Null if they are no longer kept.
   * Done in order on a map by name, they give the list's order: a name set anew keeps
   * its place, one that came back after it went is last.
   */
  snapshotChangesSince(since: number): Array<{ name: string; info: SnapshotInfo | null }> | null {
    const { versions } = this.core;
    const changes = versions.nameChangesSince(since);
    if (!changes) return null;
    const out: Array<{ name: string; info: SnapshotInfo | null }> = [];
    for (const c of changes) {
      if (c.origin !== this.origin) continue;
      const v = c.gone ? undefined : versions.snapshot(this.origin, c.name);
      out.push({ name: c.name, info: v ? this.info(v) : null });
    }
    return out;
  }

  private followList(): NonNullable<Volume['listed']> {
    const { versions } = this.core;
    const key = versions.namesChanged;
    if (this.listed?.key === key) return this.listed;
    const changes = this.listed && this.snapshotChangesSince(this.listed.key);
    if (this.listed && changes) {
      for (const { name, info } of changes) {
        if (info) this.listed.byName.set(name, info);
        else this.listed.byName.delete(name);
      }
      this.listed = { key, byName: this.listed.byName, list: null };
    } else {
      const byName = new Map(versions.snapshots(this.origin).map((v) => [v.name, this.info(v)]));
      this.listed = { key, byName, list: null };
    }
    return this.listed;
  }

  /**
   * The COW bytes snapshot `id` alone holds and those it shares. Exact unless
   * `status().accounting` is not null: then they are from before the last delete.
   */
  space(id: string): SnapshotSpace {
    return this.host.accounting.of(this.leafOf(id));
  }

  /** Every snapshot's figures of this moment, to be read later (`space` of then). */
  async spaceView(): Promise<(id: string) => SnapshotSpace | null> {
    const of = await this.host.accounting.view();
    return (id) => {
      const v = this.core.versions.snapshot(this.origin, id);
      return v ? of(v) : null;
    };
  }

  /** The generation of the space figures, for caches of what is made from them. */
  get spaceChanged(): number {
    return this.host.accounting.generation;
  }

  /** The generation of the snapshot list, for caches of what is made from it. */
  get snapshotsChanged(): number {
    return this.core.versions.namesChanged;
  }

  /**
   * Take a snapshot of the origin or of snapshot `from`; `id` defaults to the next
   * unused number. Returns once the snapshot is durable.
   */
  async create(id?: string, from: string = ORIGIN_IMAGE, schedule = ''): Promise<string> {
    this.host.access.assertWritable();
    if (id !== undefined) checkId(id);
    const { full, rollback } = this.host;
    const create = () =>
      full.withRoom(
        () => this.core.change(() => this.prepareCreate(id, from, schedule)),
        () => full.makeRoomToCreate(),
      );
    return from === ORIGIN_IMAGE ? rollback.afterCopying([this.origin], create) : create();
  }

  /**
   * The checks of a create, under the gate (a throw changes nothing), and the edit that
   * makes it: for `create`, and for a store's snapshot of every origin in one commit.
   */
  async prepareCreate(id: string | undefined, from: string, schedule: string): Promise<(now?: number) => string> {
    const { versions } = this.core;
    this.assertPresent();
    const name = id ?? this.nextFreeId();
    if (versions.snapshot(this.origin, name)) {
      throw new StoreError('EXISTS', `snapshot ${name} already exists${this.name ? ` in origin ${this.name}` : ''}`);
    }
    const source = this.dataOf(from);
    if (from === ORIGIN_IMAGE) this.host.rollback.assertNotCopying(this.origin);
    this.core.space.require(16);
    // a snapshot of the origin holds what the origin holds now: make that durable
    // first, or a crash could take back a write the snapshot already shows
    if (from === ORIGIN_IMAGE) await this.host.data.syncOrigin(this.origin);
    return (now = Date.now()) => {
      versions.split(source, VersionKind.SNAPSHOT, name, from, now, schedule);
      return name;
    };
  }

  /** The snapshot vanishes now; its space returns in the background. */
  async delete(id: string): Promise<void> {
    this.host.access.assertWritable();
    checkId(id);
    await this.core.change(() => {
      const v = this.leafOf(id);
      return () => this.core.versions.markDeleted(v);
    });
    this.host.reclaimer.kick();
  }

  /**
   * The origin's content becomes snapshot `id`'s; every snapshot stays as it was. The
   * rollback is durable once this returns, and the origin reads and writes as the
   * snapshot at once; the copying goes on in the background. A rollback still running
   * (of any origin) is waited for first.
   */
  async rollback(id: string): Promise<void> {
    this.host.access.assertWritable();
    checkId(id);
    await this.host.rollback.done(); // one runs at a time: the next starts when it ends
    await this.host.rollback.start(this.origin, () => this.dataOf(id), id);
  }

  // ---- schedules -------------------------------------------------------------------

  /** This origin's schedules. */
  schedules(): readonly ScheduleRecord[] {
    return this.core.record.schedules.value.filter((s) => s.origin === this.origin);
  }

  /** Set (or replace) a schedule of rolling snapshots; durable when this returns. */
  async setSchedule(r: Omit<ScheduleRecord, 'origin'>): Promise<void> {
    this.host.access.assertWritable();
    await this.changeSchedules(() => withSchedule(this.core.record.schedules.value, { ...r, origin: this.origin }));
  }

  /** Stop a schedule; the snapshots it took stay, as ordinary ones it no longer retires. */
  async removeSchedule(name: string): Promise<void> {
    this.host.access.assertWritable();
    await this.changeSchedules(() => {
      const all = this.core.record.schedules.value;
      const left = all.filter((s) => s.name !== name || s.origin !== this.origin);
      if (left.length === all.length) throw new StoreError('NOT_FOUND', `no schedule ${name}`);
      return left;
    });
  }

  /**
   * Snapshots that schedule `name` took, oldest first. Made again only when the list
   * changes: the scheduler, and every status (its next times), ask for them.
   */
  taken(name: string): readonly SnapshotInfo[] {
    const key = this.snapshotsChanged;
    if (this.bySchedule?.key !== key) {
      const lists = new Map<string, SnapshotInfo[]>();
      for (const s of this.snapshots()) {
        if (!s.schedule) continue;
        const list = lists.get(s.schedule);
        if (list) list.push(s);
        else lists.set(s.schedule, [s]);
      }
      this.bySchedule = { key, lists };
    }
    return this.bySchedule.lists.get(name) ?? [];
  }

  private async changeSchedules(change: () => ScheduleRecord[]): Promise<void> {
    await this.core.change(() => {
      this.assertPresent();
      const schedules = change();
      return () => this.core.record.schedules.set(schedules);
    });
  }

  // ---- replication -----------------------------------------------------------------

  /** The live snapshot with this identity (32 hex digits), if any. */
  snapshotByUuid(uuid: string): SnapshotInfo | null {
    const v = /^[0-9a-f]{32}$/.test(uuid)
      ? this.core.versions.snapshotByUuid(this.origin, Buffer.from(uuid, 'hex'))
      : undefined;
    return v ? this.info(v) : null;
  }

  /**
   * The byte ranges where images `from` and `to` ("origin" or snapshot ids) differ,
   * ascending, found from the metadata without reading data.
   */
  async *diff(from: string, to: string): AsyncGenerator<ByteRange> {
    this.host.access.assertOpen();
    // the origin's content is its file's once a rollback's copying is over
    if (from === ORIGIN_IMAGE || to === ORIGIN_IMAGE) await this.host.rollback.done(this.origin);
    const [a, b] = [this.dataOf(from), this.dataOf(to)];
    await this.host.data.writeBack.drain(); // held origin writes are not in the metadata yet
    yield* chunkRanges(differingChunks(this.core, this.origin, a, b), this.chunkSize, this.originSize);
  }

  // ---- data ------------------------------------------------------------------------

  /** Read `buf.length` bytes at `pos` of an image: "origin" or a snapshot id. */
  async read(image: string, buf: Buffer, pos: number): Promise<void> {
    this.host.access.assertOpen();
    this.checkRange(buf, pos);
    const { data, rollback } = this.host;
    if (image === ORIGIN_IMAGE) {
      // the origin's file alone needs no gate; a rollback copying into it does (its end takes it)
      if (!rollback.serving(this.origin)) return data.readOrigin(this.origin, buf, pos);
      return this.core.gate.withShared(() => data.readOrigin(this.origin, buf, pos, rollback.serving(this.origin)));
    }
    return this.core.gate.withShared(() => data.readSnapshot(this.origin, this.dataOf(image), buf, pos));
  }

  async write(image: string, buf: Buffer, pos: number): Promise<void> {
    this.host.access.assertWritable();
    this.checkRange(buf, pos);
    const { data, rollback, full } = this.host;
    const { gate } = this.core;
    if (image !== ORIGIN_IMAGE)
      return gate.withShared(() => data.writeSnapshot(this.origin, this.dataOf(image), buf, pos));
    const write = () => gate.withShared(() => data.writeOrigin(this.origin, buf, pos, rollback.serving(this.origin)));
    // a full store: room is made as its policy says, and the write tried again
    await full.withRoom(write, () => full.makeRoom(this.origin, pos, buf.length));
  }

  /** Everything written so far to this origin and its snapshots becomes durable. */
  async sync(): Promise<void> {
    this.host.access.assertWritable();
    await this.host.data.syncOrigin(this.origin);
  }

  status(): VolumeStatus {
    const { core } = this;
    const { accounting } = this.host;
    const counts = core.sm.counts();
    return {
      originSize: this.originSize,
      chunkSize: this.chunkSize,
      totalBytes: counts.total * BLOCK_SIZE,
      freeBytes: counts.free * BLOCK_SIZE,
      usedBytes: (counts.total - counts.free) * BLOCK_SIZE,
      snapshotCount: this.snapshotCount,
      reclaim: this.host.reclaimer.progress,
      rollback: this.host.rollback.of(this.origin),
      fault: this.host.faults.last,
      space: accounting.totals(this.origin),
      accounting: accounting.isCounting ? (accounting.progress ?? 0) : null,
      whenFull: this.host.full.policy,
      copyOuts: this.host.data.copyOuts(this.origin),
      commits: core.group.commits,
      faults: this.host.faults.count,
    };
  }

  // ---- helpers ---------------------------------------------------------------------

  /** A removed origin's volume answers nothing. */
  private assertPresent(): void {
    if (this.core.origins.find(this.origin)?.removing !== false) {
      throw new StoreError('NOT_FOUND', `no origin ${this.name || this.origin}`);
    }
  }

  private leafOf(image: string): Version {
    this.assertPresent();
    const { versions } = this.core;
    const v = image === ORIGIN_IMAGE ? versions.originLeaf(this.origin) : versions.snapshot(this.origin, image);
    if (!v) throw new StoreError('NOT_FOUND', `no snapshot ${image}`);
    return v;
  }

  /** The leaf of an image whose data is asked for: EIO for a snapshot a full store made invalid. */
  private dataOf(image: string): Version {
    const v = this.leafOf(image);
    if (v.invalid) {
      throw StoreError.io(`snapshot ${image} is invalid: the store was full and could not keep its data; delete it`);
    }
    return v;
  }

  private nextFreeId(): string {
    let max = 0;
    for (const v of this.core.versions.snapshots(this.origin))
      if (/^[0-9]+$/.test(v.name)) max = Math.max(max, Number(v.name));
    return String(max + 1);
  }

  /** A snapshot's facts; the same object while they stay the same (callers cache by it). */
  private info(v: Version): SnapshotInfo {
    const gone = v.source !== ORIGIN_IMAGE && !this.core.versions.snapshot(v.origin, v.source);
    const parent = gone ? '-' : v.source;
    const had = this.infoOf.get(v);
    if (had?.parent === parent && had.id === v.name && had.invalid === v.invalid) return had;
    const info = {
      id: v.name,
      parent,
      created: new Date(v.created),
      uuid: v.uuid.toString('hex'),
      schedule: v.schedule,
      invalid: v.invalid,
    };
    this.infoOf.set(v, info);
    return info;
  }

  private checkRange(buf: Buffer, pos: number): void {
    if (!Number.isInteger(pos) || pos < 0 || pos + buf.length > this.originSize) {
      throw StoreError.invalid(`range ${pos}+${buf.length} is outside the image (${this.originSize} bytes)`);
    }
  }
}
