// The status read from the root `control` of a mount of named origins: the store as a
// whole, one fact per line in a fixed order (new lines only appended), made by the mount
// and read back by the CLI. Pure functions only.
//
//   origins <n>
//   origin <name> <size> <snapshots>      (n lines)
//   store <used> <total> <free>
//   reclaim <n%|->
//   error <errno> <message> | error -
//   daemon <pid|->
//   schedules <n>                         (of every origin at once)
//   schedule <name> <interval> <keep> <next>   (n lines)
//   when-full <refuse|retire|invalidate>
//   work <copy-outs> <commits> <faults>   (of the whole store, since it opened)
import { StoreError } from '../errors';
import { NONE, quote } from './words';
import {
  byteCount,
  errorLine,
  percent,
  readCount,
  readError,
  readPercent,
  readScheduleLine,
  ScheduleStatus,
  scheduleLine,
  whenFullLine,
  readWorkLine,
  WorkStatus,
  workLine,
} from './status';

export interface StoreStatusInput {
  origins: ReadonlyArray<{ name: string; size: number; snapshots: number }>;
  usedBytes: number;
  totalBytes: number;
  freeBytes: number;
  reclaim: number | null;
  lastError: { errno: string; message: string } | null;
  daemon: number | null;
  schedules: readonly ScheduleStatus[];
  whenFull: string | null;
  work?: WorkStatus;
}

const ORIGIN_WORD = /^[a-z0-9][a-z0-9._-]{0,31}$/;

export function formatStoreStatus(s: StoreStatusInput): string {
  const lines = [
    `origins ${s.origins.length}`,
    ...s.origins.map((o) => {
      if (!ORIGIN_WORD.test(o.name)) throw StoreError.invalid(`status: not an origin name: ${quote(o.name)}`);
      return `origin ${o.name} ${byteCount('origin size', o.size)} ${byteCount('snapshots', o.snapshots)}`;
    }),
    `store ${byteCount('used', s.usedBytes)} ${byteCount('total', s.totalBytes)} ${byteCount('free', s.freeBytes)}`,
    `reclaim ${s.reclaim === null ? NONE : percent(s.reclaim)}`,
    errorLine(s.lastError),
    `daemon ${s.daemon === null ? NONE : byteCount('daemon pid', s.daemon)}`,
    `schedules ${s.schedules.length}`,
    ...s.schedules.map(scheduleLine),
    whenFullLine(s.whenFull),
    ...(s.work ? [workLine(s.work)] : []),
  ];
  return lines.map((l) => `${l}\n`).join('');
}

/** Read the root status back; INVALID_ARGUMENT on text it cannot read. */
export function parseStoreStatus(text: string): StoreStatusInput {
  const lines = text.split('\n');
  let next = 0;
  const take = (key: string): string => {
    const line = lines[next++];
    if (line === undefined || (line !== key && !line.startsWith(`${key} `))) {
      throw StoreError.invalid(`store status: expected a "${key}" line`);
    }
    return line.slice(key.length + 1);
  };
  const n = readCount(take('origins'));
  const origins = [];
  for (let i = 0; i < n; i++) {
    const [name, size, snapshots] = take('origin').split(' ');
    if (!ORIGIN_WORD.test(name)) throw StoreError.invalid(`store status: not an origin name: ${quote(name)}`);
    origins.push({ name, size: readCount(size ?? ''), snapshots: readCount(snapshots ?? '') });
  }
  const [used, total, free] = take('store').split(' ').map(readCount);
  const reclaim = take('reclaim');
  const lastError = readError(take('error'));
  const daemon = take('daemon');
  const schedules: ScheduleStatus[] = [];
  // an older daemon's status ends at its daemon line
  const count = lines[next] ? readCount(take('schedules')) : 0;
  for (let i = 0; i < count; i++) schedules.push(readScheduleLine(take('schedule').split(' ')));
  const whenFull = lines[next] ? take('when-full') : NONE;
  const work = lines[next] ? readWorkLine(take('work').split(' ')) : undefined;
  return {
    ...(work ? { work } : {}),
    origins,
    usedBytes: used,
    totalBytes: total,
    freeBytes: free,
    reclaim: reclaim === NONE ? null : readPercent(reclaim),
    lastError,
    daemon: daemon === NONE ? null : readCount(daemon),
    schedules,
    whenFull: whenFull === NONE ? null : whenFull,
  };
}
