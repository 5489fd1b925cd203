// Rollback: the origin's content becomes a snapshot's; every snapshot stays as it was.
// Online, as dm's snapshot-merge: the origin is served while the copying runs.
//
// Starting one freezes the target under a hidden leaf, the rollback's source, so later
// writes to the target do not leak into the origin, and commits {source, cursor 0} in
// the superblock's record. From that commit on the origin reads as the source: a chunk
// the source reads from the COW is read there until it is copied. The job walks the
// chunks that have exceptions, in order, and copies each such chunk into the origin
// file through the copy-out rule (other snapshots keep the old data); an origin write
// to a chunk not copied yet copies it first. A copied chunk, once flushed in the origin
// file, gets a marker on the source: from then on the source reads the origin there,
// and no copy comes again over a later write, after a crash neither. After each batch
// the cursor is committed, so a crash resumes. At the end the hidden leaf is deleted and
// reclaimed like any snapshot.
//
// One rollback runs at a time, in the whole store. `Rollback` owns it: the job, what the
// origin's reads and writes are served with while it runs, and the record's rollback part.
import createDebug from 'debug';
import { StoreError } from '../../errors';
import { chunkKey, MAX_CHUNKS, VersionKind } from '../../format/records';
import { Version } from '../../snap/version-tree';
import { Core, Edit } from '../metadata/core';
import { RecordPart, RollbackRecord } from '../metadata/background-record';
import { Reservation } from '../space';
import { DataPath, Rolling } from '../io/data-path';
import { Faults } from '../faults';

const debug = createDebug('snapfuse:rollback');
const BATCH_CHUNKS = 256;

/** A running rollback, as the status shows it: the snapshot and the fraction done. */
export interface RollbackProgress {
  id: string;
  done: number;
}

/** What a rollback works with. */
export type RollbackParts = Pick<
  Core,
  | 'change'
  | 'commit'
  | 'gate'
  | 'meta'
  | 'exceptions'
  | 'versions'
  | 'origins'
  | 'space'
  | 'sm'
  | 'chunkSize'
  | 'chunkBlocks'
>;

export class Rollback {
  private job: RollbackJob | null = null;

  constructor(
    private readonly core: RollbackParts,
    private readonly data: DataPath,
    /** The rollback in progress, as the superblock keeps it: this service's alone to set. */
    private readonly record: RecordPart<RollbackRecord>,
    private readonly faults: Faults,
    /** When a rollback ends, its hidden source waits for reclaim. */
    private readonly ended: () => void,
  ) {}

  /** Does a rollback run (or hold its origin, failed)? */
  get running(): boolean {
    return this.job !== null && !this.job.stopped;
  }

  /**
   * Run `op`, a change that must not meet a rollback of these origins copying (a snapshot of
   * the origin would show the file where the copy has not been yet): after its copying,
   * and again after any that started while `op` waited for the gate (`assertNotCopying`
   * in its checks refuses it then).
   */
  async afterCopying<T>(origins: readonly number[], op: () => Promise<T>): Promise<T> {
    for (;;) {
      for (const origin of origins) await this.done(origin);
      try {
        return await op();
      } catch (e) {
        if (!(e instanceof StillCopying)) throw e;
      }
    }
  }

  /** In a change's checks (under the gate): throws if a rollback of `origin` copies (see afterCopying). */
  assertNotCopying(origin: number): void {
    if (this.serving(origin)) throw new StillCopying();
  }

  /**
   * What `origin`'s reads and writes go through while a rollback copies into it, or
   * undefined when none does. Ask under the gate (shared): the job's end takes it whole, so what
   * this returns holds until the caller lets go. Throws while a failed one holds the
   * origin (half rolled back: EIO until a remount).
   */
  serving(origin: number): Rolling | undefined {
    const job = this.job;
    if (!job || job.origin !== origin) return undefined;
    if (job.failure) throw job.failure;
    return job.ended ? undefined : job.rolling;
  }

  /** The running rollback of `origin`, or null. */
  of(origin: number): RollbackProgress | null {
    return this.job?.origin === origin ? { id: this.job.snapshot, done: this.job.progress } : null;
  }

  /**
   * Resolves once no rollback of `origin` (of any, if not given) copies; at once if none
   * does. Rejects while a failed one holds its origin (half rolled back: EIO until a remount).
   */
  done(origin?: number): Promise<void> {
    const { job } = this;
    return job && !job.stopped && (origin === undefined || job.origin === origin) ? job.over : Promise.resolve();
  }

  /** A crash left a rollback half done: go on with it, reserving what the rest may need, as far as there is room. */
  async resume(): Promise<void> {
    const { core } = this;
    const { source, origin } = this.record.value;
    if (!source) return;
    const v = core.versions.get(source);
    const need = v ? await this.data.countCowChunks(origin, v) : 0;
    const room = Math.floor(Math.max(0, core.sm.counts().allocatable - core.space.metaReserve()) / core.chunkBlocks);
    this.run(new RollbackJob(core, this.data, this.record, core.space.reserveChunks(Math.min(need, room))));
  }

