// The store: one origin (for now) and all its snapshots in one exception store on a COW
// device. This is the library's public face; the FUSE mount and the offline tools are
// thin layers over it. Nothing here prints; logging goes through `debug`.
import createDebug from 'debug';
import { randomUUID } from 'crypto';
import { StoreError } from '../errors';
import { BLOCK_SIZE } from '../format/layout';
import { chooseSuperblock, FORMAT_VERSION, ScheduleRecord, Superblock } from '../format/superblock';
import {
  EXCEPTION_SIZE,
  NAME_MAX,
  ORIGIN_SIZE,
  OriginRecord,
  unpackOrigin,
  unpackVersion,
  VERSION_SIZE,
  VersionKind,
  VersionRecord,
  VersionState,
  MAX_CHUNKS,
} from '../format/records';
import { BlockDevice } from '../block/block-device';
import { BTree } from '../btree/btree';
import { INDEX_VALUE_SIZE, SpaceMap } from '../alloc/space-map';
import { TransactionManager } from '../txn/transaction-manager';
import { VersionTree, Version } from '../snap/version-tree';
import { ExceptionIndex } from '../snap/exceptions';
import { BackgroundState, Core, Reservation } from './core';
import { DataPath } from './data-path';
import { Reclaimer } from './reclaim';
import { RollbackJob } from './rollback';
import { ByteRange, chunkRanges, differingChunks } from './delta';
import { SnapshotSpace, SpaceTotals } from './accounting';
import { withSchedule } from './schedule';

const debug = createDebug('snapfuse:store');

export const ORIGIN_IMAGE = 'origin';
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const DEFAULT_CHUNK_SIZE = 64 * 1024;
export const DEFAULT_CACHE_SIZE = 64 * 1024 * 1024;
const MIN_CHUNK = 4096;
const MAX_CHUNK = 1024 * 1024;

/** What the store remembers of an origin to recognise it again. */
export interface OriginIdentity {
  dev: number;
  ino: number;
  rdev: number;
}

export interface FormatOptions {
  chunkSize?: number;
  /** Overwrite a COW that already holds a store. */
  force?: boolean;
  originIdentity?: OriginIdentity;
}

export interface OpenOptions {
  /** Byte budget of the metadata cache. */
  cacheSize?: number;
  /** Bytes of origin writes held for their copy-out commit (write-back.ts); 0: writes wait for it. */
  writeBack?: number;
  /** Commit at least this often while there are changes (ms); 0 = only on demand. */
  commitInterval?: number;
  /** For inspection (check): no background work, no commits; writes are refused. */
  readOnly?: boolean;
  originIdentity?: OriginIdentity;
}

export interface SnapshotInfo {
  id: string;
  parent: string; // the image it was taken of: "origin" or a snapshot id (which may since be gone)
  created: Date;
  uuid: string;
  schedule: string; // the schedule that took it, "" if a person did
}

export interface StoreStatus {
  originSize: number;
  chunkSize: number;
  totalBytes: number;
  freeBytes: number;
  usedBytes: number;
  snapshots: readonly SnapshotInfo[];
  reclaim: number | null; // fraction done of the running reclaim pass
  rollback: number | null; // fraction done of the running rollback
  rollbackId: string | null; // the snapshot the running rollback copies
  space: SpaceTotals;
  accounting: number | null; // fraction done while the space figures are counted again, else null
  copyOuts: number;
  commits: number;
}

/** A snapshot being received: see `Store.stage`. */
export interface Staged {
  readonly leaf: Version;
  readonly from: string;
}

/** The source recorded for a staged leaf; no image has this name. */
const STAGED_SOURCE = ':staged';

export class Store {
  private readonly data: DataPath;
  private readonly reclaimer: Reclaimer;
  private rollbackJob: RollbackJob | null = null;
  // the list of snapshots by name, kept in step with the version tree's changes
  private listed: { key: number; byName: Map<string, SnapshotInfo>; list: readonly SnapshotInfo[] } | null = null;
  private readonly infoOf = new WeakMap<Version, SnapshotInfo>();
  private bySchedule: { key: number; lists: Map<string, SnapshotInfo[]> } | null = null;
  private rollbackDone: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readOnly = false;

