// The status read from the control file (DESIGN.md section 2): one fact per line in a
// fixed order, made by the mount and read back by the CLI. Pure functions only.

import { StoreError } from '../errors';
import { formatInterval, parseInterval, SCHEDULE_NAME } from '../engine/background/schedule';
import { isSnapshotId, NONE, ORIGIN, printable, quote } from './words';

export interface SnapshotStatus {
  id: string;
  /** A snapshot id, `origin`, or `-` when the parent is gone. */
  parent: string;
  created: Date;
  exclusiveBytes: number | null;
  state: 'valid' | 'invalid';
  /** Bytes it reads from the COW that another snapshot reads too. */
  sharedBytes: number | null;
  /** The schedule that took it; null if a person did. */
  schedule: string | null;
}

/** What the requests to one origin's files did since the mount. */
export interface IoStatus {
  originRead: number; // bytes
  originWritten: number;
  snapshotRead: number;
  snapshotWritten: number;
  refusedWrites: number; // image writes answered with an error
  errors: number; // requests and commands answered with an error
}

/** The store's work since it opened: copy-outs (of this origin, or of all at the root), commits, background failures. */
export interface WorkStatus {
  copyOuts: number;
  commits: number;
  faults: number;
}

/** The store's COW data in bytes: all of it, held by one snapshot, by several, by none. */
export interface SpaceStatus {
  data: number;
  exclusive: number;
  shared: number;
  unread: number;
}

export interface ScheduleStatus {
  name: string;
  every: number; // seconds
  keep: number;
  next: Date;
}

export interface StatusInput {
  originSize: number;
  chunkSize: number;
  totalBytes: number;
  usedBytes: number;
  freeBytes: number;
  snapshots: readonly SnapshotStatus[];
  /** Fraction done (0..1) of the running reclaim; null when none runs. */
  reclaim: number | null;
  rollback: { id: string; done: number } | null;
  lastError: { errno: string; message: string } | null;
  space: SpaceStatus | null;
  /** Fraction done (0..1) while the space figures are counted again; null when exact. */
  accounting: number | null;
  schedules: readonly ScheduleStatus[];
  /** The pid of the daemon serving the mount (what `snapfuse unmount` waits for); absent offline. */
  daemon?: number | null;
  /** The sends through the mount under way (send/ files open): a snapshot and its base, if any. */
  sends?: ReadonlyArray<{ snapshot: string; base: string | null }>;
  /** The receives into the mount kept cut or under way: the snapshot, the image bytes that arrived, the resume token. */
  receives?: ReadonlyArray<{ name: string; bytes: number; token: string }>;
  /** What an origin write that finds the store full does: refuse, retire or invalidate. */
  whenFull?: string | null;
  io?: IoStatus;
  work?: WorkStatus;
}

// ---------------------------------------------------------------------------
// formatting

export function byteCount(name: string, n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) throw StoreError.invalid(`status: ${name} is not a byte count: ${n}`);
  return String(n);
}

/** 0..1 → integer percent, floored. The epsilon keeps p/100 at p despite float error. */
export function percent(fraction: number): string {
  if (Number.isNaN(fraction)) throw StoreError.invalid('status: progress is not a number');
  const p = Math.floor(fraction * 100 + 1e-9);
  return `${Math.min(100, Math.max(0, p))}%`;
}

