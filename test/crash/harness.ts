// The crash harness: a random workload in rounds (writes to the origin and snapshots,
// creates, deletes, rollbacks, each round ending in a sync), every device write and
// flush recorded; then, for many cut points, the images a power loss could leave
// (un-flushed writes kept, lost or torn), opened and checked against the promise:
//   - the store opens, finishes its background work, and its space audit is clean;
//   - a snapshot whose create had returned exists (unless a delete of it was issued),
//     one whose delete had returned is gone, and no other appears;
//   - a snapshot not written since the last sync equals its content then; one created
//     since, and not written, equals its content at creation;
//   - origin chunks not written since the last sync hold what they held then.
import { MemoryDevice } from '../../src/block/memory-device';
import { Store } from '../../src/engine/store';
import { checkStore } from '../../src/engine/tools/check';
import { isStoreError } from '../../src/errors';
import { Random } from '../helpers/random';
import { Recorder } from './recorder';

const CHUNK = 4096;
const ORIGIN = 24 * CHUNK;
const COW = 3 << 20;

type Images = Map<string, Buffer>;

interface Round {
  start: number; // op index where the round began
  end: number; // op index once its closing sync returned
  before: Images; // every image at the round's start
  written: Set<string>; // snapshots written in the round
  originChunks: Set<number>; // origin chunks written in the round
  rollback: boolean;
  /** The round's last rollback: when it returned, the origin then, and the origin chunks written since. */
  rolledBack: { returned: number; content: Buffer; written: Set<number> } | null;
  created: Map<string, { returned: number; content: Buffer }>;
  deleteIssued: Map<string, number>;
  deleteReturned: Map<string, number>;
}

export interface CrashResult {
  cuts: number;
  violations: string[];
}

const copyImages = (m: Images): Images => new Map([...m].map(([k, v]) => [k, Buffer.from(v)]));

async function workload(seed: number, rounds: number, rollbacks: boolean) {
  const rnd = new Random(seed);
  const originBase = rnd.bytes(ORIGIN);
  const cowBase = Buffer.alloc(COW);
  await Store.format(new MemoryDevice(originBase), new MemoryDevice(cowBase), { chunkSize: CHUNK });
  const rec = new Recorder();
  const origin = rec.device(originBase, 'origin');
  const cow = rec.device(cowBase, 'cow');
  const store = await Store.open(origin, cow, { commitInterval: 0, cacheSize: 16 * 4096 });
  const model: Images = new Map([['origin', Buffer.from(originBase)]]);
  const log: Round[] = [];
  let names = 0;
  for (let r = 0; r < rounds; r++) {
    const round: Round = {
      start: rec.ops.length,
      end: 0,
      before: copyImages(model),
      written: new Set(),
      originChunks: new Set(),
      rollback: false,
      rolledBack: null,
      created: new Map(),
      deleteIssued: new Map(),
      deleteReturned: new Map(),
    };
    for (let n = 1 + rnd.int(6); n > 0; n--) {
      const live = [...model.keys()].filter((k) => k !== 'origin');
      // with `rollbacks`, one op in four is a rollback, and the writes after it meet its copying
      const x = rollbacks && rnd.next() < 0.25 ? 1 : rnd.next();
      try {
        if (x < 0.4) {
          const pos = rnd.int(ORIGIN - 1);
          const data = rnd.bytes(1 + rnd.int(Math.min(ORIGIN - pos, 2 * CHUNK)));
          for (let c = Math.floor(pos / CHUNK); c <= Math.floor((pos + data.length - 1) / CHUNK); c++) {
            round.originChunks.add(c);
            round.rolledBack?.written.add(c);
          }
          await store.volume().write('origin', data, pos);
          data.copy(model.get('origin')!, pos);
        } else if (x < 0.55 && live.length) {
          const id = rnd.pick(live);
          const pos = rnd.int(ORIGIN - 1);
          const data = rnd.bytes(1 + rnd.int(Math.min(ORIGIN - pos, 2 * CHUNK)));
          round.written.add(id);
          await store.volume().write(id, data, pos);
          data.copy(model.get(id)!, pos);
        } else if (x < 0.8) {
          const from = rnd.next() < 0.7 || !live.length ? 'origin' : rnd.pick(live);
          const id = `s${names++}`;
          await store.volume().create(id, from);
          const content = Buffer.from(model.get(from)!);
          model.set(id, content);
          round.created.set(id, { returned: rec.ops.length, content: Buffer.from(content) });
        } else if (x < 0.93 && live.length) {
          const id = rnd.pick(live);
          round.deleteIssued.set(id, rec.ops.length);
          await store.volume().delete(id);
          round.deleteReturned.set(id, rec.ops.length);
          model.delete(id);
        } else if (live.length) {
          const id = rnd.pick(live);
          round.rollback = true;
          await store.volume().rollback(id);
          model.set('origin', Buffer.from(model.get(id)!));
          round.rolledBack = { returned: rec.ops.length, content: Buffer.from(model.get(id)!), written: new Set() };
        }
      } catch (e) {
        if (!isStoreError(e, 'NO_SPACE') && !isStoreError(e, 'BUSY')) throw e;
      }
    }
    await store.volume().sync();
    round.end = rec.ops.length;
    log.push(round);
  }
  await store.idle();
  await store.close();
  return { rec, bases: [originBase, cowBase], log };
}