  private constructor(
    private readonly core: Core,
    commitInterval: number,
    writeBack?: number,
  ) {
    this.data = new DataPath(core, writeBack);
    this.reclaimer = new Reclaimer(core);
    if (commitInterval > 0) {
      this.timer = setInterval(
        () => void this.core.commit().catch((e) => debug('timed commit: %s', e)),
        commitInterval,
      );
      this.timer.unref();
    }
  }

  // ---- format and open -------------------------------------------------------------

  /** Write an empty store on `cow` for `origin`. The origin is not touched. */
  static async format(origin: BlockDevice, cow: BlockDevice, opts: FormatOptions = {}): Promise<void> {
    const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
    if (!Number.isInteger(chunkSize) || chunkSize < MIN_CHUNK || chunkSize > MAX_CHUNK || chunkSize & (chunkSize - 1)) {
      throw StoreError.invalid(`chunk size ${chunkSize} is not a power of two from 4 KiB to 1 MiB`);
    }
    if (origin.size === 0) throw StoreError.invalid(`origin ${origin.name} is empty`);
    if (Math.ceil(origin.size / chunkSize) > MAX_CHUNKS) throw StoreError.invalid(`origin ${origin.name} is too large`);
    const totalBlocks = Math.floor(cow.size / BLOCK_SIZE);
    const minBlocks = 128 + 4 * (chunkSize / BLOCK_SIZE);
    if (totalBlocks < minBlocks) {
      throw StoreError.invalid(`COW ${cow.name} is too small: at least ${(minBlocks * BLOCK_SIZE) / 1024} KiB`);
    }
    if (!opts.force) {
      const copies = await readSuperblocks(cow);
      let existing = true;
      try {
        chooseSuperblock(copies, cow.name);
      } catch (e) {
        existing = !(e instanceof StoreError && e.code === 'NOT_A_STORE');
      }
      if (existing)
        throw new StoreError(
          'EXISTS',
          `${cow.name} already holds a snapfuse store (format with --force to overwrite it)`,
        );
    }
    // an old store's superblocks must not outrank the new one
    await cow.write(Buffer.alloc(2 * BLOCK_SIZE), 0);
    await cow.flush();

    const tm = new TransactionManager(cow, DEFAULT_CACHE_SIZE, 0);
    const sm = new SpaceMap(
      tm,
      new BTree(tm, INDEX_VALUE_SIZE, 0),
      0,
      totalBlocks,
      chunkSize / BLOCK_SIZE,
      totalBlocks,
    );
    tm.spaceMap = sm;
    await sm.markUsed(0);
    await sm.markUsed(1);
    sm.index.root = (await BTree.create(tm, INDEX_VALUE_SIZE)).root;
    const now = Date.now();
    const versions = VersionTree.initial(0, now);
    const id = opts.originIdentity ?? { dev: 0, ino: 0, rdev: 0 };
    const origins = new Map<number, OriginRecord>([
      [0, { size: origin.size, ...id, leaf: versions.originLeaf(0).id, name: '' }],
    ]);
    const core = new Core(
      cow,
      new Map([[0, origin]]),
      tm,
      sm,
      await BTree.create(tm, VERSION_SIZE),
      await BTree.create(tm, ORIGIN_SIZE),
      new ExceptionIndex(await BTree.create(tm, EXCEPTION_SIZE), versions),
      versions,
      origins,
      {
        uuid: Buffer.from(randomUUID().replace(/-/g, ''), 'hex'),
        chunkSize,
        totalBlocks,
        created: now,
        formatVersion: FORMAT_VERSION,
      },
      {
        reclaimRunning: false,
        reclaimCursor: 0,
        rollbackSource: 0,
        rollbackOrigin: 0,
        rollbackCursor: 0,
        schedules: [],
      },
    );
    core.setOriginLeaf(0, versions.originLeaf(0).id);
    // two commits, so both superblock copies are sound from the start
    await core.group.request();
    await core.group.request();
    debug('formatted %s: %d blocks, chunk %d', cow.name, totalBlocks, chunkSize);
  }