/** ISO 8601 UTC to the second: 2026-11-22T04:40:00Z. */
function timestamp(d: Date): string {
  if (Number.isNaN(d.getTime())) throw StoreError.invalid('status: invalid creation time');
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function statusId(id: string): string {
  if (!isSnapshotId(id)) throw StoreError.invalid(`status: invalid snapshot id ${quote(id)}`);
  return id;
}

function parentId(parent: string): string {
  return parent === ORIGIN || parent === NONE ? parent : statusId(parent);
}

/** A snapshot's line of the status. */
export function snapshotLine(s: SnapshotStatus): string {
  return snapshotLineFrame(s).line(s.exclusiveBytes, s.state, s.sharedBytes);
}

/**
 * A snapshot's line made from the facts that stay (id, parent, creation, schedule), to
 * which the changing ones are added: with thousands of snapshots whose space figures all
 * move at each copy-out, only that part is made again.
 */
export function snapshotLineFrame(s: Pick<SnapshotStatus, 'id' | 'parent' | 'created' | 'schedule'>): {
  line(exclusiveBytes: number | null, state: SnapshotStatus['state'], sharedBytes: number | null): string;
} {
  const head = `snapshot ${statusId(s.id)} ${parentId(s.parent)} ${timestamp(s.created)} `;
  const tail = ` ${s.schedule === null ? NONE : scheduleName(s.schedule)}`;
  return {
    line: (exclusiveBytes, state, sharedBytes) => {
      const exclusive = exclusiveBytes === null ? NONE : byteCount('exclusive bytes', exclusiveBytes);
      const shared = sharedBytes === null ? NONE : byteCount('shared bytes', sharedBytes);
      return `${head}${exclusive} ${state} ${shared}${tail}`;
    },
  };
}

function scheduleName(name: string): string {
  if (!SCHEDULE_NAME.test(name)) throw StoreError.invalid(`status: invalid schedule name ${quote(name)}`);
  return name;
}

const ERRNO_WORD = /^[A-Za-z0-9_]+$/;
const TOKEN_WORD = /^[A-Za-z0-9_-]+$/;

function token(text: string): string {
  if (!TOKEN_WORD.test(text)) throw StoreError.invalid(`status: not a resume token: ${quote(text)}`);
  return text;
}

/** `when-full <policy>`, or `when-full -` where none is known. */
export function whenFullLine(policy: string | null | undefined): string {
  if (policy && !/^[a-z]+$/.test(policy)) throw StoreError.invalid(`status: not a policy: ${quote(policy)}`);
  return `when-full ${policy || NONE}`;
}

/** `schedule <name> <interval> <keep> <next>`: a schedule and when it takes its next snapshot. */
export function scheduleLine(x: ScheduleStatus): string {
  return `schedule ${scheduleName(x.name)} ${formatInterval(x.every)} ${x.keep} ${timestamp(x.next)}`;
}

/** A schedule line's fields after its key, read back. */
export function readScheduleLine(fields: string[]): ScheduleStatus {
  const [name, every, keep, next] = fields;
  if (next === undefined) throw StoreError.invalid('status: too few fields in a schedule line');
  return { name: scheduleName(name), every: parseInterval(every), keep: readCount(keep), next: readTimestamp(next) };
}

export function errorLine(e: StatusInput['lastError']): string {
  if (e === null) return `error ${NONE}`;
  if (!ERRNO_WORD.test(e.errno)) throw StoreError.invalid(`status: invalid errno ${quote(e.errno)}`);
  const message = printable(e.message, ' ');
  return message === '' ? `error ${e.errno}` : `error ${e.errno} ${message}`;
}

/** The text read from the control file: one fact per line, fixed order (DESIGN.md section 2). */
export function formatStatus(s: StatusInput): string {
  const { head, tail } = statusFrame(s, s.snapshots.length);
  return head + s.snapshots.map((x) => `${snapshotLine(x)}\n`).join('') + tail;
}

/**
 * The status's lines before and after its `count` snapshot lines: the mount keeps those
 * lines made (thousands of them) and puts this frame around them.
 */
export function statusFrame(s: Omit<StatusInput, 'snapshots'>, count: number): { head: string; tail: string } {
  const rollback = s.rollback === null ? `${NONE} ${NONE}` : `${statusId(s.rollback.id)} ${percent(s.rollback.done)}`;
  const lines = (ls: string[]) => ls.map((l) => `${l}\n`).join('');
  return {
    head: lines([
      `origin-size ${byteCount('origin size', s.originSize)}`,
      `chunk-size ${byteCount('chunk size', s.chunkSize)}`,
      `store ${byteCount('used', s.usedBytes)} ${byteCount('total', s.totalBytes)} ${byteCount('free', s.freeBytes)}`,
      `snapshots ${count}`,
    ]),
    tail: lines([
      `reclaim ${s.reclaim === null ? NONE : percent(s.reclaim)}`,
      `rollback ${rollback}`,
      errorLine(s.lastError),
      s.space === null
        ? `space ${NONE}`
        : `space ${[s.space.data, s.space.exclusive, s.space.shared, s.space.unread].map((n) => byteCount('space', n)).join(' ')}`,
      `accounting ${s.accounting === null ? NONE : percent(s.accounting)}`,
      `schedules ${s.schedules.length}`,
      ...s.schedules.map(scheduleLine),
      `daemon ${s.daemon ? byteCount('daemon pid', s.daemon) : NONE}`,
      `sends ${(s.sends ?? []).length}`,
      ...(s.sends ?? []).map((x) => `sending ${statusId(x.snapshot)} ${x.base === null ? NONE : statusId(x.base)}`),
      `receives ${(s.receives ?? []).length}`,
      ...(s.receives ?? []).map(
        (x) => `receiving ${statusId(x.name)} ${byteCount('received', x.bytes)} ${token(x.token)}`,
      ),
      whenFullLine(s.whenFull),
      ...(s.io ? [ioLine(s.io)] : []),
      ...(s.work ? [workLine(s.work)] : []),
    ]),
  };
}

const IO_FIELDS = ['originRead', 'originWritten', 'snapshotRead', 'snapshotWritten', 'refusedWrites', 'errors'] as const;
const WORK_FIELDS = ['copyOuts', 'commits', 'faults'] as const;

/** `io <origin-read> <origin-written> <snapshot-read> <snapshot-written> <refused-writes> <errors>` */
export function ioLine(x: IoStatus): string {
  return `io ${IO_FIELDS.map((f) => byteCount(f, x[f])).join(' ')}`;
}

/** `work <copy-outs> <commits> <faults>` */
export function workLine(x: WorkStatus): string {
  return `work ${WORK_FIELDS.map((f) => byteCount(f, x[f])).join(' ')}`;
}

/** An io line's fields after its key, read back. */
export function readIoLine(fields: string[]): IoStatus {
  return readNamed(IO_FIELDS, fields);
}

/** A work line's fields after its key, read back. */
export function readWorkLine(fields: string[]): WorkStatus {
  return readNamed(WORK_FIELDS, fields);
}

function readNamed<K extends string>(names: readonly K[], fields: string[]): Record<K, number> {
  if (fields.length < names.length) throw StoreError.invalid('status: too few fields in a counters line');
  return Object.fromEntries(names.map((n, i) => [n, readCount(fields[i])])) as Record<K, number>;
}

// ---------------------------------------------------------------------------
// parsing (for the CLI). Strict about known fields, tolerant of fields a newer
// daemon appends to a line and of lines it appends at the end.

/** Reads the status line by line; every line must start with the expected key. */
class StatusReader {
  private next = 0;

  constructor(private readonly lines: string[]) {}

  /** The fields after `key` on the next line (at least `min` of them). */
  fields(key: string, min: number): string[] {
    const line = this.take(key);
    const fields = line.split(' ').slice(1);
    if (fields.length < min) throw StoreError.invalid(`status: too few fields in ${quote(line)}`);
    return fields;
  }

  /** The fields after `key` on the next line, or null if the status ends before it (an older daemon's). */
  optional(key: string, min: number): string[] | null {
    return this.next < this.lines.length ? this.fields(key, min) : null;
  }

  /** The rest of the next line after `key ` (for free text). */
  rest(key: string): string {
    return this.take(key).slice(key.length + 1);
  }

  private take(key: string): string {
    const line = this.lines[this.next];
    if (line === undefined) throw StoreError.invalid(`status: missing "${key}" line`);
    if (line !== key && !line.startsWith(`${key} `))
      throw StoreError.invalid(`status: expected "${key}" line, got ${quote(line)}`);
    this.next++;
    return line;
  }
}

export function readCount(text: string): number {
  const n = /^(0|[1-9][0-9]*)$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n)) throw StoreError.invalid(`status: not a byte count: ${quote(text)}`);
  return n;
}

