// The store: one or more origins and all their snapshots in one exception store on a
// COW device. This is the library's public face; the FUSE mount and the offline tools
// are thin layers over it. Each origin and its snapshots are a Volume (volume.ts); the
// store holds what they share: the devices, space, commits and background work.
// Nothing here prints; logging goes through `debug`.
import createDebug from 'debug';
import { randomUUID } from 'crypto';
import { StoreError } from '../errors';
import { BLOCK_SIZE } from '../format/layout';
import { FORMAT_VERSION, SINGLE_ORIGIN_FORMAT } from '../format/superblock';
import { OriginRecord, VersionKind, VersionState } from '../format/records';
import { BlockDevice } from '../block/block-device';
import { Core } from './metadata/core';
import { BackgroundRecord } from './metadata/background-record';
import { loadMetadata, MAX_CHUNK, MIN_CHUNK, newMetadata, readSuperblock } from './metadata/load';
import { DataPath } from './io/data-path';
import { Reclaimer } from './background/reclaim';
import { Rollback } from './background/rollback';
import { Faults } from './faults';
import { Access } from './access';
import { Accounting, SpaceTotals } from './background/accounting';
import {
  checkNewOrigin,
  checkOriginName,
  MAX_ORIGINS,
  NamedOrigin,
  OriginIdentity,
  OriginOpener,
  openOrigins,
  originRecord,
} from './origin-checks';
import { Volume, VolumeHost } from './volume';
import { STAGED_SOURCE } from './staging';
import { Groups } from './groups';
import { FullStore } from './full-store';

export { ID_PATTERN, ORIGIN_IMAGE } from './snapshot-id';
export { Volume } from './volume';
export type { SnapshotInfo, VolumeStatus } from './volume';
export type { Staged } from './staging';
export { MAX_ORIGINS, ORIGIN_NAME } from './origin-checks';
export type { NamedOrigin, OriginIdentity, OriginOpener, StoredOrigin } from './origin-checks';

const debug = createDebug('snapfuse:store');

export const DEFAULT_CHUNK_SIZE = 64 * 1024;
export const DEFAULT_CACHE_SIZE = 64 * 1024 * 1024;
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

/** The store as a whole: its space and the work going on in it. */
export interface StoreStatus {
  chunkSize: number;
  totalBytes: number;
  freeBytes: number;
  usedBytes: number;
  space: SpaceTotals;
  reclaim: number | null;
  accounting: number | null;
  copyOuts: number;
  commits: number;
}

export class Store {
  private readonly data: DataPath;
  private readonly reclaimer: Reclaimer;
  private readonly rollback: Rollback;
  private readonly accounting: Accounting;
  private readonly access: Access;
  private readonly host: VolumeHost;
  /** Snapshots of every origin at once, and their schedules. */
  readonly groups: Groups;
  /** What an origin write that finds the store full does. */
  readonly full: FullStore;
  private readonly volumeOf = new Map<number, Volume>();
  /** Background failures, for the status; a failure where data is at stake makes the store read-only. */
  readonly faults = new Faults();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  private constructor(
    private readonly core: Core,
    readOnly: boolean,
    commitInterval: number,
    writeBack?: number,
  ) {
    const { faults } = this;
    this.access = new Access(readOnly, faults);
    const accounting = (this.accounting = new Accounting(core, faults));
    this.reclaimer = new Reclaimer(core, core.record.reclaim, accounting, faults);
    this.data = new DataPath(core, accounting, writeBack, faults, this.reclaimer);
    this.rollback = new Rollback(core, this.data, core.record.rollback, faults, () => this.reclaimer.kick());
    const { data, access, reclaimer, rollback } = this;
    this.full = new FullStore({ core, data, access, accounting, reclaimer, faults });
    this.host = { core, data, access, accounting, reclaimer, rollback, full: this.full, faults };
    this.groups = new Groups(this.host, () => this.volumes());
    if (commitInterval > 0) {
      this.timer = setInterval(
        () => void this.core.commit().catch((e) => this.faults.record('a timed commit', e, true)),
        commitInterval,
      );
      this.timer.unref();
    }
  }

  // ---- format and open -------------------------------------------------------------

