// The superblock's record of work in progress, so that a crash resumes it: a reclaim
// pass and its cursor, a rollback and its cursor; and the settings for the work to come:
// the schedules and what to do when the store is full. Each part has one owner that
// changes it (the reclaimer, the rollback service, the schedules' owners, the full-store
// policy), always under the metadata lock; the next commit persists them all.
import { ScheduleRecord, Superblock } from '../../format/superblock';

export interface ReclaimRecord {
  running: boolean;
  cursor: number; // the chunk key the pass goes on from
}

export interface RollbackRecord {
  source: number; // the hidden leaf whose content the origin takes; 0: no rollback runs
  origin: number;
  cursor: number;
}

/** One part of the record: read by anyone, set only by its owner. */
export class RecordPart<T> {
  constructor(
    private current: T,
    private readonly changed: () => void,
  ) {}

  get value(): T {
    return this.current;
  }

  /** Replace the part; the next commit persists it. Hold the metadata lock. */
  set(value: T): void {
    this.current = value;
    this.changed();
  }
}

export type RecordFields = Pick<
  Superblock,
  'reclaimRunning' | 'reclaimCursor' | 'rollbackSource' | 'rollbackOrigin' | 'rollbackCursor' | 'schedules' | 'whenFull'
>;

export class BackgroundRecord {
  private dirty = false;
  readonly reclaim: RecordPart<ReclaimRecord>;
  readonly rollback: RecordPart<RollbackRecord>;
  readonly schedules: RecordPart<readonly ScheduleRecord[]>;
  /** The policy for a full store, as the superblock numbers it (engine/full-store.ts). */
  readonly whenFull: RecordPart<number>;

  /** The record as a superblock holds it; a new store's is empty. */
  constructor(sb?: RecordFields) {
    const mark = () => (this.dirty = true);
    this.reclaim = new RecordPart({ running: sb?.reclaimRunning ?? false, cursor: sb?.reclaimCursor ?? 0 }, mark);
    this.rollback = new RecordPart(
      { source: sb?.rollbackSource ?? 0, origin: sb?.rollbackOrigin ?? 0, cursor: sb?.rollbackCursor ?? 0 },
      mark,
    );
    this.schedules = new RecordPart<readonly ScheduleRecord[]>(sb?.schedules ?? [], mark);
    this.whenFull = new RecordPart(sb?.whenFull ?? 0, mark);
  }

  get hasChanges(): boolean {
    return this.dirty;
  }

  /** The record as the superblock holds it. */
  fields(): RecordFields {
    const r = this.reclaim.value;
    const b = this.rollback.value;
    return {
      reclaimRunning: r.running,
      reclaimCursor: r.cursor,
      rollbackSource: b.source,
      rollbackOrigin: b.origin,
      rollbackCursor: b.cursor,
      schedules: [...this.schedules.value],
      whenFull: this.whenFull.value,
    };
  }

  /** A commit sealed the record's fields (under the metadata lock): nothing is left to persist. */
  sealed(): void {
    this.dirty = false;
  }
}