export function readPercent(text: string): number {
  const m = /^(100|[1-9]?[0-9])%$/.exec(text);
  if (m === null) throw StoreError.invalid(`status: not a percentage: ${quote(text)}`);
  return Number(m[1]) / 100;
}

function readTimestamp(text: string): Date {
  const d = new Date(text);
  // Only our own format, exactly: reject anything Date would guess at.
  if (Number.isNaN(d.getTime()) || timestamp(d) !== text)
    throw StoreError.invalid(`status: not a UTC time: ${quote(text)}`);
  return d;
}

function readId(text: string): string {
  if (!isSnapshotId(text)) throw StoreError.invalid(`status: not a snapshot id: ${quote(text)}`);
  return text;
}

function readSnapshot(f: string[]): SnapshotStatus {
  const [id, parent, created, exclusive, state, shared, schedule] = f;
  if (state !== 'valid' && state !== 'invalid')
    throw StoreError.invalid(`status: unknown snapshot state ${quote(state)}`);
  return {
    id: readId(id),
    parent: parent === ORIGIN || parent === NONE ? parent : readId(parent),
    created: readTimestamp(created),
    exclusiveBytes: exclusive === NONE ? null : readCount(exclusive),
    state,
    sharedBytes: shared === undefined || shared === NONE ? null : readCount(shared),
    schedule: schedule === undefined || schedule === NONE ? null : schedule,
  };
}

