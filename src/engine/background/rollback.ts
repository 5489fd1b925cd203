// Rollback: the origin's content becomes a snapshot's; every snapshot stays as it was.
//
// Starting one freezes the target under a hidden leaf, the rollback's source, so later
// writes to the target do not leak into the origin, and commits {source, cursor 0} in
// the superblock's record. The job then walks the chunks that have exceptions, in order:
// where the source reads a COW chunk, that data is written to the origin through the
// ordinary origin write (so other snapshots keep the old data, copy-out rule and all).
// Where the source reads the origin, there is nothing to do. After each batch the origin
// is synced and the cursor committed, so a crash resumes; redoing a chunk is harmless.
// At the end the hidden leaf is deleted and reclaimed like any snapshot.
//
// One rollback runs at a time, in the whole store. `Rollback` owns it: the job, the
// promise its origin's reads and writes wait on, and the record's rollback part.
import createDebug from 'debug';
import { StoreError } from '../../errors';
import { ExceptionKind, chunkKey, MAX_CHUNKS, VersionKind } from '../../format/records';
import { Version } from '../../snap/version-tree';
import { Core, Edit } from '../metadata/core';
import { RecordPart, RollbackRecord } from '../metadata/background-record';
import { Reservation } from '../space';
import { DataPath } from '../io/data-path';
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
  private finished: Promise<void> = Promise.resolve();

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
    return this.job !== null;
  }

  /** The running rollback of `origin`, or null. */
  of(origin: number): RollbackProgress | null {
    return this.job?.origin === origin ? { id: this.job.snapshot, done: this.job.progress } : null;
  }

  /**
   * Resolves once no rollback of `origin` (of any, if not given) runs; at once if none
   * does. Rejects while a failed one holds its origin (half rolled back: EIO until a remount).
   */
  done(origin?: number): Promise<void> {
    return this.job && (origin === undefined || this.job.origin === origin) ? this.finished : Promise.resolve();
  }

  /** A crash left a rollback half done: go on with it, reserving what the rest may need, as far as there is room. */
  async resume(): Promise<void> {
    const { core } = this;
    const { source, origin } = this.record.value;
    if (!source) return;
    const v = core.versions.get(source);
    const need = v ? await this.data.countCowChunks(origin, v) : 0;
    const room = Math.floor(Math.max(0, core.sm.counts().allocatable - core.space.metaReserve()) / core.chunkBlocks);
    this.run(core.space.reserveChunks(Math.min(need, room)));
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
      space = await core.change(async () => {
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
          return reserved;
        };
      });
    } catch (e) {
      space?.release();
      throw e;
    }
    this.run(space);
  }

  /** Stop after the current batch (close); the next open resumes from the committed cursor. */
  async stop(): Promise<void> {
    this.job?.stop();
    await this.finished.catch(() => undefined);
  }

  private run(space: Reservation): void {
    const job = new RollbackJob(this.core, this.data, this.record, space);
    this.job = job;
    this.finished = job.run().then(
      () => {
        this.job = null;
        this.ended();
      },
      (e: unknown) => {
        // the origin is half rolled back: it answers EIO (this promise stays rejected, and
        // its reads and writes wait on it) and the store turns read-only; a remount resumes
        this.faults.record(`the rollback to ${job.snapshot}`, e, true);
        throw e;
      },
    );
    this.finished.catch(() => undefined); // recorded above; waiters see it too
  }
}

class RollbackJob {
  progress = 0;
  private stopping = false;
  /** The origin this job rolls back, and the snapshot whose content it copies (fixed at start). */
  readonly origin: number;
  readonly snapshot: string;

  constructor(
    private readonly core: RollbackParts,
    private readonly data: DataPath,
    private readonly record: RecordPart<RollbackRecord>,
    private readonly space: Reservation,
  ) {
    // read once: the job's last step clears the record before its commit, and the status
    // still asks for the job until it has ended
    this.origin = record.value.origin;
    this.snapshot = core.versions.get(record.value.source)?.source ?? '';
  }

  stop(): void {
    this.stopping = true;
  }

  async run(): Promise<void> {
    const { core, origin, record } = this;
    const source = core.versions.get(record.value.source);
    if (!source) throw new Error(`rollback source ${record.value.source} is missing`);
    const end = chunkKey(origin + 1, 0);
    const nchunks = Math.max(1, Math.ceil(core.origins.get(origin).size / core.chunkSize));
    debug('rollback of origin %d from version %d at chunk key %d', origin, source.id, record.value.cursor);
    for (;;) {
      const from = Math.max(record.value.cursor, chunkKey(origin, 0));
      const { keys } = await core.meta.run(() => core.exceptions.chunkKeys(from, end, BATCH_CHUNKS));
      if (keys.length === 0) break;
      if (this.stopping) return;
      await Promise.all(
        keys.map(async (key) => {
          const chunk = key % MAX_CHUNKS;
          await core.gate.withShared(async () => {
            const found = await core.meta.run(() => core.exceptions.nearest(origin, chunk, source));
            if (found?.exception.kind !== ExceptionKind.CHUNK) return;
            const content = await this.data.readChunk(origin, chunk, found);
            await this.data.writeOrigin(origin, content, chunk * core.chunkSize, this.space);
          });
        }),
      );
      await this.data.syncOrigin(origin);
      const next = keys[keys.length - 1] + 1;
      await core.meta.run(async () => record.set({ ...record.value, cursor: next }));
      await core.commit();
      this.progress = (next % MAX_CHUNKS) / nchunks;
    }
    await core.meta.run(async () => {
      core.versions.markDeleted(source);
      record.set({ source: 0, origin: 0, cursor: 0 });
    });
    await core.commit();
    this.space.release();
    this.progress = 1;
    debug('rollback done');
  }
}