  /** Open the store on `cow`, refusing anything that is not a sound store for `origin`. */
  static async open(origin: BlockDevice, cow: BlockDevice, opts: OpenOptions = {}): Promise<Store> {
    const sb = chooseSuperblock(await readSuperblocks(cow), cow.name);
    checkGeometry(sb, cow);
    const tm = new TransactionManager(cow, opts.cacheSize ?? DEFAULT_CACHE_SIZE, sb.seq);
    const sm = new SpaceMap(
      tm,
      new BTree(tm, INDEX_VALUE_SIZE, sb.spaceIndexRoot),
      sb.spaceIndexRoot,
      sb.totalBlocks,
      sb.chunkSize / BLOCK_SIZE,
      sb.freeBlocks,
    );
    tm.spaceMap = sm;
    const versionTable = new BTree(tm, VERSION_SIZE, sb.versionRoot);
    const records: VersionRecord[] = [];
    for await (const [id, , value] of versionTable.entries()) records.push(unpackVersion(id, value));
    const versions = new VersionTree(records, sb.nextVersion);
    const originTable = new BTree(tm, ORIGIN_SIZE, sb.originRoot);
    const origins = new Map<number, OriginRecord>();
    for await (const [id, , value] of originTable.entries()) origins.set(id, unpackOrigin(value));
    const record = origins.get(0);
    if (!record) throw StoreError.corruption(`${cow.name}: the store has no origin record`);
    checkOrigin(record, origin, cow, opts.originIdentity);
    const core = new Core(
      cow,
      new Map([[0, origin]]),
      tm,
      sm,
      versionTable,
      originTable,
      new ExceptionIndex(new BTree(tm, EXCEPTION_SIZE, sb.exceptionRoot), versions),
      versions,
      origins,
      sb,
      pickBackground(sb),
    );
    const store = new Store(core, opts.readOnly ? 0 : (opts.commitInterval ?? 1000), opts.writeBack);
    if (opts.readOnly) {
      store.readOnly = true;
      return store;
    }
    if (sb.rollbackSource) {
      // resuming after a crash: reserve what the rest may need, as far as there is room
      const source = versions.get(sb.rollbackSource);
      const need = source ? await store.data.countCowChunks(0, source) : 0;
      const room = Math.floor(Math.max(0, sm.counts().allocatable - core.metaReserve()) / core.chunkBlocks);
      store.startRollbackJob(core.reserveChunks(Math.min(need, room)));
    }
    await store.dropLeftoverStaged();
    store.reclaimer.kick();
    core.accounting.kick();
    debug('opened %s at commit %d: %d versions', cow.name, sb.seq, versions.size);
    return store;
  }

  // ---- versions --------------------------------------------------------------------

  get originSize(): number {
    return this.core.origin(0).size;
  }

  get chunkSize(): number {
    return this.core.chunkSize;
  }

  /** Throws NOT_FOUND unless snapshot `id` exists. */
  snapshotExists(id: string): void {
    this.leafOf(id);
  }

  /** One snapshot's facts, or null: O(1), for the mount's per-request lookups. */
  snapshot(id: string): SnapshotInfo | null {
    const v = id === ORIGIN_IMAGE ? undefined : this.core.versions.snapshot(0, id);
    return v ? this.info(v) : null;
  }

  /** Live snapshots, oldest first. The list is shared until the next change: do not modify it. */
  snapshots(): readonly SnapshotInfo[] {
    const { versions } = this.core;
    const key = versions.namesChanged;
    if (this.listed?.key === key) return this.listed.list;
    const changes = this.listed && versions.nameChangesSince(this.listed.key);
    let byName: Map<string, SnapshotInfo>;
    if (this.listed && changes) {
      // the same steps on a map of the same order: a name set anew keeps its place, one
      // that came back after it went is last
      byName = this.listed.byName;
      for (const c of changes) {
        if (c.origin !== 0) continue;
        const v = c.gone ? undefined : versions.snapshot(0, c.name);
        if (v) byName.set(c.name, this.info(v));
        else byName.delete(c.name);
      }
    } else byName = new Map(versions.snapshots(0).map((v) => [v.name, this.info(v)]));
    this.listed = { key, byName, list: [...byName.values()] };
    return this.listed.list;
  }