function readRollback(f: string[]): StatusInput['rollback'] {
  if (f[0] === NONE && f[1] === NONE) return null;
  return { id: readId(f[0]), done: readPercent(f[1]) };
}

export function readError(rest: string): StatusInput['lastError'] {
  if (rest === NONE) return null;
  const space = rest.indexOf(' ');
  const errno = space < 0 ? rest : rest.slice(0, space);
  if (!ERRNO_WORD.test(errno)) throw StoreError.invalid(`status: invalid errno ${quote(errno)}`);
  return { errno, message: space < 0 ? '' : rest.slice(space + 1) };
}

/** Read the control file's status back into its parts. Throws INVALID_ARGUMENT on text it cannot read. */
export function parseStatus(text: string): StatusInput {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const r = new StatusReader(lines);
  const originSize = readCount(r.fields('origin-size', 1)[0]);
  const chunkSize = readCount(r.fields('chunk-size', 1)[0]);
  const [used, total, free] = r.fields('store', 3).map(readCount);
  const count = readCount(r.fields('snapshots', 1)[0]);
  const snapshots: SnapshotStatus[] = [];
  for (let i = 0; i < count; i++) snapshots.push(readSnapshot(r.fields('snapshot', 5)));
  const reclaim = r.fields('reclaim', 1)[0];
  return {
    originSize,
    chunkSize,
    totalBytes: total,
    usedBytes: used,
    freeBytes: free,
    snapshots,
    reclaim: reclaim === NONE ? null : readPercent(reclaim),
    rollback: readRollback(r.fields('rollback', 2)),
    lastError: readError(r.rest('error')),
    ...readSpaceAndSchedules(r),
  };
}

function readSpaceAndSchedules(
  r: StatusReader,
): Pick<
  StatusInput,
  'space' | 'accounting' | 'schedules' | 'daemon' | 'sends' | 'receives' | 'whenFull' | 'io' | 'work'
> {
  const space = r.optional('space', 1);
  const accounting = r.optional('accounting', 1);
  const count = r.optional('schedules', 1);
  const schedules: ScheduleStatus[] = [];
  for (let i = 0; i < (count ? readCount(count[0]) : 0); i++) {
    schedules.push(readScheduleLine(r.fields('schedule', 4)));
  }
  const [data, exclusive, shared, unread] = space && space[0] !== NONE ? space.map(readCount) : [];
  const daemon = r.optional('daemon', 1);
  const sendCount = r.optional('sends', 1);
  const sends = [];
  for (let i = 0; i < (sendCount ? readCount(sendCount[0]) : 0); i++) {
    const [snapshot, base] = r.fields('sending', 2);
    sends.push({ snapshot: readId(snapshot), base: base === NONE ? null : readId(base) });
  }
  const receiveCount = r.optional('receives', 1);
  const receives = [];
  for (let i = 0; i < (receiveCount ? readCount(receiveCount[0]) : 0); i++) {
    const [name, bytes, resume] = r.fields('receiving', 3);
    receives.push({ name: readId(name), bytes: readCount(bytes), token: token(resume) });
  }
  const whenFull = r.optional('when-full', 1);
  const io = r.optional('io', IO_FIELDS.length);
  const work = r.optional('work', WORK_FIELDS.length);
  return {
    ...(io ? { io: readIoLine(io) } : {}),
    ...(work ? { work: readWorkLine(work) } : {}),
    whenFull: whenFull && whenFull[0] !== NONE ? whenFull[0] : null,
    daemon: daemon && daemon[0] !== NONE ? readCount(daemon[0]) : null,
    sends,
    receives,
    space: data === undefined ? null : { data, exclusive, shared, unread },
    accounting: accounting && accounting[0] !== NONE ? readPercent(accounting[0]) : null,
    schedules,
  };
}
