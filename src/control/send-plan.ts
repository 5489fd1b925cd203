// The text of a mount's send/<snapshot> and send/<base>..<snapshot> files: what a send
// through the mount consists of, made by the daemon from the metadata. `snapfuse send
// <mountpoint>` reads it, then reads the snapshot's bytes in those ranges from its image
// and writes the stream itself. Pure functions only.
//
//   send 1
//   store <uuid>
//   origin-size <bytes>
//   chunk-size <bytes>
//   snapshot <id> <uuid> <created, ISO 8601 UTC to the millisecond>
//   base <id> <uuid> <created>        ("base -" for a whole snapshot)
//   ranges <n>
//   <offset> <length>                 (n lines, ascending)
import { StoreError } from '../errors';
import { checkSnapshotId, NONE, quote } from './words';

export interface PlannedSnapshot {
  name: string;
  uuid: string; // 32 hex digits
  created: string; // ISO time, to the millisecond
}

export interface SendPlanText {
  header: {
    store: string;
    originSize: number;
    chunkSize: number;
    snapshot: PlannedSnapshot;
    base: PlannedSnapshot | null;
  };
  ranges: Array<{ offset: number; length: number }>;
}

const PLAN_VERSION = 1;
const UUID = /^[0-9a-f]{32}$/;

const bad = (why: string) => StoreError.invalid(`send plan: ${why}`);

function identityFields(s: PlannedSnapshot): string {
  checkSnapshotId(s.name);
  if (!UUID.test(s.uuid)) throw bad(`not a uuid: ${quote(s.uuid)}`);
  return `${s.name} ${s.uuid} ${s.created}`;
}

export function formatSendPlan(p: SendPlanText): string {
  const h = p.header;
  return (
    [
      `send ${PLAN_VERSION}`,
      `store ${h.store}`,
      `origin-size ${h.originSize}`,
      `chunk-size ${h.chunkSize}`,
      `snapshot ${identityFields(h.snapshot)}`,
      `base ${h.base ? identityFields(h.base) : NONE}`,
      `ranges ${p.ranges.length}`,
      ...p.ranges.map((r) => `${r.offset} ${r.length}`),
    ].join('\n') + '\n'
  );
}

/** Read a send plan back; INVALID_ARGUMENT saying what is wrong with it. */
export function parseSendPlan(text: string): SendPlanText {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  let next = 0;
  const field = (key: string): string[] => {
    const line = lines[next++];
    if (line === undefined || !line.startsWith(`${key} `)) throw bad(`expected a "${key}" line`);
    return line.slice(key.length + 1).split(' ');
  };
  const count = (text: string): number => {
    const n = /^(0|[1-9][0-9]*)$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(n)) throw bad(`not a count: ${quote(text)}`);
    return n;
  };
  const identity = (f: string[]): PlannedSnapshot => {
    const [name, uuid, created] = f;
    if (f.length !== 3 || !UUID.test(uuid) || Number.isNaN(new Date(created).getTime()))
      throw bad(`not a snapshot's identity: ${quote(f.join(' '))}`);
    return { name: checkSnapshotId(name), uuid, created };
  };
  const [version] = field('send');
  if (count(version) !== PLAN_VERSION) throw bad(`version ${quote(version)}: this snapfuse reads ${PLAN_VERSION}`);
  const [store] = field('store');
  if (!UUID.test(store)) throw bad(`not a store's uuid: ${quote(store)}`);
  const originSize = count(field('origin-size')[0]);
  const chunkSize = count(field('chunk-size')[0]);
  const snapshot = identity(field('snapshot'));
  const baseFields = field('base');
  const base = baseFields.length === 1 && baseFields[0] === NONE ? null : identity(baseFields);
  const n = count(field('ranges')[0]);
  if (lines.length !== next + n) throw bad(`${n} ranges announced, ${lines.length - next} given`);
  const ranges = lines.slice(next).map((line) => {
    const f = line.split(' ');
    if (f.length !== 2) throw bad(`not a range: ${quote(line)}`);
    const [offset, length] = f.map(count);
    if (length === 0 || offset + length > originSize) throw bad(`a range outside the image: ${quote(line)}`);
    return { offset, length };
  });
  return { header: { store, originSize, chunkSize, snapshot, base }, ranges };
}