  /**
   * The COW bytes snapshot `id` alone holds and those it shares. Exact unless
   * `status().accounting` is not null: then they are from before the last delete.
   */
  space(id: string): SnapshotSpace {
    return this.core.accounting.of(this.leafOf(id));
  }

  /** The generation of the space figures, for caches of what is made from them. */
  get spaceChanged(): number {
    return this.core.accounting.generation;
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
    this.assertWritable();
    if (id !== undefined) checkId(id);
    if (from === ORIGIN_IMAGE) await this.rollbackDone;
    const release = await this.core.gate.acquireExclusive();
    try {
      const { versions } = this.core;
      const name = id ?? this.nextFreeId();
      if (versions.snapshot(0, name)) throw new StoreError('EXISTS', `snapshot ${name} already exists`);
      const source = this.leafOf(from);
      this.core.requireSpace(16);
      // a snapshot of the origin holds what the origin holds now: make that durable
      // first, or a crash could take back a write the snapshot already shows
      if (from === ORIGIN_IMAGE) await this.data.syncOrigin(0);
      await this.core.meta.run(async () => {
        const [cont] = versions.split(source, VersionKind.SNAPSHOT, name, from, Date.now(), schedule);
        if (cont.kind === VersionKind.ORIGIN) this.core.setOriginLeaf(0, cont.id);
      });
      await this.core.commit();
      debug('created %s from %s', name, from);
      return name;
    } finally {
      release();
    }
  }

  /** The snapshot vanishes now; its space returns in the background. */
  async delete(id: string): Promise<void> {
    this.assertWritable();
    checkId(id);
    const release = await this.core.gate.acquireExclusive();
    try {
      const v = this.leafOf(id);
      await this.core.meta.run(async () => this.core.versions.markDeleted(v));
      await this.core.commit();
    } finally {
      release();
    }
    this.reclaimer.kick();
  }

  /**
   * The origin's content becomes snapshot `id`'s; every snapshot stays as it was. The
   * rollback is durable once this returns; the copying goes on in the background (see
   * `idle()`), and the origin's reads and writes wait for it.
   */
  async rollback(id: string): Promise<void> {
    this.assertWritable();
    checkId(id);
    const release = await this.core.gate.acquireExclusive();
    try {
      await this.startRollback(this.leafOf(id), id);
    } finally {
      release();
    }
  }

  /**
   * Start a rollback of the origin to `target` (hold the gate): space for all its copying
   * is set aside, or it is refused; `alongside` runs in the same metadata change, so that
   * one commit makes both durable.
   */
  private async startRollback(target: Version, id: string, alongside?: () => void): Promise<void> {
    if (this.rollbackJob) throw new StoreError('BUSY', 'a rollback is already running');
    let space: Reservation | null = null;
    try {
      // held origin writes have not found their chunks yet: the job must see their copies
      await this.data.writeBack.drain();
      space = this.core.reserveChunks(await this.data.countCowChunks(0, target));
      this.core.requireSpace(16);
      await this.core.meta.run(async () => {
        alongside?.();
        const [cont, source] = this.core.versions.split(target, VersionKind.HIDDEN, '', id, Date.now());
        if (cont.kind === VersionKind.ORIGIN) this.core.setOriginLeaf(0, cont.id);
        this.core.setBackground({ rollbackSource: source.id, rollbackOrigin: 0, rollbackCursor: 0 });
      });
      await this.core.commit();
    } catch (e) {
      space?.release();
      throw e;
    }
    this.startRollbackJob(space);
  }

  // ---- schedules -------------------------------------------------------------------

  schedules(): readonly ScheduleRecord[] {
    return this.core.bg.schedules;
  }

  /** Set (or replace) a schedule of rolling snapshots; durable when this returns. */
  async setSchedule(r: ScheduleRecord): Promise<void> {
    this.assertWritable();
    await this.changeSchedules(() => withSchedule(this.core.bg.schedules, r));
  }

