// Snapshots of every origin at once (a consistency group, as `zfs snapshot -r`): a
// snapshot of the same name in each origin, made or deleted in one commit, so that data
// spread over several origins (a database's data and its log) is caught at one instant;
// and the schedules that take them. Such a schedule is kept in the superblock beside the
// origins' own, with EVERY_ORIGIN for its origin.
import createDebug from 'debug';
import { StoreError } from '../errors';
import { ScheduleRecord } from '../format/superblock';
import { EVERY_ORIGIN, withSchedule } from './background/schedule';
import { checkSnapshotId, ORIGIN_IMAGE } from './snapshot-id';
import type { Volume, VolumeHost } from './volume';

const debug = createDebug('snapfuse:groups');

export type GroupParts = Pick<VolumeHost, 'core' | 'access' | 'reclaimer' | 'rollback' | 'full'>;

export class Groups {
  constructor(
    private readonly host: GroupParts,
    private readonly volumes: () => Volume[],
  ) {}

  private get core() {
    return this.host.core;
  }

  /**
   * A snapshot `id` of every origin, in one commit. If any origin has a snapshot `id`
   * already, EEXIST and nothing changes. `schedule` names the schedule that takes it.
   */
  async create(id: string, schedule = ''): Promise<void> {
    this.host.access.assertWritable();
    checkSnapshotId(id);
    const volumes = this.volumes();
    const { full, rollback } = this.host;
    const create = () =>
      this.core.change(async () => {
        const edits: Array<(now: number) => string> = [];
        for (const v of volumes) edits.push(await v.prepareCreate(id, ORIGIN_IMAGE, schedule));
        // one instant for all: the edits could straddle a millisecond
        return (now = Date.now()) => void edits.forEach((edit) => edit(now));
      });
    await rollback.afterCopying(
      volumes.map((v) => v.origin),
      () => full.withRoom(create, () => full.makeRoomToCreate()),
    );
    debug('took %s of %d origins', id, volumes.length);
  }

  /** Snapshot `id` of every origin that has one vanishes, in one commit; NOT_FOUND if none has. */
  async delete(id: string): Promise<void> {
    this.host.access.assertWritable();
    checkSnapshotId(id);
    await this.core.change(() => {
      const { versions } = this.core;
      const gone = this.volumes()
        .map((v) => versions.snapshot(v.origin, id))
        .filter((v) => v !== undefined);
      if (gone.length === 0) throw new StoreError('NOT_FOUND', `no origin has a snapshot ${id}`);
      return () => gone.forEach((v) => versions.markDeleted(v));
    });
    this.host.reclaimer.kick();
  }

  // ---- schedules of every origin ---------------------------------------------------

  schedules(): readonly ScheduleRecord[] {
    return this.core.record.schedules.value.filter((s) => s.origin === EVERY_ORIGIN);
  }

  /** Set (or replace) a schedule of snapshots of every origin; durable when this returns. */
  async setSchedule(r: Omit<ScheduleRecord, 'origin'>): Promise<void> {
    this.host.access.assertWritable();
    const { schedules } = this.core.record;
    await this.core.change(() => {
      const next = withSchedule(schedules.value, { ...r, origin: EVERY_ORIGIN });
      return () => schedules.set(next);
    });
  }

  /** Stop a schedule of every origin; its snapshots stay, as ordinary ones. */
  async removeSchedule(name: string): Promise<void> {
    this.host.access.assertWritable();
    const { schedules } = this.core.record;
    await this.core.change(() => {
      const left = schedules.value.filter((s) => s.name !== name || s.origin !== EVERY_ORIGIN);
      if (left.length === schedules.value.length) throw new StoreError('NOT_FOUND', `no schedule ${name} at the root`);
      return () => schedules.set(left);
    });
  }

  /**
   * The snapshots schedule `name` took, oldest first: each id once, however many origins
   * hold it (an origin added later lacks the older ones), at its earliest creation.
   */
  taken(name: string): Array<{ id: string; created: Date }> {
    const byId = new Map<string, Date>();
    for (const v of this.volumes()) {
      for (const s of v.taken(name)) {
        const seen = byId.get(s.id);
        if (!seen || s.created < seen) byId.set(s.id, s.created);
      }
    }
    return [...byId]
      .map(([id, created]) => ({ id, created }))
      .sort((a, b) => a.created.getTime() - b.created.getTime() || (a.id < b.id ? -1 : 1));
  }
}