  /**
   * Write an empty store on `cow`: for one origin (given as its device; the store does
   * not name it and it is given again at each open), or for several named ones. The
   * origins are not touched.
   */
  static async format(origins: BlockDevice | NamedOrigin[], cow: BlockDevice, opts: FormatOptions = {}): Promise<void> {
    const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
    if (!Number.isInteger(chunkSize) || chunkSize < MIN_CHUNK || chunkSize > MAX_CHUNK || chunkSize & (chunkSize - 1)) {
      throw StoreError.invalid(`chunk size ${chunkSize} is not a power of two from 4 KiB to 1 MiB`);
    }
    const named = Array.isArray(origins);
    const list: NamedOrigin[] = named
      ? origins
      : [{ name: '', device: origins, path: '', identity: opts.originIdentity }];
    if (named && list.length === 0) throw StoreError.invalid('a store needs at least one origin');
    list.forEach((o, i) => checkNewOrigin(o, chunkSize, named, list.slice(0, i)));
    const totalBlocks = Math.floor(cow.size / BLOCK_SIZE);
    const minBlocks = 128 + 4 * (chunkSize / BLOCK_SIZE);
    if (totalBlocks < minBlocks) {
      throw StoreError.invalid(`COW ${cow.name} is too small: at least ${(minBlocks * BLOCK_SIZE) / 1024} KiB`);
    }
    if (!opts.force) {
      let existing = true;
      try {
        await readSuperblock(cow);
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

    const m = await newMetadata(cow, chunkSize, totalBlocks, DEFAULT_CACHE_SIZE);
    const now = Date.now();
    const core = new Core(
      cow,
      new Map(list.map((o, id) => [id, o.device])),
      m,
      new Map(),
      {
        uuid: Buffer.from(randomUUID().replace(/-/g, ''), 'hex'),
        chunkSize,
        totalBlocks,
        created: now,
        formatVersion: named ? FORMAT_VERSION : SINGLE_ORIGIN_FORMAT,
      },
      new BackgroundRecord(),
    );
    list.forEach((o, id) => core.origins.put(id, originRecord(o, m.versions.addOrigin(id, now).id)));
    // two commits, so both superblock copies are sound from the start
    await core.group.request();
    await core.group.request();
    debug('formatted %s: %d blocks, chunk %d, %d origins', cow.name, totalBlocks, chunkSize, list.length);
  }

  /**
   * Open the store on `cow`, refusing anything that is not a sound store for its
   * origins: a store of one origin takes its device; one of several, an opener that
   * finds each by its recorded path.
   */
  static async open(given: BlockDevice | OriginOpener, cow: BlockDevice, opts: OpenOptions = {}): Promise<Store> {
    const { sb, origins, ...m } = await loadMetadata(cow, opts.cacheSize ?? DEFAULT_CACHE_SIZE);
    const devices = await openOrigins(origins, given, cow, sb, opts.originIdentity);
    const core = new Core(cow, devices, m, origins, sb, new BackgroundRecord(sb));
    const readOnly = opts.readOnly ?? false;
    const store = new Store(core, readOnly, readOnly ? 0 : (opts.commitInterval ?? 1000), opts.writeBack);
    if (readOnly) return store;
    await store.rollback.resume();
    await store.dropLeftoverStaged();
    store.reclaimer.kick();
    store.accounting.kick();
    debug('opened %s at commit %d: %d versions', cow.name, sb.seq, m.versions.size);
    return store;
  }

  /** Does `cow` hold a store of named origins (given by its COW alone)? False for anything else. */
  static async isNamed(cow: BlockDevice): Promise<boolean> {
    try {
      return (await readSuperblock(cow)).formatVersion > SINGLE_ORIGIN_FORMAT;
    } catch {
      return false;
    }
  }

  // ---- origins ---------------------------------------------------------------------

  /** Does the store name its origins (and so show a directory for each)? */
  get named(): boolean {
    return this.core.sb.formatVersion > SINGLE_ORIGIN_FORMAT;
  }

  /** An origin and its snapshots: by name, or the one origin of a store of one. */
  volume(name?: string): Volume {
    const live = this.liveOrigins();
    if (name === undefined && live.length !== 1)
      throw StoreError.invalid(`the store has ${live.length} origins: name one`);
    const found = name === undefined ? live[0] : live.find(([, o]) => o.name === name);
    if (!found) throw new StoreError('NOT_FOUND', `no origin ${name}`);
    const [id] = found;
    let v = this.volumeOf.get(id);
    if (!v) this.volumeOf.set(id, (v = new Volume(this.host, id)));
    return v;
  }

  /** Every origin, by name. */
  volumes(): Volume[] {
    const names = this.liveOrigins().map(([, o]) => o.name);
    return names.sort().map((name) => this.volume(name));
  }

  /** Where each named origin is found at open. */
  originPath(name: string): string {
    return this.core.origins.get(this.volume(name).origin).path;
  }

  /**
   * Add origin `o` to the store, durable when this returns. A store of one unnamed
   * origin must name that one too (`first`, with the path it is found at): it becomes a
   * store of named origins, which older snapfuse no longer opens.
   */
  async addOrigin(o: NamedOrigin, first?: { name: string; path: string }): Promise<Volume> {
    this.assertWritable();
    const { core } = this;
    const id = await core.change(() => {
      const live = this.liveOrigins();
      const naming = !this.named;
      if (naming && !first) throw StoreError.invalid("name the store's first origin too (it has no name yet)");
      if (naming) checkOriginName(first!.name, []);
      const taken = naming ? [first!.name] : live.map(([, r]) => r.name);
      checkNewOrigin(
        o,
        this.chunkSize,
        true,
        taken.map((name) => ({ name })),
      );
      if (core.origins.size >= MAX_ORIGINS) throw StoreError.invalid(`a store holds at most ${MAX_ORIGINS} origins`);
      core.space.require(16);
      // the smallest free id: one whose record is gone has no versions or entries left
      let id = 0;
      while (core.origins.find(id)) id++;
      return () => {
        if (naming) {
          const [id0, r0] = live[0];
          core.origins.put(id0, { ...r0, name: first!.name, path: first!.path });
          core.sb.formatVersion = FORMAT_VERSION;
        }
        core.origins.put(id, originRecord(o, core.versions.addOrigin(id, Date.now()).id));
        core.origins.attach(id, o.device);
        return id;
      };
    });
    debug('added origin %s as %d', o.name, id);
    return this.volume(o.name);
  }

  /**
   * Remove origin `name`: it and its snapshots vanish now (the origin file is left as it
   * is); the space they held returns in the background, as after a delete.
   */
  async removeOrigin(name: string): Promise<void> {
    this.assertWritable();
    const { core } = this;
    const { origin, device } = await core.change(async () => {
      const { origin } = this.volume(name);
      if (this.liveOrigins().length === 1) {
        throw StoreError.invalid(`${name} is the store's last origin: format the COW again instead`);
      }
      if (this.rollback.of(origin)) {
        throw new StoreError('BUSY', `a rollback of ${name} is copying: remove it once that ends`);
      }
      await this.data.syncOrigin(origin); // held writes reach it before it goes
      return () => {
        core.origins.put(origin, { ...core.origins.get(origin), removing: true });
        for (const v of core.versions.ofOrigin(origin)) {
          if (v.children.length === 0 && v.state === VersionState.LIVE) core.versions.markDeleted(v);
        }
        const { schedules } = core.record;
        schedules.set(schedules.value.filter((s) => s.origin !== origin));
        this.volumeOf.delete(origin);
        return { origin, device: core.origins.detach(origin) };
      };
    });
    debug('removing origin %s (%d)', name, origin);
    await device?.close();
    this.reclaimer.kick();
  }

  // ---- the store as a whole --------------------------------------------------------

  get chunkSize(): number {
    return this.core.chunkSize;
  }

  /** The store's identity, which a replication stream names as its source. */
  get uuid(): string {
    return this.core.sb.uuid.toString('hex');
  }

  /** Everything written so far, to any image of any origin, becomes durable. */
  async sync(): Promise<void> {
    this.assertWritable();
    for (const id of this.core.origins.openIds()) await this.data.syncOrigin(id);
  }

  /** Resolves when no background work (held writes, reclaim, rollback) is left. */
  async idle(): Promise<void> {
    for (;;) {
      await this.data.writeBack.drain();
      await this.rollback.done();
      await this.reclaimer.idle();
      if (this.reclaimer.lastError) throw this.reclaimer.lastError;
      await this.accounting.idle();
      const quiet = this.data.writeBack.size === 0 && !this.rollback.running && !this.accounting.isBusy;
      if (quiet && !this.reclaimer.passRunning && !this.hasDeleted()) return;
      this.reclaimer.kick();
      this.accounting.kick();
    }
  }

  status(): StoreStatus {
    const counts = this.core.sm.counts();
    return {
      chunkSize: this.chunkSize,
      totalBytes: counts.total * BLOCK_SIZE,
      freeBytes: counts.free * BLOCK_SIZE,
      usedBytes: (counts.total - counts.free) * BLOCK_SIZE,
      space: this.accounting.totals(),
      reclaim: this.reclaimer.progress,
      accounting: this.accounting.isCounting ? (this.accounting.progress ?? 0) : null,
      copyOuts: this.data.copyOuts(),
      commits: this.core.group.commits,
    };
  }

  /** Commit everything, stop background work at a safe point, close the devices. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.timer) clearInterval(this.timer);
    const stopped = this.rollback.stop();
    await this.reclaimer.stop();
    await this.accounting.stop();
    await stopped;
    await this.core.gate.withExclusive(async () => {
      this.closed = true;
      this.access.close();
      if (this.access.readOnly) return;
      for (const id of this.core.origins.openIds()) await this.data.syncOrigin(id);
    });
    await this.core.cow.close();
    for (const id of this.core.origins.openIds()) await this.core.origins.device(id).close();
  }

  /** For tests and tools: the engine inside. */
  get internals(): Core {
    return this.core;
  }

  // ---- helpers ---------------------------------------------------------------------

  /** Origins not being removed, by id. */
  private liveOrigins(): Array<[number, OriginRecord]> {
    return [...this.core.origins.entries()].filter(([, o]) => !o.removing);
  }

  /** Staged snapshots a crash left half received: nobody can finish them now. */
  private async dropLeftoverStaged(): Promise<void> {
    const { versions } = this.core;
    const left = [...versions.all()].filter(
      (v) => v.kind === VersionKind.HIDDEN && v.source === STAGED_SOURCE && v.state === VersionState.LIVE,
    );
    if (left.length === 0) return;
    await this.core.change(() => () => left.forEach((v) => versions.markDeleted(v)));
    debug('dropped %d snapshots left half received', left.length);
  }

  private hasDeleted(): boolean {
    return this.core.versions.hasNotLive;
  }

  private assertWritable(): void {
    this.access.assertWritable();
  }
}