  /**
   * Start a rollback of `origin` to the version `target` gives (asked under the gate),
   * durable when this resolves: space for all its copying is set aside, or it is refused
   * and nothing changes. `alongside` checks a change to make in the same commit and
   * returns it (publish --become-origin), so one commit makes both durable.
   */
  async start(origin: number, target: () => Version, id: string, alongside?: () => Edit<void>): Promise<void> {
    const { core } = this;
    // set aside in the change's checks; given back if the change fails
    let space: Reservation | undefined;
    try {
      await core.change(async () => {
        const source = target();
        const also = alongside?.();
        if (this.job) throw new StoreError('BUSY', 'a rollback is already running');
        // held origin writes have not found their chunks yet: the job must see their copies
        await this.data.writeBack.drain();
        const reserved = (space = core.space.reserveChunks(await this.data.countCowChunks(origin, source)));
        core.space.require(16);
        return async () => {
          await also?.();
          const [, hidden] = core.versions.split(source, VersionKind.HIDDEN, '', id, Date.now());
          this.record.set({ source: hidden.id, origin, cursor: 0 });
          // under the gate still: the origin's next read or write is served by the job
          this.job = new RollbackJob(core, this.data, this.record, reserved);
        };
      });
    } catch (e) {
      if (this.job && !this.job.started) this.job = null; // its commit failed: the store has stopped
      space?.release();
      throw e;
    }
    this.run(this.job!);
  }

  /**
   * Stop after the current batch (close); the next open resumes from the committed cursor.
   * The stopped job still serves its origin until the store is closed.
   */
  async stop(): Promise<void> {
    const { job } = this;
    if (!job) return;
    job.stop();
    await job.ran?.catch(() => undefined);
  }

  private run(job: RollbackJob): void {
    this.job = job;
    job.ran = job.run().then(
      (finished) => {
        if (!finished) return; // stopped by a close: it serves the origin until the end
        this.job = null;
        this.ended();
      },
      (e: unknown) => {
        // the origin is half rolled back: it answers EIO (`serving` throws, `over` stays
        // rejected) and the store turns read-only; a remount resumes
        job.failure = e instanceof Error ? e : new Error(String(e));
        this.faults.record(`the rollback to ${job.snapshot}`, e, true);
        throw e;
      },
    );
    job.ran.then(job.settle.resolve, job.settle.reject);
  }
}

/** A change met the rollback of its origin copying: `afterCopying` waits and tries again. */
class StillCopying extends StoreError {
  constructor() {
    super('BUSY', "a rollback of the origin is copying: wait for it (rollback's --wait)");
  }
}

class RollbackJob {
  progress = 0;
  started = false;
  /** Resolves when the copying is over (rejects if it failed): what a create from the origin waits for. */
  readonly over: Promise<void>;
  readonly settle: { resolve: () => void; reject: (e: unknown) => void };
  /** The job's run, once started. */
  ran: Promise<void> | null = null;
  /** The copying is over (set under the gate): the origin reads and writes its file alone again. */
  ended = false;
  failure: Error | null = null;
  private stopping = false;
  /** The origin this job rolls back, and the snapshot whose content it copies (fixed at start). */
  readonly origin: number;
  readonly snapshot: string;
  readonly rolling: Rolling;

  constructor(
    private readonly core: RollbackParts,
    private readonly data: DataPath,
    private readonly record: RecordPart<RollbackRecord>,
    private readonly space: Reservation,
  ) {
    // read once: the job's last step clears the record before its commit, and the status
    // still asks for the job until it has ended
    this.origin = record.value.origin;
    const source = core.versions.get(record.value.source);
    if (!source) throw new Error(`rollback source ${record.value.source} is missing`);
    this.snapshot = source.source;
    this.rolling = { source, space };
    let settle: RollbackJob['settle'] | undefined;
    this.over = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    this.over.catch(() => undefined); // recorded where it fails; waiters see it too
    this.settle = settle!;
  }

  stop(): void {
    this.stopping = true;
  }

  get stopped(): boolean {
    return this.stopping;
  }

  /** Copy to the end (true), or until stopped (false). */
  async run(): Promise<boolean> {
    this.started = true;
    const { core, origin, record } = this;
    const { source } = this.rolling;
    const end = chunkKey(origin + 1, 0);
    const nchunks = Math.max(1, Math.ceil(core.origins.get(origin).size / core.chunkSize));
    debug('rollback of origin %d from version %d at chunk key %d', origin, source.id, record.value.cursor);
    for (;;) {
      const from = Math.max(record.value.cursor, chunkKey(origin, 0));
      const { keys } = await core.meta.run(() => core.exceptions.chunkKeys(from, end, BATCH_CHUNKS));
      if (keys.length === 0) break;
      if (this.stopping) return false;
      const copied: number[] = [];
      await Promise.all(
        keys.map((key) =>
          core.gate.withShared(async () => {
            const chunk = key % MAX_CHUNKS;
            if (await this.data.rollJobChunk(origin, chunk, this.rolling)) copied.push(chunk);
          }),
        ),
      );
      // the data first, then the markers that say it is there, then the cursor
      await core.origins.device(origin).flush();
      await this.data.markJobChunks(origin, copied, source);
      const next = keys[keys.length - 1] + 1;
      await core.meta.run(async () => record.set({ ...record.value, cursor: next }));
      await core.commit();
      this.progress = (next % MAX_CHUNKS) / nchunks;
    }
    // the gate whole: no read or write still goes through the source it deletes
    await core.gate.withExclusive(async () => {
      await core.meta.run(async () => {
        core.versions.markDeleted(source);
        record.set({ source: 0, origin: 0, cursor: 0 });
      });
      await core.commit();
      this.ended = true;
    });
    this.space.release();
    this.progress = 1;
    debug('rollback done');
    return true;
  }
}
