// Rolling snapshots: each schedule (a name, an interval, how many to keep) takes a
// snapshot named `<name>-YYYYMMDD-HHMMSS` (UTC, so names sort by time) when its interval
// has passed since its newest one, then deletes its oldest beyond `keep`. Its snapshots
// carry the schedule's name in their version record: retention touches those only,
// never a snapshot a person made. Schedules live in the superblock and the time of the
// last snapshot is the newest one's own, so both survive a remount; one missed while
// unmounted is taken at the next mount.
import createDebug from 'debug';
import { StoreError } from '../../errors';
import { MAX_ORIGIN_SCHEDULES, MAX_SCHEDULES, ScheduleRecord } from '../../format/superblock';

const debug = createDebug('snapfuse:schedule');

export const SCHEDULE_NAME = /^[a-z][a-z0-9]{0,15}$/;
const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
const MAX_EVERY = 366 * 86400;
export const MAX_KEEP = 100_000;

/** "30s", "5m", "1h", "1d", "2w" -> seconds. */
export function parseInterval(text: string): number {
  const m = /^([1-9][0-9]{0,8})([smhdw])$/.exec(text);
  const seconds = m ? Number(m[1]) * UNITS[m[2]] : NaN;
  if (!(seconds <= MAX_EVERY)) {
    throw StoreError.invalid(`bad interval "${text.slice(0, 20)}": use a number and s, m, h, d or w (at most 366d)`);
  }
  return seconds;
}

/** Seconds -> the largest unit that divides them: 300 -> "5m". */
export function formatInterval(seconds: number): string {
  for (const u of ['w', 'd', 'h', 'm']) if (seconds % UNITS[u] === 0) return `${seconds / UNITS[u]}${u}`;
  return `${seconds}s`;
}

/** A schedule as given by a person: checked and copied, or INVALID_ARGUMENT saying why. */
export function checkSchedule(r: ScheduleRecord): ScheduleRecord {
  if (!SCHEDULE_NAME.test(r.name)) {
    throw StoreError.invalid(`bad schedule name "${r.name.slice(0, 20)}": use 1-16 of a-z 0-9, starting with a letter`);
  }
  if (!Number.isInteger(r.keep) || r.keep < 1 || r.keep > MAX_KEEP) {
    throw StoreError.invalid(`bad count to keep ${r.keep}: from 1 to ${MAX_KEEP}`);
  }
  if (!Number.isInteger(r.every) || r.every < 1 || r.every > MAX_EVERY) {
    throw StoreError.invalid(`bad interval of ${r.every} s: from 1 s to 366 days`);
  }
  // the record alone, whatever else the caller's object held
  return { name: r.name, every: r.every, keep: r.keep, origin: r.origin };
}

/** The origin of a schedule that takes a snapshot of every origin at once (groups.ts). */
export const EVERY_ORIGIN = 0xffff;

/**
 * The store's schedules after setting (or replacing) `r` of its origin; at most 8 per
 * origin. A name is one schedule's: a schedule of every origin replaces the origins'
 * own of that name (their snapshots become its to retire), and an origin cannot take
 * the name of one of every origin's.
 */
export function withSchedule(list: readonly ScheduleRecord[], r: ScheduleRecord): ScheduleRecord[] {
  const group = r.origin === EVERY_ORIGIN;
  if (!group && list.some((s) => s.name === r.name && s.origin === EVERY_ORIGIN)) {
    throw StoreError.invalid(`schedule ${r.name} takes snapshots of every origin: change it at the root's control`);
  }
  const out = list.filter((s) => s.name !== r.name || (s.origin !== r.origin && !group));
  if (out.filter((s) => s.origin === r.origin).length >= MAX_ORIGIN_SCHEDULES) {
    throw StoreError.invalid(`at most ${MAX_ORIGIN_SCHEDULES} schedules`);
  }
  if (out.length >= MAX_SCHEDULES) throw StoreError.invalid(`at most ${MAX_SCHEDULES} schedules in a store`);
  return [...out, checkSchedule(r)];
}

/** `<name>-YYYYMMDD-HHMMSS`, UTC. */
export function scheduledName(name: string, at: Date): string {
  const iso = at.toISOString(); // 2026-11-22T04:40:00.000Z
  return `${name}-${iso.slice(0, 10).replace(/-/g, '')}-${iso.slice(11, 19).replace(/:/g, '')}`;
}

/** What the scheduler needs of the store: its schedules and snapshots, and how to act. */
export interface ScheduleHost {
  schedules(): readonly ScheduleRecord[];
  /** Snapshots taken by schedule `name`, oldest first. */
  taken(name: string): ReadonlyArray<{ id: string; created: Date }>;
  create(id: string, schedule: string): Promise<void>;
  delete(id: string): Promise<void>;
  /** A turn failed outside its creates and deletes (which report their own refusals). */
  fail(e: unknown): void;
}

export class Scheduler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly host: ScheduleHost,
    private readonly now: () => number = Date.now,
  ) {}

  /** Look now, and again whenever the next schedule is due. Call again after a change. */
  wake(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.running) return; // it sets the next timer when it ends
    this.running = this.tick()
      .catch((e: unknown) => this.host.fail(e))
      .finally(() => {
        this.running = null;
        this.arm();
      });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** When schedule `s` is due next (ms since the epoch). */
  due(s: ScheduleRecord): number {
    const last = this.host.taken(s.name).at(-1);
    return last ? last.created.getTime() + s.every * 1000 : this.now();
  }

  private arm(): void {
    if (this.stopped) return;
    const list = this.host.schedules();
    if (list.length === 0) return;
    const next = Math.min(...list.map((s) => this.due(s)));
    // at least a second on: a snapshot that failed is tried again, not in a loop
    const wait = Math.min(2 ** 31 - 1, Math.max(1000, next - this.now()));
    this.timer = setTimeout(() => this.wake(), wait);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    for (const s of this.host.schedules()) {
      if (this.stopped) return;
      const now = this.now();
      if (this.due(s) <= now) {
        const id = scheduledName(s.name, new Date(now));
        await this.host.create(id, s.name).then(
          () => debug('%s: took %s', s.name, id),
          (e: Error) => debug('%s: could not take %s: %s', s.name, id, e.message),
        );
      }
      const taken = this.host.taken(s.name);
      for (const old of taken.slice(0, Math.max(0, taken.length - s.keep))) {
        await this.host.delete(old.id).then(
          () => debug('%s: retired %s', s.name, old.id),
          (e: Error) => debug('%s: could not retire %s: %s', s.name, old.id, e.message),
        );
      }
    }
  }
}