  /** Stop a schedule; the snapshots it took stay, as ordinary ones it no longer retires. */
  async removeSchedule(name: string): Promise<void> {
    this.assertWritable();
    await this.changeSchedules(() => {
      const left = this.core.bg.schedules.filter((s) => s.name !== name);
      if (left.length === this.core.bg.schedules.length) throw new StoreError('NOT_FOUND', `no schedule ${name}`);
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
    const release = await this.core.gate.acquireExclusive();
    try {
      const schedules = change();
      await this.core.meta.run(async () => this.core.setBackground({ schedules }));
      await this.core.commit();
    } finally {
      release();
    }
  }

  // ---- replication -----------------------------------------------------------------

  /** The store's identity, which a replication stream names as its source. */
  get uuid(): string {
    return this.core.sb.uuid.toString('hex');
  }

  /** The live snapshot with this identity (32 hex digits), if any. */
  snapshotByUuid(uuid: string): SnapshotInfo | null {
    const v = /^[0-9a-f]{32}$/.test(uuid) ? this.core.versions.snapshotByUuid(0, Buffer.from(uuid, 'hex')) : undefined;
    return v ? this.info(v) : null;
  }

  /**
   * The byte ranges where images `from` and `to` ("origin" or snapshot ids) differ,
   * ascending, found from the metadata without reading data.
   */
  async *diff(from: string, to: string): AsyncGenerator<ByteRange> {
    this.assertOpen();
    const [a, b] = [this.leafOf(from), this.leafOf(to)];
    await this.data.writeBack.drain(); // held origin writes are not in the metadata yet
    yield* chunkRanges(differingChunks(this.core, 0, a, b), this.chunkSize, this.originSize);
  }

  /**
   * A hidden snapshot of `from`, for a snapshot that arrives in pieces (receive): written
   * with `writeStaged`, then made visible in one commit by `publish`, or dropped by
   * `discard`. One left by a crash is dropped at the next open.
   */
  async stage(from: string): Promise<Staged> {
    this.assertWritable();
    const release = await this.core.gate.acquireExclusive();
    try {
      const source = this.leafOf(from);
      this.core.requireSpace(16);
      if (from === ORIGIN_IMAGE) await this.data.syncOrigin(0);
      const leaf = await this.core.meta.run(async () => {
        const [cont, staged] = this.core.versions.split(source, VersionKind.HIDDEN, '', STAGED_SOURCE, Date.now());
        if (cont.kind === VersionKind.ORIGIN) this.core.setOriginLeaf(0, cont.id);
        return staged;
      });
      await this.core.commit();
      return { leaf, from };
    } finally {
      release();
    }
  }

  async readStaged(s: Staged, buf: Buffer, pos: number): Promise<void> {
    this.assertOpen();
    this.checkRange(buf, pos);
    await this.core.gate.withShared(() => this.data.readSnapshot(0, s.leaf, buf, pos));
  }

  async writeStaged(s: Staged, buf: Buffer, pos: number): Promise<void> {
    this.assertWritable();
    this.checkRange(buf, pos);
    await this.core.gate.withShared(() => this.data.writeSnapshot(0, s.leaf, buf, pos));
  }

  /**
   * The staged snapshot becomes snapshot `id`, with the identity and creation time it
   * has where it was made; with `becomeOrigin`, a rollback of the origin to it starts in
   * the same commit. Refused, changing nothing, if `id` or the identity is taken.
   */
  async publish(s: Staged, id: string, uuid: string, created: Date, becomeOrigin = false): Promise<void> {
    this.assertWritable();
    checkId(id);
    const release = await this.core.gate.acquireExclusive();
    try {
      if (this.core.versions.snapshot(0, id)) throw new StoreError('EXISTS', `snapshot ${id} already exists`);
      if (this.snapshotByUuid(uuid)) throw new StoreError('EXISTS', `this store already holds snapshot ${uuid}`);
      const show = () => this.core.versions.publish(s.leaf, id, s.from, Buffer.from(uuid, 'hex'), created.getTime());
      if (becomeOrigin) await this.startRollback(s.leaf, id, show);
      else {
        await this.core.meta.run(async () => show());
        await this.core.commit();
      }
    } finally {
      release();
    }
  }

  /** Drop a staged snapshot: its space returns in the background, as after a delete. */
  async discard(s: Staged): Promise<void> {
    const release = await this.core.gate.acquireExclusive();
    try {
      await this.core.meta.run(async () => this.core.versions.markDeleted(s.leaf));
      await this.core.commit();
    } finally {
      release();
    }
    this.reclaimer.kick();
  }

  // ---- data ------------------------------------------------------------------------

  /** Read `buf.length` bytes at `pos` of an image: "origin" or a snapshot id. */
  async read(image: string, buf: Buffer, pos: number): Promise<void> {
    this.assertOpen();
    this.checkRange(buf, pos);
    if (image === ORIGIN_IMAGE) {
      await this.rollbackDone;
      return this.data.readOrigin(0, buf, pos);
    }
    return this.core.gate.withShared(() => this.data.readSnapshot(0, this.leafOf(image), buf, pos));
  }

  async write(image: string, buf: Buffer, pos: number): Promise<void> {
    this.assertWritable();
    this.checkRange(buf, pos);
    if (image === ORIGIN_IMAGE) await this.rollbackDone;
    await this.core.gate.withShared(() =>
      image === ORIGIN_IMAGE
        ? this.data.writeOrigin(0, buf, pos)
        : this.data.writeSnapshot(0, this.leafOf(image), buf, pos),
    );
  }

  /** Everything written so far, to any image, becomes durable. */
  async sync(): Promise<void> {
    this.assertWritable();
    await this.data.syncOrigin(0);
  }

  /** Resolves when no background work (held writes, reclaim, rollback) is left. */
  async idle(): Promise<void> {
    for (;;) {
      await this.data.writeBack.drain();
      await this.rollbackDone;
      await this.reclaimer.idle();
      if (this.reclaimer.lastError) throw this.reclaimer.lastError;
      await this.core.accounting.idle();
      const quiet = this.data.writeBack.size === 0 && !this.rollbackJob && !this.core.accounting.isBusy;
      if (quiet && !this.core.bg.reclaimRunning && !this.hasDeleted()) return;
      this.reclaimer.kick();
      this.core.accounting.kick();
    }
  }

  status(): StoreStatus {
    const counts = this.core.sm.counts();
    return {
      originSize: this.originSize,
      chunkSize: this.chunkSize,
      totalBytes: counts.total * BLOCK_SIZE,
      freeBytes: counts.free * BLOCK_SIZE,
      usedBytes: (counts.total - counts.free) * BLOCK_SIZE,
      snapshots: this.snapshots(),
      reclaim: this.reclaimer.progress,
      rollback: this.rollbackJob ? this.rollbackJob.progress : null,
      rollbackId: this.rollbackJob ? (this.core.versions.get(this.core.bg.rollbackSource)?.source ?? null) : null,
      space: this.core.accounting.totals(),
      accounting: this.core.accounting.isCounting ? (this.core.accounting.progress ?? 0) : null,
      copyOuts: this.core.copyOuts,
      commits: this.core.group.commits,
    };
  }

  /** Commit everything, stop background work at a safe point, close the devices. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.timer) clearInterval(this.timer);
    this.rollbackJob?.stop();
    await this.reclaimer.stop();
    await this.core.accounting.stop();
    await this.rollbackDone.catch(() => undefined);
    await this.core.gate.withExclusive(async () => {
      this.closed = true;
      if (this.readOnly) return;
      await this.data.syncOrigin(0);
    });
    await this.core.cow.close();
    await this.core.originDev(0).close();
  }

  /** For tests and tools: the engine inside. */
  get internals(): Core {
    return this.core;
  }

  // ---- helpers ---------------------------------------------------------------------

  private startRollbackJob(space: Reservation): void {
    const job = new RollbackJob(this.core, this.data, space);
    this.rollbackJob = job;
    this.rollbackDone = job.run().finally(() => {
      this.rollbackJob = null;
      this.reclaimer.kick();
    });
  }

  /** Staged snapshots a crash left half received: nobody can finish them now. */
  private async dropLeftoverStaged(): Promise<void> {
    const { versions } = this.core;
    const left = [...versions.all()].filter(
      (v) => v.kind === VersionKind.HIDDEN && v.source === STAGED_SOURCE && v.state === VersionState.LIVE,
    );
    if (left.length === 0) return;
    await this.core.meta.run(async () => left.forEach((v) => versions.markDeleted(v)));
    await this.core.commit();
    debug('dropped %d snapshots left half received', left.length);
  }

  private hasDeleted(): boolean {
    return this.core.versions.hasNotLive;
  }

  private leafOf(image: string): Version {
    const v = image === ORIGIN_IMAGE ? this.core.versions.originLeaf(0) : this.core.versions.snapshot(0, image);
    if (!v) throw new StoreError('NOT_FOUND', `no snapshot ${image}`);
    return v;
  }

  private nextFreeId(): string {
    let max = 0;
    for (const v of this.core.versions.snapshots(0)) if (/^[0-9]+$/.test(v.name)) max = Math.max(max, Number(v.name));
    return String(max + 1);
  }

  /** A snapshot's facts; the same object while they stay the same (callers cache by it). */
  private info(v: Version): SnapshotInfo {
    const gone = v.source !== ORIGIN_IMAGE && !this.core.versions.snapshot(v.origin, v.source);
    const parent = gone ? '-' : v.source;
    const had = this.infoOf.get(v);
    if (had?.parent === parent && had.id === v.name) return had;
    const info = {
      id: v.name,
      parent,
      created: new Date(v.created),
      uuid: v.uuid.toString('hex'),
      schedule: v.schedule,
    };
    this.infoOf.set(v, info);
    return info;
  }

  private checkRange(buf: Buffer, pos: number): void {
    if (!Number.isInteger(pos) || pos < 0 || pos + buf.length > this.originSize) {
      throw StoreError.invalid(`range ${pos}+${buf.length} is outside the image (${this.originSize} bytes)`);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreError('CLOSED', 'the store is closed');
  }

  private assertWritable(): void {
    this.assertOpen();
    if (this.readOnly) throw new StoreError('READ_ONLY', 'the store is open read-only');
  }
}

function checkId(id: string): void {
  if (!ID_PATTERN.test(id) || id === ORIGIN_IMAGE) {
    throw StoreError.invalid(
      `bad snapshot id "${id.slice(0, NAME_MAX + 1)}": use 1-64 of A-Z a-z 0-9 . _ -, not "origin"`,
    );
  }
}

async function readSuperblocks(cow: BlockDevice): Promise<Buffer[]> {
  if (cow.size < 2 * BLOCK_SIZE) throw new StoreError('NOT_A_STORE', `${cow.name} holds no snapfuse store`);
  const both = Buffer.alloc(2 * BLOCK_SIZE);
  await cow.read(both, 0);
  return [both.subarray(0, BLOCK_SIZE), both.subarray(BLOCK_SIZE)];
}

function checkGeometry(sb: Superblock, cow: BlockDevice): void {
  const cs = sb.chunkSize;
  if (cs < MIN_CHUNK || cs > MAX_CHUNK || cs & (cs - 1)) {
    throw StoreError.corruption(`${cow.name}: superblock names chunk size ${cs}`);
  }
  if (sb.totalBlocks * BLOCK_SIZE > cow.size) {
    throw StoreError.invalid(
      `${cow.name} is smaller (${cow.size} bytes) than the store on it (${sb.totalBlocks * BLOCK_SIZE})`,
    );
  }
}

function checkOrigin(record: OriginRecord, origin: BlockDevice, cow: BlockDevice, id?: OriginIdentity): void {
  const other = (why: string) =>
    new StoreError('WRONG_ORIGIN', `${cow.name} is a store for another origin than ${origin.name}: ${why}`);
  if (record.size !== origin.size) throw other(`size is ${origin.size} bytes, the store's origin had ${record.size}`);
  if (id && (record.dev || record.ino || record.rdev)) {
    if (record.rdev !== id.rdev || (!record.rdev && (record.dev !== id.dev || record.ino !== id.ino))) {
      throw other('it is not the same file (device and inode differ)');
    }
  }
}

function pickBackground(sb: Superblock): BackgroundState {
  return {
    reclaimRunning: sb.reclaimRunning,
    reclaimCursor: sb.reclaimCursor,
    rollbackSource: sb.rollbackSource,
    rollbackOrigin: sb.rollbackOrigin,
    rollbackCursor: sb.rollbackCursor,
    schedules: sb.schedules,
  };
}