async function checkCut(images: Buffer[], cut: number, round: Round): Promise<string[]> {
  const problems: string[] = [];
  const say = (what: string) => problems.push(`cut ${cut}: ${what}`);
  let store: Store;
  try {
    store = await Store.open(new MemoryDevice(images[0]), new MemoryDevice(images[1]), { commitInterval: 0 });
  } catch (e) {
    return [`cut ${cut}: the store does not open: ${(e as Error).message}`];
  }
  try {
    await store.idle();
    const audit = await checkStore(store.internals);
    if (audit.length) say(`space audit: ${audit.slice(0, 3).join('; ')}`);
    const live = new Set(
      store
        .volume()
        .snapshots()
        .map((s) => s.id),
    );
    const read = async (id: string) => {
      const buf = Buffer.alloc(ORIGIN);
      await store.volume().read(id, buf, 0);
      return buf;
    };
    for (const [id, content] of round.before) {
      if (id === 'origin') continue;
      const deleteReturned = (round.deleteReturned.get(id) ?? Infinity) <= cut;
      const deleteIssued = (round.deleteIssued.get(id) ?? Infinity) < cut;
      if (deleteReturned && live.has(id)) say(`snapshot ${id} is back after its delete returned`);
      if (!deleteIssued && !live.has(id)) say(`snapshot ${id} is gone`);
      if (live.has(id) && !round.written.has(id) && !(await read(id)).equals(content)) say(`snapshot ${id} changed`);
    }
    for (const [id, made] of round.created) {
      const deleteIssued = (round.deleteIssued.get(id) ?? Infinity) < cut;
      if (made.returned <= cut && !deleteIssued && !live.has(id))
        say(`snapshot ${id} is missing after its create returned`);
      if (live.has(id) && !round.written.has(id) && !(await read(id)).equals(made.content)) {
        say(`snapshot ${id} differs from its content at creation`);
      }
    }
    for (const id of live) {
      if (!round.before.has(id) && !round.created.has(id)) say(`snapshot ${id} appeared from nowhere`);
    }
    const rolled = round.rolledBack;
    if (rolled && rolled.returned <= cut) {
      // the rollback is durable: what was not written since reads as the snapshot did, copied yet or not
      const origin = await read('origin');
      for (let c = 0; c * CHUNK < ORIGIN; c++) {
        if (rolled.written.has(c)) continue;
        if (!origin.subarray(c * CHUNK, (c + 1) * CHUNK).equals(rolled.content.subarray(c * CHUNK, (c + 1) * CHUNK))) {
          say(`origin chunk ${c} is not the rolled-back content`);
        }
      }
    }
    if (!round.rollback) {
      const origin = await read('origin');
      const was = round.before.get('origin')!;
      for (let c = 0; c * CHUNK < ORIGIN; c++) {
        if (round.originChunks.has(c)) continue;
        if (!origin.subarray(c * CHUNK, (c + 1) * CHUNK).equals(was.subarray(c * CHUNK, (c + 1) * CHUNK))) {
          say(`origin chunk ${c} changed though nothing wrote it`);
        }
      }
    }
  } catch (e) {
    say(`check failed: ${(e as Error).message}`);
  }
  await store.close().catch(() => undefined);
  return problems;
}

/** Run one seed's workload, then try `cuts` cut points spread over it. */
export async function runCrashSeed(
  seed: number,
  rounds: number,
  cuts: number,
  opts: { rollbacks?: boolean } = {},
): Promise<CrashResult> {
  const { rec, bases, log } = await workload(seed, rounds, opts.rollbacks ?? false);
  const rnd = new Random(seed * 7919 + 1);
  const total = log[log.length - 1].end;
  const points = [...new Set(Array.from({ length: cuts }, () => rnd.int(total) + 1))].sort((a, b) => a - b);
  const violations: string[] = [];
  for (const [cut, images] of rec.crashImages(bases, points, rnd)) {
    const round = log.find((r) => cut > r.start && cut <= r.end) ?? log[0];
    violations.push(...(await checkCut(images, cut, round)).map((v) => `seed ${seed} ${v}`));
  }
  return { cuts: points.length, violations };
}
