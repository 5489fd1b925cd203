// The control file at the root of a mount of named origins. Written, it takes what
// concerns every origin at once: `create <id>` and `delete <id>` (one commit: a
// consistency group), `schedule <name> every <interval> keep <n>` / `schedule <name>
// off`, whose rolling snapshots are such groups, and `add-origin <name> <file>` /
// `remove-origin <name>`, which the mount shows at once. Read, it gives the store-wide status
// (control/store-status.ts).
import createDebug from 'debug';
import type { Store } from '../engine/store';
import type { Handlers } from './handlers';
import { Fault, faultOf, newestFault } from '../engine/faults';
import { Scheduler, ScheduleHost } from '../engine/background/schedule';
import { StoreError } from '../errors';
import { parseCommand } from '../control/command';
import { formatStoreStatus } from '../control/store-status';

const debug = createDebug('snapfuse:root');

/** Origins added to and removed from the mounted store. */
export interface LiveOrigins {
  addOrigin(name: string, path: string): Promise<void>;
  removeOrigin(name: string): Promise<void>;
}

export class RootControl {
  private lastError: Fault | null = null; // of the root's commands and group schedules
  private readonly scheduler = new Scheduler(this.scheduleHost());

  constructor(
    private readonly store: Store,
    private readonly views: ReadonlyMap<string, Handlers>,
    /** Origins added and removed while mounted: the router's, as it shows them. */
    private readonly origins: LiveOrigins,
  ) {}

  /** Carry out one command; errors are recorded for the status and thrown. */
  async command(input: Buffer): Promise<void> {
    await this.recorded(async () => {
      const cmd = parseCommand(input);
      debug('control: %o', cmd);
      const { groups } = this.store;
      if (cmd.op === 'create' && cmd.id !== undefined && cmd.from === undefined) {
        await groups.create(cmd.id);
      } else if (cmd.op === 'delete') {
        await this.deleteGroup(cmd.id);
      } else if (cmd.op === 'schedule') {
        await groups.setSchedule(cmd);
        this.scheduler.wake();
      } else if (cmd.op === 'unschedule') {
        await groups.removeSchedule(cmd.name);
      } else if (cmd.op === 'add-origin') {
        await this.origins.addOrigin(cmd.name, cmd.path);
      } else if (cmd.op === 'remove-origin') {
        await this.origins.removeOrigin(cmd.name);
      } else {
        throw StoreError.invalid(
          "the root's control takes create <id>, delete <id>, schedule, add-origin and remove-origin",
        );
      }
    });
  }

  /** The store-wide status, made now. */
  status(): Buffer {
    const s = this.store.status();
    const origins = this.store.volumes().map((v) => ({ name: v.name, size: v.originSize, snapshots: v.snapshotCount }));
    const schedules = this.store.groups.schedules().map((x) => ({ ...x, next: new Date(this.scheduler.due(x)) }));
    const text = formatStoreStatus({
      origins,
      usedBytes: s.usedBytes,
      totalBytes: s.totalBytes,
      freeBytes: s.freeBytes,
      reclaim: s.reclaim,
      lastError: newestFault(this.lastError, this.store.faults.last),
      daemon: process.pid,
      schedules,
      whenFull: this.store.full.policy,
      work: { copyOuts: s.copyOuts, commits: s.commits, faults: this.store.faults.count },
    });
    return Buffer.from(text);
  }

  startSchedules(): void {
    this.scheduler.wake();
  }

  stopSchedules(): Promise<void> {
    return this.scheduler.stop();
  }

  /** Snapshot `id` of every origin that has one; BUSY, changing nothing, if any is open or being sent. */
  private async deleteGroup(id: string): Promise<void> {
    for (const h of this.views.values()) await h.assertDeletable(id);
    await this.store.groups.delete(id);
  }

  /** The group schedules act as a person at this control file would: refusals recorded alike. */
  private scheduleHost(): ScheduleHost {
    return {
      schedules: () => this.store.groups.schedules(),
      taken: (name) => this.store.groups.taken(name),
      create: (id, schedule) => this.recorded(() => this.store.groups.create(id, schedule)),
      delete: (id) => this.recorded(() => this.deleteGroup(id)),
      fail: (e) => this.record(e),
    };
  }

  private async recorded(work: () => Promise<void>): Promise<void> {
    try {
      await work();
      this.lastError = null;
    } catch (e) {
      throw this.record(e);
    }
  }

  private record(e: unknown): StoreError {
    this.lastError = faultOf(e);
    debug('error: %s', this.lastError.message);
    return StoreError.of(e);
  }
}
