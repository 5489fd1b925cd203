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
import { StoreError } from '../errors';
import { NONE, printable, quote } from './words';

export interface StoreStatusInput {
  origins: ReadonlyArray<{ name: string; size: number; snapshots: number }>;
  usedBytes: number;
  totalBytes: number;
  freeBytes: number;
  reclaim: number | null;
  lastError: { errno: string; message: string } | null;
  daemon: number | null;
}

const ORIGIN_WORD = /^[a-z0-9][a-z0-9._-]{0,31}$/;

export function formatStoreStatus(s: StoreStatusInput): string {
  const pct = (f: number) => `${Math.min(100, Math.max(0, Math.floor(f * 100 + 1e-9)))}%`;
  const lines = [
    `origins ${s.origins.length}`,
    ...s.origins.map((o) => {
      if (!ORIGIN_WORD.test(o.name)) throw StoreError.invalid(`status: not an origin name: ${quote(o.name)}`);
      return `origin ${o.name} ${o.size} ${o.snapshots}`;
    }),
    `store ${s.usedBytes} ${s.totalBytes} ${s.freeBytes}`,
    `reclaim ${s.reclaim === null ? NONE : pct(s.reclaim)}`,
    s.lastError === null
      ? `error ${NONE}`
      : `error ${s.lastError.errno} ${printable(s.lastError.message, ' ')}`.trimEnd(),
    `daemon ${s.daemon ?? NONE}`,
  ];
  return lines.map((l) => `${l}\n`).join('');
}

/** Read the root status back; INVALID_ARGUMENT on text it cannot read. */
export function parseStoreStatus(text: string): StoreStatusInput {
  const lines = text.split('\n');
  let next = 0;
  const take = (key: string): string[] => {
    const line = lines[next++];
    if (line === undefined || (line !== key && !line.startsWith(`${key} `))) {
      throw StoreError.invalid(`store status: expected a "${key}" line`);
    }
    return line.split(' ').slice(1);
  };
  const count = (t: string | undefined): number => {
    const n = t !== undefined && /^(0|[1-9][0-9]*)$/.test(t) ? Number(t) : NaN;
    if (!Number.isSafeInteger(n)) throw StoreError.invalid(`store status: not a count: ${quote(String(t))}`);
    return n;
  };
  const n = count(take('origins')[0]);
  const origins = [];
  for (let i = 0; i < n; i++) {
    const [name, size, snapshots] = take('origin');
    if (!ORIGIN_WORD.test(name ?? ''))
      throw StoreError.invalid(`store status: not an origin name: ${quote(String(name))}`);
    origins.push({ name, size: count(size), snapshots: count(snapshots) });
  }
  const [used, total, free] = take('store').map(count);
  const reclaim = take('reclaim')[0];
  const err = take('error');
  const daemon = take('daemon')[0];
  return {
    origins,
    usedBytes: used,
    totalBytes: total,
    freeBytes: free,
    reclaim: reclaim === NONE ? null : count(reclaim?.replace(/%$/, '')) / 100,
    lastError: err[0] === NONE ? null : { errno: err[0], message: err.slice(1).join(' ') },
    daemon: daemon === NONE ? null : count(daemon),
  };
}
